// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/engine.h"

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "types/validate.h"

namespace tokenledger {
namespace {

// Ledger invariants stay checked in release builds: a violated one means memory no longer
// mirrors the store, and serving on would spread the damage.
#define TL_INVARIANT(cond)                                                                      \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "tokenledger invariant violated at %s:%d: %s\n", __FILE__, __LINE__, \
                   #cond);                                                                      \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)

absl::Status AccountNotFound(absl::string_view account_id) {
  return absl::NotFoundError(absl::StrCat("account_id: account '", account_id, "' not found"));
}

absl::Status Overflow(absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": would overflow an account's 64-bit totals"));
}

bool FitsAdd(int64_t a, int64_t b, int64_t c) {
  int64_t s;
  return CheckedAdd(a, b, s) && CheckedAdd(s, c, s);
}

// Whether `amount` more may be reserved or spent on `a` without passing its budget.
bool Affordable(const AccountState& a, int64_t amount) {
  const __int128 room = static_cast<__int128>(a.Available()) + a.policy.overdraft_limit;
  return room >= amount;
}

int64_t SaturatedSub(int64_t a, int64_t b) {
  int64_t out;
  if (CheckedSub(a, b, out)) return out;
  return b > 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

int64_t SaturatedAdd(int64_t a, int64_t b) {
  int64_t out;
  if (CheckedAdd(a, b, out)) return out;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

}  // namespace

// Answers decided under a tenant lock, given once the lock is released: declared before the
// lock, its destructor runs after the lock's. Callbacks may call back into the Ledger.
class DeferredAnswers {
 public:
  DeferredAnswers() = default;
  DeferredAnswers(const DeferredAnswers&) = delete;
  DeferredAnswers& operator=(const DeferredAnswers&) = delete;
  ~DeferredAnswers() {
    for (auto& [cb, r] : answers_) std::move(cb)(std::move(r));
  }
  void Answer(ResultCallback cb, absl::StatusOr<OpResult> r) {
    answers_.emplace_back(std::move(cb), std::move(r));
  }

 private:
  std::vector<std::pair<ResultCallback, absl::StatusOr<OpResult>>> answers_;
};

CalendarWindows WindowsAt(const absl::TimeZone& tz, absl::Time at) {
  const absl::CivilSecond cs = absl::ToCivilSecond(at, tz);
  const absl::CivilMonth month(cs);
  const absl::CivilDay day(cs);
  return CalendarWindows{absl::ToUnixMicros(absl::FromCivil(month, tz)),
                         absl::ToUnixMicros(absl::FromCivil(month + 1, tz)),
                         absl::ToUnixMicros(absl::FromCivil(day, tz)),
                         absl::ToUnixMicros(absl::FromCivil(day + 1, tz))};
}

// The tenant's windows at `now_us`, from the cache when it still covers `now_us`.
static CalendarWindows CurrentWindows(const TenantState& t, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  if (now_us >= t.windows.day_start_us && now_us < t.windows.day_end_us) return t.windows;
  return WindowsAt(t.tz, absl::FromUnixMicros(now_us));
}

// Moves the account's (and its team's) usage sums to the windows of `now_us`.
static void Roll(TenantState& t, AccountState& a, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  if (now_us < t.windows.day_start_us || now_us >= t.windows.day_end_us) {
    t.windows = WindowsAt(t.tz, absl::FromUnixMicros(now_us));
  }
  const CalendarWindows& w = t.windows;
  if (a.window_period_us != w.period_start_us) {
    a.window_period_us = w.period_start_us;
    a.period_spent = 0;
  }
  if (a.window_day_us != w.day_start_us) {
    a.window_day_us = w.day_start_us;
    a.day_spent = 0;
  }
  if (!a.team_id.empty()) {
    auto tm = t.teams.find(a.team_id);
    if (tm != t.teams.end() && tm->second.window_period_us != w.period_start_us) {
      tm->second.window_period_us = w.period_start_us;
      tm->second.period_spent = 0;
    }
  }
}

// Changes an account's open holds, and its team's.
static void AddHeld(TenantState& t, AccountState& a, int64_t delta)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  a.held += delta;
  if (a.team_id.empty()) return;
  auto tm = t.teams.find(a.team_id);
  if (tm != t.teams.end()) tm->second.held += delta;
}

// Counts committed usage into the account's and its team's period and day sums.
static void CountUsage(TenantState& t, AccountState& a, int64_t amount, int64_t at_us,
                       int64_t now_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  Roll(t, a, now_us);
  if (at_us >= a.window_period_us) {
    a.period_spent = SaturatedAdd(a.period_spent, amount);
    auto tm = a.team_id.empty() ? t.teams.end() : t.teams.find(a.team_id);
    if (tm != t.teams.end())
      tm->second.period_spent = SaturatedAdd(tm->second.period_spent, amount);
  }
  if (at_us >= a.window_day_us) a.day_spent = SaturatedAdd(a.day_spent, amount);
}

// Whether a new reservation of `amount` is allowed, and if not why.
static DenyReason Decide(TenantState& t, AccountState& a, int64_t amount, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  if (a.status != AccountStatus::kActive) return DenyReason::kAccountSuspended;
  if (!Affordable(a, amount)) return DenyReason::kInsufficientBudget;
  Roll(t, a, now_us);
  if (a.has_policy && a.policy.daily_limit > 0) {
    const __int128 day = static_cast<__int128>(a.day_spent) + a.held + a.pending_debit + amount;
    if (day > a.policy.daily_limit) return DenyReason::kDailyLimit;
  }
  if (!a.team_id.empty()) {
    auto tm = t.teams.find(a.team_id);
    if (tm != t.teams.end() && tm->second.monthly_cap > 0) {
      const __int128 team =
          static_cast<__int128>(tm->second.period_spent) + tm->second.held + amount;
      if (team > tm->second.monthly_cap) return DenyReason::kTeamLimit;
    }
  }
  return DenyReason::kNone;
}

Ledger::Ledger(Journal* journal, LedgerStore* reader, const Clock* clock, EngineOptions options)
    : journal_(journal), reader_(reader), clock_(clock), options_(options) {
  platform_ = NewTenantState(TenantRecord{});
}

Ledger::~Ledger() = default;

std::shared_ptr<TenantState> Ledger::NewTenantState(const TenantRecord& record) const {
  auto t = std::make_shared<TenantState>(record, options_.idempotency_keys_max);
  if (!absl::LoadTimeZone(record.timezone.empty() ? "UTC" : record.timezone, &t->tz)) {
    t->tz = absl::UTCTimeZone();  // validated at creation; a zone missing from this host
  }
  absl::MutexLock lock(&t->mu);
  if (!record.tenant_id.empty()) {
    for (absl::string_view id : kSystemAccounts) t->accounts[std::string(id)] = AccountState{};
  }
  return t;
}

std::shared_ptr<TenantState> Ledger::GetTenant(const std::string& tenant_id) const {
  if (tenant_id.empty()) return platform_;
  absl::ReaderMutexLock lock(&tenants_mu_);
  auto it = tenants_.find(tenant_id);
  return it == tenants_.end() ? nullptr : it->second;
}

std::string Ledger::NewId(absl::string_view prefix) {
  thread_local absl::BitGen gen;
  const uint64_t hi = absl::Uniform<uint64_t>(gen);
  const uint64_t lo = absl::Uniform<uint64_t>(gen);
  char buf[16];
  for (int i = 0; i < 8; ++i) {
    buf[i] = static_cast<char>(hi >> (8 * i));
    buf[8 + i] = static_cast<char>(lo >> (8 * i));
  }
  return absl::StrCat(prefix, absl::BytesToHexString(absl::string_view(buf, sizeof(buf))));
}

// ---- loading ---------------------------------------------------------------------------------

absl::Status Ledger::Load(const Snapshot& s) {
  absl::StatusOr<TenantMap> tenants = BuildTenants(s);
  if (!tenants.ok()) return tenants.status();
  {
    absl::MutexLock lock(&keys_mu_);
    keys_by_id_.clear();
    key_ids_by_hash_.clear();
  }
  RefreshKeys(s.api_keys);
  absl::MutexLock lock(&tenants_mu_);
  tenants_ = *std::move(tenants);
  return absl::OkStatus();
}

absl::Status Ledger::AddTenants(const Snapshot& s) {
  absl::StatusOr<TenantMap> tenants = BuildTenants(s);
  if (!tenants.ok()) return tenants.status();
  absl::MutexLock lock(&tenants_mu_);
  for (auto& [id, t] : *tenants) tenants_[id] = std::move(t);
  return absl::OkStatus();
}

void Ledger::DropTenant(const std::string& tenant_id) {
  std::shared_ptr<TenantState> dropped;  // destroyed outside the lock
  absl::MutexLock lock(&tenants_mu_);
  auto it = tenants_.find(tenant_id);
  if (it == tenants_.end()) return;
  dropped = std::move(it->second);
  tenants_.erase(it);
}

std::vector<std::string> Ledger::TenantIds() const {
  absl::MutexLock lock(&tenants_mu_);
  std::vector<std::string> ids;
  ids.reserve(tenants_.size());
  for (const auto& [id, t] : tenants_) ids.push_back(id);
  return ids;
}

void Ledger::RefreshKeys(const std::vector<ApiKeyRecord>& keys) {
  absl::MutexLock lock(&keys_mu_);
  for (const auto& k : keys) {
    // A listing read before a local change commits must not undo it: keys are only added, and
    // a revocation is never taken back.
    auto [it, added] = keys_by_id_.try_emplace(k.key_id, k);
    if (!added && k.revoked) it->second.revoked = true;
    if (added) key_ids_by_hash_[k.key_hash] = k.key_id;
  }
}

absl::StatusOr<Ledger::TenantMap> Ledger::BuildTenants(const Snapshot& s) {
  TenantMap tenants;
  for (const auto& rec : s.tenants) tenants[rec.tenant_id] = NewTenantState(rec);
  auto tenant_of = [&](const std::string& id) -> TenantState* {
    auto it = tenants.find(id);
    return it == tenants.end() ? nullptr : it->second.get();
  };
  const int64_t now = clock_->NowMicros();
  // Grouped per tenant first, so that each tenant's table is sized once and filled under one
  // lock: at a million accounts, a lock per account and the table's growth were a tenth of the
  // load's own time.
  absl::flat_hash_map<TenantState*, std::vector<const Snapshot::AccountBalance*>> by_tenant;
  for (const auto& ab : s.accounts) {
    TenantState* t = tenant_of(ab.account.tenant_id);
    if (t == nullptr) return absl::DataLossError("account of an unknown tenant in the store");
    by_tenant[t].push_back(&ab);
  }
  for (const auto& [t, accounts] : by_tenant) {
    absl::MutexLock lock(&t->mu);
    t->accounts.reserve(t->accounts.size() + accounts.size());
    for (const Snapshot::AccountBalance* ab : accounts) {
      AccountState& a = t->accounts[ab->account.account_id];
      a.team_id = ab->account.team_id;
      a.has_policy = ab->account.policy.has_value();
      a.policy = ab->account.policy.value_or(Policy{});
      a.status = ab->account.status;
      a.posted = ab->posted;
    }
  }
  for (const auto& team : s.teams) {
    TenantState* t = tenant_of(team.tenant_id);
    if (t == nullptr) return absl::DataLossError("team of an unknown tenant in the store");
    absl::MutexLock lock(&t->mu);
    TeamState& ts = t->teams[team.team_id];
    ts.display_name = team.display_name;
    ts.monthly_cap = team.monthly_cap;
  }
  for (const auto& p : s.last_periods) {
    TenantState* t = tenant_of(p.tenant_id);
    if (t == nullptr) continue;
    absl::MutexLock lock(&t->mu);
    auto acct = t->accounts.find(p.account_id);
    if (acct != t->accounts.end()) {
      acct->second.last_reset_us = std::max(acct->second.last_reset_us, p.period_start_us);
    }
  }
  for (const auto& h : s.holds) {
    TenantState* t = tenant_of(h.tenant_id);
    if (t == nullptr) return absl::DataLossError("hold of an unknown tenant in the store");
    absl::MutexLock lock(&t->mu);
    auto acct = t->accounts.find(h.account_id);
    if (acct == t->accounts.end()) return absl::DataLossError("hold of an unknown account");
    HoldState hs{.account_id = h.account_id,
                 .amount = h.amount,
                 .created_at_us = h.created_at_us,
                 .expires_at_us = h.expires_at_us,
                 .idempotency_key = h.idempotency_key};
    if (h.status == HoldStatus::kOpen && !h.response.empty()) {
      if (absl::StatusOr<OpResult> answer = DecodeResult(h.response);
          answer.ok() && answer->id == h.hold_id) {
        hs.answer_known = true;
        hs.available_after = answer->available;
        hs.fingerprint = h.fingerprint;
      }
    }
    // An open hold past its expiry is expired: the sweep does not write expiries (they follow
    // from expires_at), so the store may still have it open.
    if (h.status == HoldStatus::kOpen && h.expires_at_us > now) {
      AddHeld(*t, acct->second, h.amount);
      ++t->open_holds;
      t->expiry.emplace(std::make_pair(h.expires_at_us, h.hold_id), h.segment);
      if (h.segment != 0) {
        hs.segment = h.segment;
        HoldSegmentState& seg = t->hold_segments[h.segment];
        ++seg.open;
        ++seg.journaled;
      }
    } else {
      // Open in the store but past its expiry: written expired when its segment is dropped.
      if (h.status == HoldStatus::kOpen && h.segment != 0) {
        HoldRecord row = h;
        row.status = HoldStatus::kExpired;
        t->hold_segments[h.segment].expired.push_back(std::move(row));
      }
      hs.phase = h.status == HoldStatus::kCaptured   ? HoldPhase::kCaptured
                 : h.status == HoldStatus::kReleased ? HoldPhase::kReleased
                                                     : HoldPhase::kExpired;
      hs.closed_at_us = now;
      t->closed.emplace_back(now, h.hold_id);
    }
    t->holds[h.hold_id] = std::move(hs);
    if (!h.response.empty() && !h.idempotency_key.empty()) {
      t->idempotency.Insert(h.idempotency_key,
                            IdempotencyEntry{h.fingerprint, false, h.response, {}});
    }
  }
  // Segments with records in the store: those without an open hold are dropped by the next sweep.
  for (const HoldSegment& seg : s.hold_segments) {
    TenantState* t = tenant_of(seg.tenant_id);
    if (t == nullptr || seg.segment == 0) continue;
    absl::MutexLock lock(&t->mu);
    t->hold_segment_current = std::max(t->hold_segment_current, seg.segment);
    HoldSegmentState& state = t->hold_segments[seg.segment];
    state.journaled = std::max(state.journaled, seg.records);
  }
  for (const auto& rec : s.idempotency) {
    TenantState* t = rec.tenant_id.empty() ? platform_.get() : tenant_of(rec.tenant_id);
    if (t == nullptr) continue;
    absl::MutexLock lock(&t->mu);
    t->idempotency.Insert(rec.key, IdempotencyEntry{rec.fingerprint, false, rec.response, {}});
  }
  for (auto& [id, t] : tenants) {
    if (absl::Status u = LoadUsage(*t, now); !u.ok()) return u;
  }
  return tenants;
}

absl::Status Ledger::LoadUsage(TenantState& t, int64_t now_us) {
  absl::MutexLock lock(&t.mu);
  t.windows = WindowsAt(t.tz, absl::FromUnixMicros(now_us));
  auto sums =
      reader_->SumUsage(t.record.tenant_id, t.windows.period_start_us, t.windows.day_start_us);
  if (!sums.ok()) return sums.status();
  for (auto& [id, team] : t.teams) team.window_period_us = t.windows.period_start_us;
  t.accounts.ForEach([&](const std::string&, AccountState& a) { Roll(t, a, now_us); });
  for (const UsageSums& u : *sums) {
    auto it = t.accounts.find(u.account_id);
    if (it == t.accounts.end()) continue;
    it->second.period_spent = u.period_spent;
    it->second.day_spent = u.day_spent;
    if (!it->second.team_id.empty()) {
      auto tm = t.teams.find(it->second.team_id);
      if (tm != t.teams.end()) tm->second.period_spent += u.period_spent;
    }
  }
  return absl::OkStatus();
}

// ---- idempotency and submission ---------------------------------------------------------------

namespace {

// The answer to a request with `fingerprint` under a key that holds `stored_response` for
// `stored_fingerprint`: the stored answer, or ALREADY_EXISTS for another request.
absl::StatusOr<OpResult> Replay(uint64_t stored_fingerprint, absl::string_view stored_response,
                                uint64_t fingerprint) {
  if (stored_fingerprint != fingerprint) {
    return absl::AlreadyExistsError("idempotency_key: already used with a different request");
  }
  return DecodeResult(stored_response);
}

}  // namespace

bool Ledger::AnswerFromIdempotency(TenantState& t, const IdemArgs& idem, ResultCallback& done,
                                   DeferredAnswers& later) {
  IdempotencyEntry* e = t.idempotency.Find(idem.key);
  if (e == nullptr) return false;
  if (e->pending && e->fingerprint == idem.fingerprint) {
    e->waiters.push_back(std::move(done));
    return true;
  }
  later.Answer(std::move(done), Replay(e->fingerprint, e->response, idem.fingerprint));
  return true;
}

absl::StatusOr<std::vector<AuditRecord>> Ledger::ListAudit(const AuditQuery& query) const {
  if (query.limit < 1 || query.limit > 1000) {
    return absl::InvalidArgumentError("page_size: must be 1 to 1000");
  }
  return reader_->ListAudit(query);
}

namespace {

// The audit event of a change: what it touched, described for people.
AuditRecord AuditOf(const Mutation& m, const IdemArgs& idem, int64_t now_us) {
  AuditRecord a{.tenant_id = MutationTenant(m),
                .actor_key_id = idem.actor,
                .action = idem.audit_action,
                .created_at_us = now_us};
  if (m.tenant) {
    a.target = m.tenant->tenant_id;
    a.detail =
        absl::StrCat("tenant created: unit ", m.tenant->unit, ", timezone ", m.tenant->timezone);
  } else if (m.api_key) {
    a.target = m.api_key->key_id;
    a.detail = m.api_key->revoked ? "key revoked"
                                  : absl::StrCat("key created, role ", RoleName(m.api_key->role));
  } else if (m.account) {
    const AccountRecord& r = *m.account;
    a.target = r.account_id;
    a.detail = absl::StrCat("account set: status ", static_cast<int>(r.status), ", team '",
                            r.team_id, "', ");
    if (r.policy) {
      absl::StrAppend(&a.detail, "policy monthly_allocation ", r.policy->monthly_allocation,
                      ", rollover_max ", r.policy->rollover_max, ", daily_limit ",
                      r.policy->daily_limit, ", overdraft_limit ", r.policy->overdraft_limit);
    } else {
      absl::StrAppend(&a.detail, "no policy");
    }
  } else if (m.team) {
    a.target = m.team->team_id;
    a.detail = absl::StrCat("team set: monthly_cap ", m.team->monthly_cap);
  } else if (!m.transfers.empty()) {
    const TransferRecord& t = m.transfers.front();
    const bool credit = t.credit_account_id.front() != '@';
    a.target = credit ? t.credit_account_id : t.debit_account_id;
    a.detail = absl::StrCat(TransferKindName(t.kind), " ", credit ? "+" : "-", t.amount, " (",
                            t.transfer_id, ")", t.memo.empty() ? "" : ": ", t.memo);
  }
  return a;
}

}  // namespace

bool Ledger::SubmitLocked(std::shared_ptr<TenantState> t, const IdemArgs& idem,
                          const OpResult& result, Mutation m,
                          absl::AnyInvocable<void(TenantState&)> apply,
                          absl::AnyInvocable<void(TenantState&)> undo, ResultCallback done,
                          DeferredAnswers& later) {
  std::string response = EncodeResult(result);
  m.idempotency = IdempotencyRecord{t->record.tenant_id, idem.key, idem.fingerprint, response};
  if (!idem.audit_action.empty()) m.audit.push_back(AuditOf(m, idem, clock_->NowMicros()));
  TenantState* raw = t.get();
  // Held in a shared slot so that the call can still be answered when Submit refuses the work.
  auto slot = std::make_shared<ResultCallback>(std::move(done));
  absl::Status s =
      journal_->Submit(std::move(m), [this, t = std::move(t), key = idem.key, result,
                                      apply = std::move(apply), undo = std::move(undo),
                                      slot](absl::StatusOr<MutationOutcome> outcome) mutable {
        Complete(std::move(t), std::move(key), std::move(result), std::move(outcome),
                 std::move(apply), std::move(undo), std::move(*slot));
      });
  if (!s.ok()) {
    later.Answer(std::move(*slot), s);
    return false;
  }
  raw->idempotency.Insert(idem.key, IdempotencyEntry{idem.fingerprint, true, response, {}});
  return true;
}

void Ledger::Complete(std::shared_ptr<TenantState> t, std::string key, OpResult result,
                      absl::StatusOr<MutationOutcome> outcome,
                      absl::AnyInvocable<void(TenantState&)> apply,
                      absl::AnyInvocable<void(TenantState&)> undo, ResultCallback done) {
  absl::StatusOr<OpResult> answer = result;
  std::vector<ResultCallback> waiters;
  {
    absl::MutexLock lock(&t->mu);
    IdempotencyEntry* e = t->idempotency.Find(key);
    TL_INVARIANT(e != nullptr && e->pending);
    waiters = std::move(e->waiters);
    if (outcome.ok() && outcome->committed) {
      if (apply) apply(*t);
      e->pending = false;
    } else if (outcome.ok()) {
      // The key was already in the store (older than the memory window): replay what it holds.
      if (undo) undo(*t);
      const IdempotencyRecord& stored = outcome->existing;
      answer = Replay(stored.fingerprint, stored.response, e->fingerprint);
      *e = IdempotencyEntry{stored.fingerprint, false, stored.response, {}};
    } else {
      if (undo) undo(*t);
      answer = outcome.status();
      t->idempotency.Erase(key);  // nothing was recorded: a retry may try again
    }
  }
  std::move(done)(answer);
  for (auto& w : waiters) std::move(w)(answer);
}

void Ledger::ApplyPostedTransfer(TenantState& t, const TransferRecord& tr) {
  auto debit = t.accounts.find(tr.debit_account_id);
  auto credit = t.accounts.find(tr.credit_account_id);
  TL_INVARIANT(debit != t.accounts.end() && credit != t.accounts.end());
  TL_INVARIANT(ApplyDebitSide(tr, debit->second.posted));
  TL_INVARIANT(ApplyCreditSide(tr, credit->second.posted));
}

// ---- tenants and keys -------------------------------------------------------------------------

void Ledger::CreateTenant(TenantRecord tenant, const IdemArgs& idem, ResultCallback done) {
  absl::Status v = ValidateId("tenant_id", tenant.tenant_id);
  if (v.ok()) v = ValidateText("display_name", tenant.display_name);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (tenant.unit.empty()) tenant.unit = "usd_micros";
  if (tenant.timezone.empty()) tenant.timezone = "UTC";
  absl::TimeZone tz;
  if (v.ok() && tenant.unit != "usd_micros" && tenant.unit != "tokens") {
    v = absl::InvalidArgumentError("unit: must be \"usd_micros\" or \"tokens\"");
  }
  if (v.ok() && (!ValidateText("timezone", tenant.timezone).ok() ||
                 !absl::LoadTimeZone(tenant.timezone, &tz))) {
    v = absl::InvalidArgumentError(
        absl::StrCat("timezone: unknown IANA time zone '", tenant.timezone, "'"));
  }
  if (!v.ok()) return std::move(done)(v);
  tenant.created_at_us = clock_->NowMicros();
  std::shared_ptr<TenantState> p = platform_;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&p->mu);
  if (AnswerFromIdempotency(*p, idem, done, later)) return;
  {
    absl::MutexLock tl(&tenants_mu_);
    if (tenants_.contains(tenant.tenant_id) || tenants_creating_.contains(tenant.tenant_id)) {
      return later.Answer(std::move(done),
                          absl::AlreadyExistsError(absl::StrCat(
                              "tenant_id: tenant '", tenant.tenant_id, "' already exists")));
    }
    tenants_creating_.insert(tenant.tenant_id);
  }
  Mutation m;
  m.tenant = tenant;
  OpResult result{.id = tenant.tenant_id, .flag = true};
  auto apply = [this, tenant](TenantState&) {
    auto state = NewTenantState(tenant);
    absl::MutexLock tl(&tenants_mu_);
    tenants_creating_.erase(tenant.tenant_id);
    tenants_[tenant.tenant_id] = std::move(state);
  };
  auto undo = [this, id = tenant.tenant_id](TenantState&) {
    absl::MutexLock tl(&tenants_mu_);
    tenants_creating_.erase(id);
  };
  if (!SubmitLocked(p, idem, result, std::move(m), std::move(apply), std::move(undo),
                    std::move(done), later)) {
    absl::MutexLock tl(&tenants_mu_);
    tenants_creating_.erase(tenant.tenant_id);
  }
}

void Ledger::CreateApiKey(const std::string& scope, ApiKeyRecord key, const IdemArgs& idem,
                          ResultCallback done) {
  absl::Status v = ValidateIdempotencyKey(idem.key);
  if (v.ok()) v = ValidateId("tenant_id", key.tenant_id);
  if (v.ok() && key.role == Role::kOperator) {
    v = absl::InvalidArgumentError("role: operator keys are configured, not created");
  }
  if (v.ok() && !scope.empty() && scope != key.tenant_id) {
    v = absl::PermissionDeniedError(
        "tenant_id: a tenant admin may create keys only for its tenant");
  }
  if (v.ok() && !GetTenant(key.tenant_id)) {
    v = absl::NotFoundError(absl::StrCat("tenant_id: tenant '", key.tenant_id, "' not found"));
  }
  if (!v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> t = GetTenant(scope);
  key.created_at_us = clock_->NowMicros();
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t->mu);
  if (AnswerFromIdempotency(*t, idem, done, later)) return;
  Mutation m;
  m.api_key = key;
  OpResult result{.id = key.key_id, .flag = true};
  auto apply = [this, key](TenantState&) {
    absl::MutexLock kl(&keys_mu_);
    keys_by_id_[key.key_id] = key;
    key_ids_by_hash_[key.key_hash] = key.key_id;
  };
  SubmitLocked(t, idem, result, std::move(m), std::move(apply), nullptr, std::move(done), later);
}

void Ledger::RevokeApiKey(const std::string& scope, const std::string& key_id, const IdemArgs& idem,
                          ResultCallback done) {
  absl::Status v = ValidateServerId("key_id", key_id);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> t = GetTenant(scope);
  if (t == nullptr) return std::move(done)(absl::NotFoundError("tenant not found"));
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t->mu);
  if (AnswerFromIdempotency(*t, idem, done, later)) return;
  std::optional<ApiKeyRecord> key;
  {
    absl::MutexLock kl(&keys_mu_);
    auto it = keys_by_id_.find(key_id);
    if (it != keys_by_id_.end() && (scope.empty() || it->second.tenant_id == scope)) {
      key = it->second;
    }
  }
  if (!key) {
    return later.Answer(std::move(done),
                        absl::NotFoundError(absl::StrCat("key_id: key '", key_id, "' not found")));
  }
  Mutation m;
  key->revoked = true;
  m.api_key = *key;
  OpResult result{.id = key_id, .flag = true};
  auto apply = [this, key_id](TenantState&) {
    absl::MutexLock kl(&keys_mu_);
    auto it = keys_by_id_.find(key_id);
    if (it != keys_by_id_.end()) it->second.revoked = true;
  };
  SubmitLocked(t, idem, result, std::move(m), std::move(apply), nullptr, std::move(done), later);
}

std::optional<ApiKeyRecord> Ledger::FindKeyByHash(const std::string& key_hash) const {
  absl::MutexLock kl(&keys_mu_);
  auto id = key_ids_by_hash_.find(key_hash);
  if (id == key_ids_by_hash_.end()) return std::nullopt;
  auto it = keys_by_id_.find(id->second);
  if (it == keys_by_id_.end()) return std::nullopt;
  return it->second;
}

std::optional<TenantRecord> Ledger::FindTenant(const std::string& tenant_id) const {
  if (tenant_id.empty()) return std::nullopt;
  auto t = GetTenant(tenant_id);
  if (!t) return std::nullopt;
  return t->record;
}

// ---- budgets ----------------------------------------------------------------------------------

void Ledger::UpsertAccount(const std::string& tenant, AccountRecord account, const IdemArgs& idem,
                           ResultCallback done) {
  absl::Status v = ValidateId("account_id", account.account_id);
  if (v.ok()) v = ValidateText("display_name", account.display_name);
  if (v.ok()) v = ValidateOptionalId("team_id", account.team_id);
  if (v.ok() && account.policy) v = ValidatePolicy(*account.policy);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) return std::move(done)(absl::NotFoundError("tenant not found"));
  account.tenant_id = tenant;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t->mu);
  if (AnswerFromIdempotency(*t, idem, done, later)) return;
  if (!account.team_id.empty() && !t->teams.contains(account.team_id)) {
    return later.Answer(std::move(done), absl::NotFoundError(absl::StrCat(
                                             "team_id: team '", account.team_id, "' not found")));
  }
  auto existing = t->accounts.find(account.account_id);
  const bool created = existing == t->accounts.end();
  if (static_cast<int>(account.status) == 0) {  // unspecified: keep the current status
    account.status = created ? AccountStatus::kActive : existing->second.status;
  }
  const int64_t now = clock_->NowMicros();
  account.created_at_us = now;
  Mutation m;
  m.account = account;
  OpResult result{.id = account.account_id, .flag = created};
  // An account that gets a policy mid-period receives the period's allocation at once, in the
  // same transaction (and only once per period: the period row guards it).
  const int64_t period = CurrentWindows(*t, now).period_start_us;
  std::optional<TransferRecord> first_grant;
  if (account.policy && account.status != AccountStatus::kClosed &&
      (created || (!existing->second.has_policy && existing->second.last_reset_us < period))) {
    const int64_t allocation = account.policy->monthly_allocation;
    m.periods.push_back(PeriodRecord{tenant, account.account_id, period, 0, 0, allocation, now});
    if (allocation > 0) {
      const AccountState& funding = t->accounts.at(std::string(kFundingAccount));
      const PostedTotals mine = created ? PostedTotals{} : existing->second.posted;
      if (!FitsAdd(mine.credits, created ? 0 : existing->second.pending_credit, allocation) ||
          !FitsAdd(funding.posted.debits, funding.pending_debit, allocation)) {
        return later.Answer(std::move(done), Overflow("policy.monthly_allocation"));
      }
      first_grant = TransferRecord{.tenant_id = tenant,
                                   .transfer_id = NewId("t_"),
                                   .debit_account_id = std::string(kFundingAccount),
                                   .credit_account_id = account.account_id,
                                   .amount = allocation,
                                   .kind = TransferKind::kResetGrant,
                                   .created_at_us = now,
                                   .memo = "monthly allocation (policy set mid-period)"};
      m.transfers.push_back(*first_grant);
    }
  }
  const bool granted_period = !m.periods.empty();
  auto apply = [this, account, first_grant, granted_period, period](TenantState& ts) {
    AccountState& a = ts.accounts[account.account_id];
    const int64_t now_us = clock_->NowMicros();
    Roll(ts, a, now_us);
    if (a.team_id != account.team_id) {  // the account's usage and holds move to its new team
      auto old_team = ts.teams.find(a.team_id);
      if (old_team != ts.teams.end()) {
        old_team->second.period_spent -= a.period_spent;
        old_team->second.held -= a.held;
      }
      a.team_id = account.team_id;
      auto new_team = ts.teams.find(a.team_id);
      if (new_team != ts.teams.end()) {
        Roll(ts, a, now_us);
        new_team->second.period_spent += a.period_spent;
        new_team->second.held += a.held;
      }
    }
    a.has_policy = account.policy.has_value();
    a.policy = account.policy.value_or(Policy{});
    a.status = account.status;
    if (granted_period) a.last_reset_us = std::max(a.last_reset_us, period);
    if (first_grant) ApplyPostedTransfer(ts, *first_grant);
  };
  SubmitLocked(t, idem, result, std::move(m), std::move(apply), nullptr, std::move(done), later);
}

void Ledger::UpsertTeam(const std::string& tenant, TeamRecord team, const IdemArgs& idem,
                        ResultCallback done) {
  absl::Status v = ValidateId("team_id", team.team_id);
  if (v.ok()) v = ValidateText("display_name", team.display_name);
  if (v.ok()) v = ValidateAmount("monthly_cap", team.monthly_cap, /*allow_zero=*/true);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) return std::move(done)(absl::NotFoundError("tenant not found"));
  team.tenant_id = tenant;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t->mu);
  if (AnswerFromIdempotency(*t, idem, done, later)) return;
  Mutation m;
  m.team = team;
  OpResult result{.id = team.team_id, .flag = !t->teams.contains(team.team_id)};
  auto apply = [team](TenantState& ts) {
    TeamState& tm = ts.teams[team.team_id];  // keeps the members' usage and holds
    tm.display_name = team.display_name;
    tm.monthly_cap = team.monthly_cap;
  };
  SubmitLocked(t, idem, result, std::move(m), std::move(apply), nullptr, std::move(done), later);
}

// Credits `amount` to `account_id` from `source` (GRANT, or ADJUSTMENT upwards).
void Ledger::Credit(const std::string& tenant, const std::string& account_id, int64_t amount,
                    TransferKind kind, absl::string_view source, const std::string& memo,
                    const IdemArgs& idem, ResultCallback done) {
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) return std::move(done)(absl::NotFoundError("tenant not found"));
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t->mu);
  if (AnswerFromIdempotency(*t, idem, done, later)) return;
  auto acct = t->accounts.find(account_id);
  if (acct == t->accounts.end()) return later.Answer(std::move(done), AccountNotFound(account_id));
  if (acct->second.status == AccountStatus::kClosed) {
    return later.Answer(std::move(done),
                        absl::FailedPreconditionError("account_id: the account is closed"));
  }
  AccountState& src = t->accounts.at(std::string(source));
  if (!FitsAdd(acct->second.posted.credits, acct->second.pending_credit, amount) ||
      !FitsAdd(acct->second.posted.granted, acct->second.pending_credit, amount) ||
      !FitsAdd(src.posted.debits, src.pending_debit, amount)) {
    return later.Answer(std::move(done), Overflow("amount"));
  }
  TransferRecord tr{.tenant_id = tenant,
                    .transfer_id = NewId("t_"),
                    .debit_account_id = std::string(source),
                    .credit_account_id = account_id,
                    .amount = amount,
                    .kind = kind,
                    .created_at_us = clock_->NowMicros(),
                    .memo = memo,
                    .idempotency_key = idem.key};
  OpResult result{.id = tr.transfer_id,
                  .amount = amount,
                  .available = SaturatedAdd(acct->second.Available(), amount)};
  Mutation m;
  m.transfers.push_back(tr);
  auto reserve = [account_id, source = std::string(source), amount](TenantState& ts, int sign) {
    ts.accounts.at(account_id).pending_credit += sign * amount;
    ts.accounts.at(source).pending_debit += sign * amount;
  };
  auto apply = [this, tr, reserve](TenantState& ts) {
    reserve(ts, -1);
    ApplyPostedTransfer(ts, tr);
  };
  auto undo = [reserve](TenantState& ts) { reserve(ts, -1); };
  if (SubmitLocked(t, idem, result, std::move(m), std::move(apply), std::move(undo),
                   std::move(done), later)) {
    reserve(*t, +1);
  }
}

void Ledger::Grant(const std::string& tenant, const std::string& account_id, int64_t amount,
                   const std::string& memo, const IdemArgs& idem, ResultCallback done) {
  absl::Status v = ValidateId("account_id", account_id);
  if (v.ok()) v = ValidateAmount("amount", amount);
  if (v.ok()) v = ValidateText("memo", memo);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  Credit(tenant, account_id, amount, TransferKind::kGrant, kFundingAccount, memo, idem,
         std::move(done));
}

void Ledger::Adjust(const std::string& tenant, const std::string& account_id, int64_t amount_delta,
                    const std::string& memo, const IdemArgs& idem, ResultCallback done) {
  absl::Status v = ValidateId("account_id", account_id);
  if (v.ok() && amount_delta == 0) v = absl::InvalidArgumentError("amount_delta: must not be 0");
  if (v.ok() && (amount_delta > kAmountMax || amount_delta < -kAmountMax)) {
    v = absl::InvalidArgumentError("amount_delta: magnitude larger than 2^62");
  }
  if (v.ok()) v = ValidateText("memo", memo);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  if (amount_delta > 0) {
    return Credit(tenant, account_id, amount_delta, TransferKind::kAdjustment, kAdjustmentsAccount,
                  memo, idem, std::move(done));
  }
  DebitArgs args{.account_id = account_id, .amount = -amount_delta};
  Spend(tenant, args, TransferKind::kAdjustment, kAdjustmentsAccount, memo, idem, done,
        /*unknown_hold_is_direct=*/true);
}

absl::StatusOr<BalanceView> Ledger::GetBalance(const std::string& tenant,
                                               const std::string& account_id) const {
  if (auto v = ValidateId("account_id", account_id); !v.ok()) return v;
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) return absl::NotFoundError("tenant not found");
  BalanceView view;
  absl::MutexLock lock(&t->mu);
  auto it = t->accounts.find(account_id);
  if (it == t->accounts.end()) return AccountNotFound(account_id);
  const AccountState& a = it->second;
  const CalendarWindows w = CurrentWindows(*t, clock_->NowMicros());
  view = BalanceView{.account_id = account_id,
                     .posted = a.posted,
                     .held = a.held,
                     .pending_debit = a.pending_debit,
                     .available = a.Available(),
                     .status = a.status,
                     .unit = t->record.unit,
                     .period_start_us = w.period_start_us,
                     .period_end_us = w.period_end_us,
                     .period_spent = a.window_period_us == w.period_start_us ? a.period_spent : 0,
                     .day_spent = a.window_day_us == w.day_start_us ? a.day_spent : 0};
  return view;
}

absl::StatusOr<AccountRecord> Ledger::GetAccount(const std::string& tenant,
                                                 const std::string& account_id) const {
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) return absl::NotFoundError("tenant not found");
  absl::MutexLock lock(&t->mu);
  auto it = t->accounts.find(account_id);
  if (it == t->accounts.end()) return AccountNotFound(account_id);
  AccountRecord r{.tenant_id = tenant,
                  .account_id = account_id,
                  .team_id = it->second.team_id,
                  .status = it->second.status};
  if (it->second.has_policy) r.policy = it->second.policy;
  return r;
}

absl::StatusOr<std::vector<TransferRecord>> Ledger::ListTransfers(
    const TransferQuery& query) const {
  if (auto v = ValidateId("account_id", query.account_id); !v.ok()) return v;
  std::shared_ptr<TenantState> t = GetTenant(query.tenant_id);
  if (!t) return absl::NotFoundError("tenant not found");
  {
    absl::MutexLock lock(&t->mu);
    if (!t->accounts.contains(query.account_id)) return AccountNotFound(query.account_id);
  }
  return reader_->ListTransfers(query);
}

// ---- the gateway's hot path -------------------------------------------------------------------

absl::StatusOr<OpResult> Ledger::Authorize(const std::string& tenant, const AuthorizeArgs& args,
                                           const IdemArgs& idem) {
  absl::Status v = ValidateId("account_id", args.account_id);
  if (v.ok()) v = ValidateAmount("amount", args.amount);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (v.ok() && (args.hold_ttl_seconds < 0 || args.hold_ttl_seconds > kHoldTtlSecondsMax)) {
    v = absl::InvalidArgumentError(
        absl::StrCat("hold_ttl_seconds: must be between 0 and ", kHoldTtlSecondsMax));
  }
  if (v.ok()) v = ValidateText("model", args.model);
  if (v.ok()) v = ValidateMetadata("metadata", args.metadata);
  if (!v.ok()) return v;
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) return absl::NotFoundError("tenant not found");
  absl::MutexLock lock(&t->mu);
  if (IdempotencyEntry* e = t->idempotency.Find(idem.key)) {
    if (e->pending && e->fingerprint == idem.fingerprint) {
      return absl::AbortedError("idempotency_key: the original request is still in flight; retry");
    }
    return Replay(e->fingerprint, e->response, idem.fingerprint);
  }
  auto acct = t->accounts.find(args.account_id);
  if (acct == t->accounts.end()) return AccountNotFound(args.account_id);
  AccountState& a = acct->second;
  if (a.status == AccountStatus::kClosed) {
    return absl::FailedPreconditionError("account_id: the account is closed");
  }
  const int64_t now = clock_->NowMicros();
  OpResult result{.available = a.Available()};
  result.deny_reason = Decide(*t, a, args.amount, now);
  if (result.deny_reason != DenyReason::kNone) result.decision = Decision::kDenied;
  std::string hold_id;
  if (result.decision == Decision::kAllowed) {
    if (t->open_holds >= options_.open_holds_max) {
      return absl::ResourceExhaustedError("too many open holds in this tenant");
    }
    if (t->journal_full) {
      return absl::ResourceExhaustedError(
          "write queue full: holds cannot be journaled now; retry with backoff");
    }
    int64_t held;
    if (!CheckedAdd(a.held, args.amount, held)) return Overflow("amount");
    hold_id = NewId("h_");
    const int64_t ttl = args.hold_ttl_seconds == 0 ? kHoldTtlSecondsDefault : args.hold_ttl_seconds;
    result.id = hold_id;
    result.amount = args.amount;
    result.expires_at_us = now + ttl * 1'000'000;
    result.available = SaturatedSub(result.available, args.amount);
  }
  std::string response = EncodeResult(result);
  if (!hold_id.empty()) {
    // The hold row carries the answer (one row per Authorize), and the call does not wait for
    // its commit. With a journaling delay the row is written by JournalHolds once the delay is
    // over, or in its closed state by a capture or release before then; without one, it
    // is queued now and durable within one commit interval. If that commit fails, the hold stays
    // a valid reservation here and is written with its capture or release.
    const bool delayed = options_.hold_journal_delay > absl::ZeroDuration();
    int64_t segment = 0;
    if (!delayed) {
      segment = CurrentHoldSegment(*t, now);
      Mutation m;
      m.holds.push_back(HoldRecord{tenant, hold_id, args.account_id, args.amount, now,
                                   result.expires_at_us, HoldStatus::kOpen, idem.key,
                                   idem.fingerprint, response, segment});
      absl::Status s = journal_->SubmitDeferred(std::move(m), nullptr);
      if (!s.ok()) return s;
    } else {
      t->unjournaled.emplace_back(now + absl::ToInt64Microseconds(options_.hold_journal_delay),
                                  hold_id);
    }
    AddHeld(*t, a, args.amount);
    ++t->open_holds;
    t->expiry.emplace(std::make_pair(result.expires_at_us, hold_id), segment);
    t->holds[hold_id] = HoldState{.account_id = args.account_id,
                                  .amount = args.amount,
                                  .created_at_us = now,
                                  .expires_at_us = result.expires_at_us,
                                  .phase = HoldPhase::kOpen,
                                  .journaled = !delayed,
                                  .answer_known = true,
                                  .available_after = result.available,
                                  .fingerprint = idem.fingerprint,
                                  .idempotency_key = idem.key,
                                  .segment = segment};
    if (segment != 0) {
      HoldSegmentState& seg = t->hold_segments[segment];
      ++seg.open;
      ++seg.journaled;
    }
  }
  // A denial changes nothing and is not journaled: its key is remembered in memory only, and a
  // retry after a restart is decided afresh.
  t->idempotency.Insert(idem.key, IdempotencyEntry{idem.fingerprint, false, response, {}});
  return result;
}

absl::StatusOr<CheckResult> Ledger::Check(const std::string& tenant, const std::string& account_id,
                                          int64_t amount) {
  absl::Status v = ValidateId("account_id", account_id);
  if (v.ok()) v = ValidateAmount("amount", amount, /*allow_zero=*/true);
  if (!v.ok()) return v;
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) return absl::NotFoundError("tenant not found");
  absl::MutexLock lock(&t->mu);
  auto acct = t->accounts.find(account_id);
  if (acct == t->accounts.end()) return AccountNotFound(account_id);
  AccountState& a = acct->second;
  CheckResult r{.available = a.Available()};
  r.deny_reason = Decide(*t, a, amount, clock_->NowMicros());
  r.would_allow = r.deny_reason == DenyReason::kNone;
  return r;
}

void Ledger::Debit(const std::string& tenant, DebitArgs args, const IdemArgs& idem,
                   ResultCallback done) {
  absl::Status v = ValidateId("account_id", args.account_id);
  if (v.ok()) v = ValidateAmount("amount", args.amount);
  if (v.ok() && !args.hold_id.empty()) v = ValidateServerId("hold_id", args.hold_id);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (v.ok()) v = ValidateText("request_id", args.request_id);
  if (v.ok()) v = ValidateText("model", args.model);
  if (v.ok()) v = ValidateMetadata("metadata", args.metadata);
  if (!v.ok()) return std::move(done)(v);
  if (Spend(tenant, args, TransferKind::kUsage, kUsageAccount, "", idem, done,
            /*unknown_hold_is_direct=*/false)) {
    return;
  }
  // Memory does not know the hold (forgotten once closed, or closed before this process
  // loaded): the store says how it closed, off the tenant's lock.
  if (AnswerForForgottenHold(tenant, args, idem, done)) return;
  Spend(tenant, args, TransferKind::kUsage, kUsageAccount, "", idem, done,
        /*unknown_hold_is_direct=*/true);
}

bool Ledger::AnswerForForgottenHold(const std::string& tenant, const DebitArgs& args,
                                    const IdemArgs& idem, ResultCallback& done) {
  absl::StatusOr<std::optional<HoldRecord>> stored = reader_->GetHold(tenant, args.hold_id);
  if (!stored.ok()) {
    std::move(done)(stored.status());
    return true;
  }
  const std::optional<HoldRecord>& h = *stored;
  // Unknown, open in the store but forgotten here (it expired), or expired: a direct debit.
  if (!h || (h->status != HoldStatus::kCaptured && h->status != HoldStatus::kReleased)) {
    return false;
  }
  if (h->account_id != args.account_id) {
    std::move(done)(absl::InvalidArgumentError("hold_id: the hold belongs to another account"));
    return true;
  }
  // This very call may have been the capture: its key, evicted from memory, is in the store.
  absl::StatusOr<std::optional<IdempotencyRecord>> mine = reader_->GetIdempotency(tenant, idem.key);
  if (!mine.ok()) {
    std::move(done)(mine.status());
    return true;
  }
  if (mine->has_value()) {
    std::move(done)(Replay((*mine)->fingerprint, (*mine)->response, idem.fingerprint));
    return true;
  }
  std::move(done)(absl::FailedPreconditionError(h->status == HoldStatus::kCaptured
                                                    ? "hold_id: already captured"
                                                    : "hold_id: already released"));
  return true;
}

// Debits `args.amount` from the account to `sink` (USAGE, or ADJUSTMENT downwards). Usage that
// happened is never refused for budget. With a hold, captures it.
bool Ledger::Spend(const std::string& tenant, const DebitArgs& args, TransferKind kind,
                   absl::string_view sink, const std::string& memo, const IdemArgs& idem,
                   ResultCallback& done, bool unknown_hold_is_direct) {
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) {
    std::move(done)(absl::NotFoundError("tenant not found"));
    return true;
  }
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t->mu);
  if (AnswerFromIdempotency(*t, idem, done, later)) return true;
  auto acct = t->accounts.find(args.account_id);
  if (acct == t->accounts.end()) {
    later.Answer(std::move(done), AccountNotFound(args.account_id));
    return true;
  }
  AccountState& a = acct->second;
  if (a.status == AccountStatus::kClosed) {
    later.Answer(std::move(done),
                 absl::FailedPreconditionError("account_id: the account is closed"));
    return true;
  }
  const int64_t now = clock_->NowMicros();
  Mutation m;
  int64_t captured = 0;  // the hold's amount, when this debit captures one
  if (!args.hold_id.empty()) {
    auto h = t->holds.find(args.hold_id);
    if (h == t->holds.end() && !unknown_hold_is_direct) return false;  // the caller asks the store
    if (h != t->holds.end()) {
      HoldState& hold = h->second;
      absl::Status refused;
      if (hold.account_id != args.account_id) {
        refused = absl::InvalidArgumentError("hold_id: the hold belongs to another account");
      } else if (hold.phase == HoldPhase::kCapturing || hold.phase == HoldPhase::kCaptured) {
        refused = absl::FailedPreconditionError("hold_id: already captured");
      } else if (hold.phase == HoldPhase::kReleasing || hold.phase == HoldPhase::kReleased) {
        refused = absl::FailedPreconditionError("hold_id: already released");
      }
      if (!refused.ok()) {
        later.Answer(std::move(done), refused);
        return true;
      }
      if (hold.phase == HoldPhase::kOpen && hold.expires_at_us <= now) {
        CloseHold(*t, args.hold_id, hold, HoldPhase::kExpired);  // then a direct debit
        m.holds.push_back(HoldRow(*t, args.hold_id, hold, HoldStatus::kExpired));
      } else if (hold.phase == HoldPhase::kOpen) {
        captured = hold.amount;
        m.holds.push_back(HoldRow(*t, args.hold_id, hold, HoldStatus::kCaptured));
      }
    }
  }
  AccountState& out = t->accounts.at(std::string(sink));
  if (!FitsAdd(a.posted.debits, a.pending_debit, args.amount) ||
      !FitsAdd(a.posted.spent, a.pending_debit, args.amount) ||
      !FitsAdd(out.posted.credits, out.pending_credit, args.amount)) {
    later.Answer(std::move(done), Overflow("amount"));
    return true;
  }
  TransferRecord tr{.tenant_id = tenant,
                    .transfer_id = NewId("t_"),
                    .debit_account_id = args.account_id,
                    .credit_account_id = std::string(sink),
                    .amount = args.amount,
                    .kind = kind,
                    .created_at_us = now,
                    .request_id = args.request_id,
                    .model = args.model,
                    .metadata = args.metadata,
                    .memo = memo,
                    .hold_id = captured > 0 ? args.hold_id : "",
                    .idempotency_key = idem.key};
  const int64_t after = SaturatedSub(SaturatedAdd(a.Available(), captured), args.amount);
  OpResult result{.id = tr.transfer_id,
                  .amount = kind == TransferKind::kAdjustment ? -args.amount : args.amount,
                  .available = after,
                  .overage = static_cast<__int128>(after) + a.policy.overdraft_limit < 0};
  m.transfers.push_back(tr);
  std::string hold_id = captured > 0 ? args.hold_id : "";
  auto reserve = [tr, hold_id, captured](TenantState& ts, int sign) {
    AccountState& acc = ts.accounts.at(tr.debit_account_id);
    acc.pending_debit += sign * tr.amount;
    AddHeld(ts, acc, -sign * captured);
    ts.accounts.at(tr.credit_account_id).pending_credit += sign * tr.amount;
    if (!hold_id.empty()) {
      ts.holds.at(hold_id).phase = sign > 0 ? HoldPhase::kCapturing : HoldPhase::kOpen;
    }
  };
  auto apply = [this, tr, reserve, hold_id](TenantState& ts) {
    reserve(ts, -1);
    ApplyPostedTransfer(ts, tr);
    if (tr.kind == TransferKind::kUsage) {
      CountUsage(ts, ts.accounts.at(tr.debit_account_id), tr.amount, tr.created_at_us,
                 clock_->NowMicros());
    }
    if (!hold_id.empty()) CloseHold(ts, hold_id, ts.holds.at(hold_id), HoldPhase::kCaptured);
  };
  auto undo = [reserve](TenantState& ts) { reserve(ts, -1); };
  if (SubmitLocked(t, idem, result, std::move(m), std::move(apply), std::move(undo),
                   std::move(done), later)) {
    reserve(*t, +1);
  }
  return true;
}

void Ledger::Release(const std::string& tenant, const std::string& hold_id, const IdemArgs& idem,
                     ResultCallback done) {
  absl::Status v = ValidateServerId("hold_id", hold_id);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  if (ReleaseHold(tenant, hold_id, idem, done, std::nullopt)) return;
  // Memory does not know the hold (forgotten once closed, or closed before this process loaded):
  // the store says whether and how it closed, off the tenant's lock.
  absl::StatusOr<std::optional<HoldRecord>> stored = reader_->GetHold(tenant, hold_id);
  if (!stored.ok()) return std::move(done)(stored.status());
  if (!stored->has_value() || (*stored)->status == HoldStatus::kOpen) {
    return std::move(done)(
        absl::NotFoundError(absl::StrCat("hold_id: hold '", hold_id, "' not found")));
  }
  ReleaseHold(tenant, hold_id, idem, done, (*stored)->status);
}

bool Ledger::ReleaseHold(const std::string& tenant, const std::string& hold_id,
                         const IdemArgs& idem, ResultCallback& done,
                         std::optional<HoldStatus> stored) {
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  if (!t) {
    std::move(done)(absl::NotFoundError("tenant not found"));
    return true;
  }
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t->mu);
  if (AnswerFromIdempotency(*t, idem, done, later)) return true;
  auto h = t->holds.find(hold_id);
  if (h == t->holds.end()) {
    if (!stored.has_value()) return false;  // the caller asks the store
    if (*stored == HoldStatus::kCaptured) {
      later.Answer(std::move(done), absl::FailedPreconditionError("hold_id: already captured"));
      return true;
    }
    // Released or expired long ago: nothing left to release, as for a remembered one (the
    // answer is stored under this call's key, or this call's stored answer is replayed).
    SubmitLocked(
        t, idem, OpResult{.id = hold_id}, Mutation{}, [](TenantState&) {}, [](TenantState&) {},
        std::move(done), later);
    return true;
  }
  HoldState& hold = h->second;
  if (hold.phase == HoldPhase::kCapturing || hold.phase == HoldPhase::kCaptured) {
    later.Answer(std::move(done), absl::FailedPreconditionError("hold_id: already captured"));
    return true;
  }
  const int64_t now = clock_->NowMicros();
  Mutation m;
  OpResult result{.id = hold_id};
  HoldRecord rec = HoldRow(*t, hold_id, hold, HoldStatus::kReleased);
  if (hold.phase == HoldPhase::kOpen && hold.expires_at_us <= now) {
    CloseHold(*t, hold_id, hold, HoldPhase::kExpired);
    rec.status = HoldStatus::kExpired;
    m.holds.push_back(rec);
  } else if (hold.phase == HoldPhase::kOpen) {
    result.amount = hold.amount;
    m.holds.push_back(rec);
  }
  const int64_t released = result.amount;
  auto reserve = [hold_id, released](TenantState& ts, int sign) {
    HoldState& hs = ts.holds.at(hold_id);
    AddHeld(ts, ts.accounts.at(hs.account_id), -sign * released);
    hs.phase = sign > 0 ? HoldPhase::kReleasing : HoldPhase::kOpen;
  };
  auto apply = [this, hold_id, released, reserve](TenantState& ts) {
    if (released == 0) return;
    reserve(ts, -1);
    CloseHold(ts, hold_id, ts.holds.at(hold_id), HoldPhase::kReleased);
  };
  auto undo = [reserve, released](TenantState& ts) {
    if (released > 0) reserve(ts, -1);
  };
  if (SubmitLocked(t, idem, result, std::move(m), std::move(apply), std::move(undo),
                   std::move(done), later) &&
      released > 0) {
    reserve(*t, +1);
  }
  return true;
}

// Marks a hold closed. The caller has already taken its amount out of `held` if it was open
// or in flight; for kOpen holds (expiry), this does it.
void Ledger::CloseHold(TenantState& t, const std::string& hold_id, HoldState& h, HoldPhase phase) {
  if (h.phase == HoldPhase::kOpen) AddHeld(t, t.accounts.at(h.account_id), -h.amount);
  TL_INVARIANT(t.accounts.at(h.account_id).held >= 0);
  TL_INVARIANT(t.open_holds > 0);
  --t.open_holds;
  t.expiry.erase({h.expires_at_us, hold_id});
  if (phase == HoldPhase::kExpired && h.segment != 0) {
    // Its closed row goes with its segment's drop, which deletes the open record, whether or not
    // the call that found it expired (a Debit, a Release) commits.
    if (auto seg = t.hold_segments.find(h.segment); seg != t.hold_segments.end()) {
      seg->second.expired.push_back(HoldRow(t, hold_id, h, HoldStatus::kExpired));
    }
  }
  LeaveSegment(t, hold_id, h);
  h.phase = phase;
  h.closed_at_us = clock_->NowMicros();
  t.closed.emplace_back(h.closed_at_us, hold_id);
}

HoldRecord Ledger::HoldRow(TenantState& t, const std::string& hold_id, const HoldState& h,
                           HoldStatus status) {
  HoldRecord row{t.record.tenant_id, hold_id,         h.account_id, h.amount,
                 h.created_at_us,    h.expires_at_us, status,       h.idempotency_key};
  // Every row carries the Authorize's answer: the open record, in a segment, is deleted once the
  // hold has closed, or once the hold has moved to a newer segment. It is encoded again from the
  // hold (the same bytes as the answer given); a hold loaded without one takes it from the key
  // cache, and without it there the row goes without it (a retry of that Authorize after a
  // restart is then decided afresh).
  if (h.answer_known) {
    row.fingerprint = h.fingerprint;
    row.response = EncodeResult(OpResult{.id = hold_id,
                                         .amount = h.amount,
                                         .available = h.available_after,
                                         .expires_at_us = h.expires_at_us});
  } else if (const IdempotencyEntry* e = t.idempotency.Find(h.idempotency_key);
             e != nullptr && !e->pending) {
    row.fingerprint = e->fingerprint;
    row.response = e->response;
  }
  return row;
}

// ---- expiry and reconciliation ----------------------------------------------------------------

int64_t Ledger::ExpireHolds() {
  std::vector<std::shared_ptr<TenantState>> tenants;
  {
    absl::ReaderMutexLock lock(&tenants_mu_);
    tenants.reserve(tenants_.size());
    for (const auto& [id, t] : tenants_) tenants.push_back(t);
  }
  int64_t expired = 0;
  for (const auto& t : tenants) expired += ExpireTenantHolds(t);
  return expired;
}

int64_t Ledger::ExpireTenantHolds(const std::shared_ptr<TenantState>& t) {
  const int64_t now = clock_->NowMicros();
  const int64_t forget_before = now - absl::ToInt64Microseconds(options_.closed_hold_retention);
  absl::MutexLock lock(&t->mu);
  int64_t expired = 0;
  // An expiry is not written: it follows from expires_at, which the store has (a hold loaded
  // open past its expiry is loaded expired). A capture or release of an expired hold writes it.
  // A hold whose capture or release is being committed stays in the index: if that commit fails
  // it is open again, and expires at a later sweep.
  // (Erasing from a btree invalidates its iterators: each step looks its entry up again.)
  std::optional<std::pair<int64_t, std::string>> in_flight;  // the last entry skipped
  while (static_cast<size_t>(expired) < options_.expire_batch_max) {
    auto entry = in_flight ? t->expiry.upper_bound(*in_flight) : t->expiry.begin();
    if (entry == t->expiry.end() || entry->first.first > now) break;
    auto it = t->holds.find(entry->first.second);
    if (it == t->holds.end() || it->second.phase >= HoldPhase::kCaptured) {
      t->expiry.erase(entry);  // not expected: a closed hold leaves the index
      continue;
    }
    if (it->second.phase != HoldPhase::kOpen) {
      in_flight = entry->first;
      continue;
    }
    const std::string hold_id = entry->first.second;
    CloseHold(*t, hold_id, it->second, HoldPhase::kExpired);  // erases the entry
    ++expired;
  }
  // Closed holds are remembered for a while, and up to a number, then forgotten (a Debit naming
  // a hold not in memory asks the store about it).
  while (!t->closed.empty() && (t->closed.front().first < forget_before ||
                                t->closed.size() > options_.closed_holds_max)) {
    auto it = t->holds.find(t->closed.front().second);
    if (it != t->holds.end() && it->second.phase >= HoldPhase::kCaptured) t->holds.erase(it);
    t->closed.pop_front();
  }
  SweepSegments(*t, now);
  return expired;
}

int64_t Ledger::HoldSegmentSpanMicros() const {
  return std::max<int64_t>(1, absl::ToInt64Microseconds(options_.hold_segment_span));
}

int64_t Ledger::CurrentHoldSegment(TenantState& t, int64_t now_us) {
  t.hold_segment_current = std::max(t.hold_segment_current, now_us / HoldSegmentSpanMicros() + 1);
  return t.hold_segment_current;
}

int64_t Ledger::JournalIntoSegment(TenantState& t, const std::string& id, HoldState& h,
                                   int64_t now_us) {
  h.segment = CurrentHoldSegment(t, now_us);
  HoldSegmentState& seg = t.hold_segments[h.segment];
  ++seg.open;
  ++seg.journaled;
  if (auto e = t.expiry.find({h.expires_at_us, id}); e != t.expiry.end()) e->second = h.segment;
  return h.segment;
}

void Ledger::LeaveSegment(TenantState& t, const std::string& id, HoldState& h) {
  if (h.segment == 0) return;
  auto it = t.hold_segments.find(h.segment);
  h.segment = 0;
  if (auto e = t.expiry.find({h.expires_at_us, id}); e != t.expiry.end()) e->second = 0;
  if (it == t.hold_segments.end()) return;
  TL_INVARIANT(it->second.open > 0);
  --it->second.open;
}

void Ledger::SweepSegments(TenantState& t, int64_t now_us) {
  // Segments below the current one are sealed: nothing is journaled into them any more. The
  // scan is over the segments with open holds, a few per second of the longest hold lifetime.
  const int64_t current = CurrentHoldSegment(t, now_us);
  const int64_t compact_below =
      current -
      absl::ToInt64Microseconds(options_.hold_segment_compact_after) / HoldSegmentSpanMicros();
  std::vector<int64_t> drop;
  absl::flat_hash_set<int64_t> candidates;
  size_t moving = 0;  // open holds to write again
  for (auto it = t.hold_segments.begin(); it != t.hold_segments.end() && it->first < current &&
                                          drop.size() < options_.expire_batch_max;
       ++it) {
    const HoldSegmentState& seg = it->second;
    if (seg.open == 0) {
      drop.push_back(it->first);
    } else if (!t.compaction && it->first < compact_below && seg.open * 8 <= seg.journaled &&
               moving + seg.open <= options_.expire_batch_max) {
      // Mostly closed, and old enough that its calls have had their time: to be compacted.
      candidates.insert(it->first);
      moving += seg.open;
    }
  }
  if (!candidates.empty()) {
    t.compaction.emplace();
    t.compaction->segments = std::move(candidates);
  }
  // A compaction's open holds are found through the expiry index (which holds the open holds
  // only), a bounded share of it per sweep.
  std::vector<std::pair<std::string, HoldState*>> moved;
  if (t.compaction) {
    TenantState::SegmentCompaction& c = *t.compaction;
    auto it = c.cursor ? t.expiry.lower_bound(*c.cursor) : t.expiry.begin();
    for (size_t n = 0; it != t.expiry.end() && n < options_.hold_compaction_scan_max; ++it, ++n) {
      if (c.segments.contains(it->second)) c.found.push_back(it->first.second);
    }
    if (it != t.expiry.end()) {
      c.cursor = it->first;  // resumed there at the next sweep: the entries before it are done
    } else {
      // Scanned: every hold of the chosen segments not closed yet was seen (nothing is journaled
      // into a sealed segment, and a hold leaves the index only as it closes). A segment is
      // compacted when the holds found still in it are all it counts. One whose capture or
      // release is in flight is moved too: the stores keep a closed hold closed whatever open
      // record follows its closing one.
      absl::flat_hash_map<int64_t, std::vector<std::pair<std::string, HoldState*>>> by_segment;
      for (std::string& id : c.found) {
        auto h = t.holds.find(id);
        if (h == t.holds.end() || !c.segments.contains(h->second.segment)) continue;
        by_segment[h->second.segment].emplace_back(std::move(id), &h->second);
      }
      for (auto& [segment, holds] : by_segment) {
        auto seg = t.hold_segments.find(segment);
        if (seg == t.hold_segments.end() || static_cast<size_t>(seg->second.open) != holds.size()) {
          continue;  // not all accounted for: left as it is
        }
        drop.push_back(segment);
        std::move(holds.begin(), holds.end(), std::back_inserter(moved));
      }
      t.compaction.reset();
    }
  }
  if (drop.empty()) return;
  Mutation m;
  for (int64_t segment : drop) {
    m.dropped_hold_segments.push_back({t.record.tenant_id, segment});
    // With the segment's records go those of its expired holds: their closed rows are written in
    // the same commit, with their Authorize answers.
    for (const HoldRecord& row : t.hold_segments.at(segment).expired) m.holds.push_back(row);
  }
  for (const auto& [id, h] : moved) {
    m.holds.push_back(HoldRow(t, id, *h, HoldStatus::kOpen));
    m.holds.back().segment = current;
  }
  // Refused (the queue is full): tried again at the next sweep (a compaction, after a new scan).
  // A drop that fails to commit leaves rows whose holds have all closed: harmless (a closing row
  // wins over an open record), and pruned once expired; a failed compaction leaves the
  // segment's rows, which still record the holds it would have moved.
  if (!journal_->SubmitDeferred(std::move(m), nullptr).ok()) return;
  for (int64_t segment : drop) t.hold_segments.erase(segment);
  for (const auto& [id, h] : moved) {
    h->segment = 0;  // its old segment is gone
    JournalIntoSegment(t, id, *h, now_us);
  }
}

int64_t Ledger::JournalHolds(bool all) {
  std::vector<std::shared_ptr<TenantState>> tenants;
  {
    absl::MutexLock lock(&tenants_mu_);
    tenants.reserve(tenants_.size());
    for (const auto& [id, t] : tenants_) tenants.push_back(t);
  }
  int64_t journaled = 0;
  for (const auto& t : tenants) journaled += JournalTenantHolds(t, all);
  return journaled;
}

int64_t Ledger::JournalTenantHolds(const std::shared_ptr<TenantState>& t, bool all) {
  const int64_t now = clock_->NowMicros();
  int64_t journaled = 0;
  absl::MutexLock lock(&t->mu);
  while (!t->unjournaled.empty() && (all || t->unjournaled.front().first <= now)) {
    Mutation m;
    std::vector<std::pair<int64_t, std::string>> taken;
    while (!t->unjournaled.empty() && (all || t->unjournaled.front().first <= now) &&
           m.holds.size() < options_.expire_batch_max) {
      taken.push_back(std::move(t->unjournaled.front()));
      t->unjournaled.pop_front();
      auto it = t->holds.find(taken.back().second);
      // A hold closed meanwhile was written by its closing (or is being: if that fails and the
      // hold reopens, its next closing writes it).
      if (it == t->holds.end() || it->second.phase != HoldPhase::kOpen || it->second.journaled) {
        continue;
      }
      m.holds.push_back(HoldRow(*t, it->first, it->second, HoldStatus::kOpen));
      m.holds.back().segment = JournalIntoSegment(*t, it->first, it->second, now);
      it->second.journaled = true;
    }
    if (m.holds.empty()) continue;
    const auto n = static_cast<int64_t>(m.holds.size());
    std::vector<std::string> ids;
    ids.reserve(m.holds.size());
    for (const HoldRecord& h : m.holds) ids.push_back(h.hold_id);
    t->journal_full = !journal_->SubmitDeferred(std::move(m), nullptr).ok();
    if (t->journal_full) {
      // The queue is full (or closing): the holds wait for the next sweep, and Authorize sheds
      // load meanwhile.
      for (const std::string& id : ids) {
        HoldState& h = t->holds.at(id);
        h.journaled = false;
        LeaveSegment(*t, id, h);
      }
      t->unjournaled.insert(t->unjournaled.begin(), std::make_move_iterator(taken.begin()),
                            std::make_move_iterator(taken.end()));
      break;
    }
    journaled += n;
  }
  return journaled;
}

void Ledger::Reconcile(const std::string& tenant, bool fix, ReconcileCallback done,
                       const std::string& actor) {
  if (!GetTenant(tenant)) return std::move(done)(absl::NotFoundError("tenant not found"));
  auto slot = std::make_shared<ReconcileCallback>(std::move(done));
  absl::Status s = journal_->RunExclusive([this, tenant, fix, actor, slot](LedgerStore& store) {
    RunReconcile(store, tenant, fix, actor, std::move(*slot));
  });
  if (!s.ok()) std::move (*slot)(s);
}

namespace {

void CompareTotals(const std::string& account, const PostedTotals& want, const PostedTotals& got,
                   absl::string_view source, std::vector<ReconcileMismatch>& out) {
  const std::pair<const char*, int64_t PostedTotals::*> fields[] = {
      {"credits", &PostedTotals::credits},
      {"debits", &PostedTotals::debits},
      {"granted", &PostedTotals::granted},
      {"spent", &PostedTotals::spent},
      {"expired", &PostedTotals::expired}};
  for (const auto& [name, member] : fields) {
    if (want.*member != got.*member) {
      out.push_back(
          ReconcileMismatch{account, name, want.*member, got.*member, std::string(source)});
    }
  }
}

}  // namespace

// Runs on the writer's thread between batches: everything queued before it is committed and
// applied, so the store, the transfers and the posted totals in memory must agree exactly.
void Ledger::RunReconcile(LedgerStore& store, const std::string& tenant, bool fix,
                          const std::string& actor, ReconcileCallback done) {
  ReconcileReport report;
  std::shared_ptr<TenantState> t = GetTenant(tenant);
  report.expired_holds_released = ExpireTenantHolds(t);
  absl::StatusOr<ReconcileData> data = store.Recompute(tenant);
  if (!data.ok()) return std::move(done)(data.status());
  report.transfers_checked = data->transfers_checked;
  report.ledger_sum = data->ledger_sum;
  report.periods_checked = data->periods_checked;
  for (const auto& p : data->period_problems) {
    report.mismatches.push_back(
        ReconcileMismatch{p.account_id, absl::StrCat("period ", p.period_start_us, " ", p.field),
                          p.expected, p.found, "periods"});
  }
  std::vector<std::pair<std::string, PostedTotals>> store_repairs;
  {
    absl::MutexLock lock(&t->mu);
    // Holds: each account's `held` must be the sum of its open holds (a hold whose capture or
    // release is in flight has already left `held`).
    absl::flat_hash_map<std::string, int64_t> held;
    for (const auto& [id, h] : t->holds) {
      if (h.phase == HoldPhase::kOpen) held[h.account_id] += h.amount;
    }
    for (const auto& row : data->rows) {
      ++report.accounts_checked;
      size_t before = report.mismatches.size();
      CompareTotals(row.account_id, row.recomputed, row.stored, "store", report.mismatches);
      if (report.mismatches.size() != before)
        store_repairs.emplace_back(row.account_id, row.recomputed);
      auto it = t->accounts.find(row.account_id);
      if (it == t->accounts.end()) {
        report.mismatches.push_back(ReconcileMismatch{row.account_id, "present", 1, 0, "cache"});
        continue;
      }
      before = report.mismatches.size();
      CompareTotals(row.account_id, row.recomputed, it->second.posted, "cache", report.mismatches);
      const int64_t want_held = held[row.account_id];
      if (it->second.held != want_held) {
        report.mismatches.push_back(
            ReconcileMismatch{row.account_id, "held", want_held, it->second.held, "cache"});
      }
      if (fix && report.mismatches.size() != before) {
        it->second.posted = row.recomputed;
        AddHeld(*t, it->second, want_held - it->second.held);
      }
    }
  }
  if (fix && !report.mismatches.empty()) {
    std::string detail = absl::StrCat("repaired ", report.mismatches.size(), " mismatches:");
    for (const ReconcileMismatch& m : report.mismatches) {
      absl::StrAppend(&detail, " ", m.account_id, " ", m.field, " ", m.found, "->", m.expected,
                      " (", m.source, ");");
    }
    AuditRecord audit{.tenant_id = tenant,
                      .actor_key_id = actor,
                      .action = "Reconcile",
                      .target = tenant,
                      .detail = std::move(detail),
                      .created_at_us = clock_->NowMicros()};
    if (absl::Status s = store.RepairBalances(tenant, store_repairs, audit); !s.ok()) {
      return std::move(done)(s);
    }
  }
  if (fix) {
    report.fixed = true;
    for (const auto& m : report.mismatches) {
      if (m.source != "periods") report.repaired.push_back(m);  // period rows are not rewritten
    }
  }
  std::move(done)(std::move(report));
}

EngineStats Ledger::stats() const {
  std::vector<std::shared_ptr<TenantState>> tenants;
  {
    absl::ReaderMutexLock lock(&tenants_mu_);
    for (const auto& [id, t] : tenants_) tenants.push_back(t);
  }
  EngineStats s;
  s.tenants = tenants.size();
  for (const auto& t : tenants) {
    absl::MutexLock lock(&t->mu);
    s.accounts += t->accounts.size();
    s.open_holds += t->open_holds;
    s.expiry_entries += t->expiry.size();
    s.hold_segments += t->hold_segments.size();
  }
  s.resets_performed = resets_performed_.load(std::memory_order_relaxed);
  return s;
}

// ---- period resets ---------------------------------------------------------------------------

// Counts the resets of one RunResets call until the last one completes.
struct Ledger::ResetTally {
  explicit ResetTally(CountCallback d) : done(std::move(d)) {}
  void Add() {
    absl::MutexLock lock(&mu);
    ++pending;
  }
  void Finish(bool performed, const absl::Status& status) {
    CountCallback cb;
    int64_t n = 0;
    absl::Status err;
    {
      absl::MutexLock lock(&mu);
      if (performed) ++count;
      if (!status.ok() && first_error.ok()) first_error = status;
      if (--pending > 0 || !done) return;
      cb = std::move(done);
      n = count;
      err = first_error;
    }
    if (err.ok()) {
      std::move(cb)(n);
    } else {
      std::move(cb)(err);
    }
  }
  absl::Mutex mu;
  int64_t pending ABSL_GUARDED_BY(mu) = 1;  // the submitting call's own share
  int64_t count ABSL_GUARDED_BY(mu) = 0;
  absl::Status first_error ABSL_GUARDED_BY(mu);
  CountCallback done ABSL_GUARDED_BY(mu);
};

void Ledger::RunResets(const std::string& tenant, absl::Time as_of, CountCallback done,
                       size_t accounts_max) {
  size_t budget = accounts_max;
  auto tally = std::make_shared<ResetTally>(std::move(done));
  std::vector<std::shared_ptr<TenantState>> tenants;
  if (!tenant.empty()) {
    if (auto t = GetTenant(tenant)) tenants.push_back(std::move(t));
  } else {
    absl::ReaderMutexLock lock(&tenants_mu_);
    for (const auto& [id, t] : tenants_) tenants.push_back(t);
  }
  for (const auto& t : tenants) {
    DeferredAnswers later;  // given after the lock is released
    absl::MutexLock lock(&t->mu);
    const int64_t period = WindowsAt(t->tz, as_of).period_start_us;
    if (t->resets_done_for_us == period) continue;  // all queued already: the cheap common case
    bool all = true;
    std::vector<std::string> due;
    t->accounts.ForEach([&](const std::string& id, const AccountState& a) {
      if (a.has_policy && a.status != AccountStatus::kClosed && a.last_reset_us < period) {
        due.push_back(id);
      }
    });
    for (const auto& id : due) {
      if (budget == 0 || !SubmitResets(t, id, period, tally, later)) {
        all = false;  // this call's share is used, or the journal is full: the next continues
        break;
      }
      --budget;
    }
    if (all) t->resets_done_for_us = period;
  }
  tally->Finish(false, absl::OkStatus());
}

bool Ledger::SubmitResets(const std::shared_ptr<TenantState>& t, const std::string& account_id,
                          int64_t period_us, const std::shared_ptr<ResetTally>& tally,
                          DeferredAnswers& later) {
  constexpr int kCatchUpPeriodsMax = 36;  // after longer downtime only the last 36 are performed
  AccountState& a = t->accounts.at(account_id);
  const std::string& tenant = t->record.tenant_id;
  std::vector<int64_t> periods;
  const absl::CivilMonth target = absl::ToCivilMonth(absl::FromUnixMicros(period_us), t->tz);
  absl::CivilMonth m = a.last_reset_us == 0
                           ? target  // never reset: the current period's first allocation
                           : absl::ToCivilMonth(absl::FromUnixMicros(a.last_reset_us), t->tz) + 1;
  if (target - m >= kCatchUpPeriodsMax) m = target - (kCatchUpPeriodsMax - 1);
  for (; m <= target; ++m) periods.push_back(absl::ToUnixMicros(absl::FromCivil(m, t->tz)));
  int64_t projected = a.Available();
  const int64_t now = clock_->NowMicros();
  for (int64_t p : periods) {
    const bool first = a.last_reset_us == 0;
    const int64_t positive = std::max<int64_t>(projected, 0);
    const int64_t carried = first ? positive : std::min(a.policy.rollover_max, positive);
    const int64_t expired = positive - carried;
    const int64_t granted = a.policy.monthly_allocation;
    const AccountState& funding = t->accounts.at(std::string(kFundingAccount));
    if (!FitsAdd(a.posted.credits, a.pending_credit, granted) ||
        !FitsAdd(funding.posted.debits, funding.pending_debit, granted)) {
      return true;  // cannot be performed without overflow; skipped, not retried in a loop
    }
    Mutation m;
    m.periods.push_back(PeriodRecord{tenant, account_id, p, carried, expired, granted, now});
    std::vector<TransferRecord> transfers;
    const std::string when = absl::FormatTime("%Y-%m", absl::FromUnixMicros(p), t->tz);
    if (expired > 0) {
      transfers.push_back(TransferRecord{.tenant_id = tenant,
                                         .transfer_id = NewId("t_"),
                                         .debit_account_id = account_id,
                                         .credit_account_id = std::string(kExpiredAccount),
                                         .amount = expired,
                                         .kind = TransferKind::kResetExpire,
                                         .created_at_us = now,
                                         .memo = absl::StrCat("period reset ", when)});
    }
    if (granted > 0) {
      transfers.push_back(TransferRecord{.tenant_id = tenant,
                                         .transfer_id = NewId("t_"),
                                         .debit_account_id = std::string(kFundingAccount),
                                         .credit_account_id = account_id,
                                         .amount = granted,
                                         .kind = TransferKind::kResetGrant,
                                         .created_at_us = now,
                                         .memo = absl::StrCat("period reset ", when)});
    }
    m.transfers = transfers;
    // The same key and fingerprint in every process: a second daemon's reset of this account
    // and period is recognised by the store as a replay and skipped.
    const std::string key = absl::StrCat("reset:", account_id, ":", p);
    const IdemArgs idem{key, 0x7265736574ull};
    const std::string nonce = NewId("reset_");
    OpResult result{.id = nonce, .amount = granted};
    const int64_t previous = a.last_reset_us;
    auto reserve = [account_id, transfers](TenantState& ts, int sign) {
      for (const auto& tr : transfers) {
        ts.accounts.at(tr.debit_account_id).pending_debit += sign * tr.amount;
        ts.accounts.at(tr.credit_account_id).pending_credit += sign * tr.amount;
      }
    };
    auto apply = [this, reserve, transfers](TenantState& ts) {
      reserve(ts, -1);
      for (const auto& tr : transfers) ApplyPostedTransfer(ts, tr);
    };
    auto undo = [reserve, account_id, p, previous](TenantState& ts) {
      reserve(ts, -1);
      AccountState& acc = ts.accounts.at(account_id);
      if (acc.last_reset_us == p) acc.last_reset_us = previous;
      ts.resets_done_for_us = 0;  // let the scheduler try again
    };
    if (t->idempotency.Find(key) != nullptr) {  // already done or in flight in this process
      a.last_reset_us = std::max(a.last_reset_us, p);
      continue;
    }
    tally->Add();
    auto count = [this, tally, nonce](absl::StatusOr<OpResult> r) {
      const bool performed = r.ok() && r->id == nonce;
      if (performed) resets_performed_.fetch_add(1, std::memory_order_relaxed);
      tally->Finish(performed, r.status());
    };
    if (!SubmitLocked(t, idem, result, std::move(m), std::move(apply), std::move(undo),
                      std::move(count), later)) {
      return false;
    }
    reserve(*t, +1);
    a.last_reset_us = p;
    projected = projected - expired + granted;
  }
  return true;
}

}  // namespace tokenledger
