// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "testing/memory_store.h"

#include <algorithm>
#include <iterator>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "types/validate.h"

namespace tokenledger {
namespace {

using Key = std::pair<std::string, std::string>;

// The errors PgStore reports for constraint violations (its SQL error mapping): unique
// violations are kAlreadyExists, everything else kInternal.
absl::Status ForeignKeyViolation(absl::string_view table, absl::string_view what) {
  return absl::InternalError(absl::StrCat(table, ": foreign key violation: ", what));
}
absl::Status CheckViolation(absl::string_view table, absl::string_view what) {
  return absl::InternalError(absl::StrCat(table, ": check violation: ", what));
}
absl::Status UniqueViolation(absl::string_view table, absl::string_view what) {
  return absl::AlreadyExistsError(absl::StrCat(table, ": duplicate key: ", what));
}

std::string Quoted(absl::string_view a, absl::string_view b) {
  return absl::StrCat("(\"", a, "\", \"", b, "\")");
}

bool ValidPolicy(const std::optional<Policy>& p) {
  if (!p.has_value()) return true;
  for (const ModelLimit& l : p->model_limits) {
    if (l.limit < 0) return false;  // accounts_model_limits
  }
  return p->monthly_allocation >= 0 && p->rollover_max >= 0 && p->daily_limit >= 0 &&
         p->overdraft_limit >= 0;
}

// The transfers CHECKs beyond the kind: transfers_amount and transfers_usage.
absl::Status CheckTransferAmount(const TransferRecord& t) {
  if (t.usage.has_value() && (t.usage->input_tokens < 0 || t.usage->output_tokens < 0 ||
                              t.usage->cached_input_tokens < 0)) {
    return CheckViolation("transfers", "tokens >= 0");
  }
  if (t.amount < 0 || (t.amount == 0 && !t.usage.has_value())) {
    return CheckViolation("transfers", "amount > 0, or 0 with usage");
  }
  if (t.debit_account_id == t.credit_account_id) {
    return CheckViolation("transfers", "debit_account_id <> credit_account_id");
  }
  return absl::OkStatus();
}

bool AddTotals(const PostedTotals& a, const PostedTotals& b, PostedTotals& out) {
  return CheckedAdd(a.credits, b.credits, out.credits) &&
         CheckedAdd(a.debits, b.debits, out.debits) &&
         CheckedAdd(a.granted, b.granted, out.granted) && CheckedAdd(a.spent, b.spent, out.spent) &&
         CheckedAdd(a.expired, b.expired, out.expired);
}

}  // namespace

absl::StatusOr<std::vector<MutationOutcome>> MemoryStore::Commit(
    absl::Span<const Mutation* const> batch, uint64_t batch_id) {
  for (const Mutation* m : batch) {
    if (m == nullptr) return absl::InvalidArgumentError("batch holds a null mutation");
    if (absl::Status s = CheckStorableText(*m); !s.ok()) return s;
  }
  absl::MutexLock lock(&mu_);
  Staging st;
  std::vector<MutationOutcome> outcomes = ClaimKeys(batch, st);
  // The same order as PgStore's statements, so that a batch breaking two rules fails alike.
  absl::Status s = StageTenants(st);
  if (s.ok()) s = StageAccounts(st);
  if (s.ok()) s = StageTeams(st);
  if (s.ok()) s = StageApiKeys(st);
  if (s.ok()) s = StagePrices(st);
  if (s.ok()) s = StageHolds(st);
  if (s.ok()) s = StagePeriods(st);
  if (s.ok()) s = StageTransfers(st);
  if (!s.ok()) return s;
  if (batches_.contains(batch_id)) {
    return UniqueViolation("commit_batches", absl::StrCat("batch_id ", batch_id));
  }
  Apply(st, batch_id);
  return outcomes;
}

std::vector<MutationOutcome> MemoryStore::ClaimKeys(absl::Span<const Mutation* const> batch,
                                                    Staging& st) {
  std::vector<MutationOutcome> outcomes(batch.size());
  st.live.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const Mutation& m = *batch[i];
    if (m.idempotency.has_value()) {
      Key key{m.idempotency->tenant_id, m.idempotency->key};
      if (auto it = idempotency_.find(key); it != idempotency_.end()) {
        outcomes[i].committed = false;
        outcomes[i].existing = it->second;
        continue;
      }
      if (auto it = st.new_keys.find(key); it != st.new_keys.end()) {
        outcomes[i].committed = false;
        outcomes[i].existing = *it->second;
        continue;
      }
      st.new_keys.emplace(std::move(key), &*m.idempotency);
    }
    st.live.push_back(&m);
  }
  return outcomes;
}

bool MemoryStore::TenantExists(const Staging& st, const std::string& id) const {
  return tenants_.contains(id) || st.tenants.contains(id);
}

bool MemoryStore::AccountExists(const Staging& st, const Key& key) const {
  return accounts_.contains(key) || st.accounts.contains(key);
}

// Tenants, each with its system accounts and their zero balances.
absl::Status MemoryStore::StageTenants(Staging& st) {
  for (const Mutation* m : st.live) {
    if (!m->tenant.has_value()) continue;
    const TenantRecord& t = *m->tenant;
    if (TenantExists(st, t.tenant_id)) {
      return UniqueViolation("tenants", absl::StrCat("tenant_id \"", t.tenant_id, "\""));
    }
    st.tenants[t.tenant_id] = t;
    for (AccountRecord& a : SystemAccountsOf(t)) {
      Key key{t.tenant_id, a.account_id};
      st.accounts[key] = std::move(a);
      st.balances[key] = PostedTotals{};
    }
  }
  return absl::OkStatus();
}

// Accounts: upserted. A row written twice keeps its first created_at (an update never changes
// it) and takes everything else from the last write, as PgStore's in-batch dedupe does.
absl::Status MemoryStore::StageAccounts(Staging& st) {
  for (const Mutation* m : st.live) {
    if (!m->account.has_value()) continue;
    const AccountRecord& a = *m->account;
    Key key{a.tenant_id, a.account_id};
    if (!ValidPolicy(a.policy)) return CheckViolation("accounts", "negative policy value");
    if (a.status < AccountStatus::kActive || a.status > AccountStatus::kClosed) {
      return CheckViolation("accounts", "status out of range");
    }
    if (!TenantExists(st, a.tenant_id)) {
      return ForeignKeyViolation("accounts", absl::StrCat("no tenant \"", a.tenant_id, "\""));
    }
    AccountRecord rec = a;
    if (rec.policy.has_value()) {
      rec.policy->model_limits = NormalizeModelLimits(rec.policy->model_limits);
    }
    if (auto it = st.accounts.find(key); it != st.accounts.end()) {
      rec.created_at_us = it->second.created_at_us;
    } else if (auto it = accounts_.find(key); it != accounts_.end()) {
      rec.created_at_us = it->second.created_at_us;
    }
    if (!balances_.contains(key) && !st.balances.contains(key)) {
      st.balances[key] = PostedTotals{};
    }
    st.accounts[key] = std::move(rec);
  }
  return absl::OkStatus();
}

// Teams: upserted, the last write wins.
absl::Status MemoryStore::StageTeams(Staging& st) {
  for (const Mutation* m : st.live) {
    if (!m->team.has_value()) continue;
    const TeamRecord& t = *m->team;
    if (t.monthly_cap < 0) return CheckViolation("teams", "negative monthly_cap");
    if (!TenantExists(st, t.tenant_id)) {
      return ForeignKeyViolation("teams", absl::StrCat("no tenant \"", t.tenant_id, "\""));
    }
    st.teams[{t.tenant_id, t.team_id}] = t;
  }
  return absl::OkStatus();
}

// API keys: inserted; a key_id that exists only has its revoked flag updated.
absl::Status MemoryStore::StageApiKeys(Staging& st) {
  for (const Mutation* m : st.live) {
    if (!m->api_key.has_value()) continue;
    const ApiKeyRecord& k = *m->api_key;
    if (k.role < Role::kOperator || k.role > Role::kAuditor ||
        (k.role == Role::kOperator) != k.tenant_id.empty()) {
      return CheckViolation("api_keys", "role and tenant_id do not match");
    }
    if (auto it = st.api_keys.find(k.key_id); it != st.api_keys.end()) {
      it->second.revoked = k.revoked;
      continue;
    }
    if (auto it = api_keys_.find(k.key_id); it != api_keys_.end()) {
      ApiKeyRecord rec = it->second;
      rec.revoked = k.revoked;
      st.api_keys[k.key_id] = std::move(rec);
      continue;
    }
    if (!k.tenant_id.empty() && !TenantExists(st, k.tenant_id)) {
      return ForeignKeyViolation("api_keys", absl::StrCat("no tenant \"", k.tenant_id, "\""));
    }
    if (key_hashes_.contains(k.key_hash) || !st.new_hashes.insert(k.key_hash).second) {
      return UniqueViolation("api_keys", "key_hash");
    }
    st.api_keys[k.key_id] = k;
  }
  return absl::OkStatus();
}

// Holds: inserted; a hold_id that exists only has its status updated.
absl::Status MemoryStore::StageHolds(Staging& st) {
  for (const Mutation* m : st.live) {
    for (const HoldRecord& h : m->holds) {
      if (h.amount < 0) return CheckViolation("holds", "amount >= 0");
      if (h.status < HoldStatus::kOpen || h.status > HoldStatus::kExpired) {
        return CheckViolation("holds", "status out of range");
      }
      Key key{h.tenant_id, h.hold_id};
      // A hold only ever closes (like PgStore's WHERE status = 1): a late creation record, or a
      // compaction's rewrite, does not reopen a hold whose capture committed first. An open
      // hold's record written again (its segment compacted) replaces the one before, as in
      // PgStore, where the old segment's row is deleted in the same commit.
      auto close_or_move = [&h](HoldRecord& rec) {
        if (rec.status != HoldStatus::kOpen) return;
        if (h.status == HoldStatus::kOpen) {
          rec = h;
        } else {
          rec.status = h.status;
        }
      };
      if (auto it = st.holds.find(key); it != st.holds.end()) {
        close_or_move(it->second);
        continue;
      }
      if (auto it = holds_.find(key); it != holds_.end()) {
        HoldRecord rec = it->second;
        close_or_move(rec);
        st.holds[key] = std::move(rec);
        continue;
      }
      if (!AccountExists(st, {h.tenant_id, h.account_id})) {
        return ForeignKeyViolation("holds",
                                   absl::StrCat("no account ", Quoted(h.tenant_id, h.account_id)));
      }
      st.holds[key] = h;
    }
  }
  return absl::OkStatus();
}

// Prices: inserted; a (tenant, model, effective_at) that exists, in the store or earlier in the
// batch, fails the batch.
absl::Status MemoryStore::StagePrices(Staging& st) {
  for (const Mutation* m : st.live) {
    for (const PriceRecord& p : m->prices) {
      if (p.model.empty()) return CheckViolation("prices", "model <> ''");
      if (p.effective_at_us < 0) return CheckViolation("prices", "effective_at >= 0");
      if (p.input_per_million < 0 || p.output_per_million < 0 || p.cached_input_per_million < 0) {
        return CheckViolation("prices", "prices >= 0");
      }
      if (!TenantExists(st, p.tenant_id)) {
        return ForeignKeyViolation("prices", absl::StrCat("no tenant \"", p.tenant_id, "\""));
      }
      PriceKey key{p.tenant_id, p.model, p.effective_at_us};
      if (prices_.contains(key) || !st.prices.emplace(key, p).second) {
        return UniqueViolation("prices", absl::StrCat("effective_at ", p.effective_at_us, " of ",
                                                      Quoted(p.tenant_id, p.model)));
      }
    }
  }
  return absl::OkStatus();
}

// Periods: inserted; an (account, period) that exists fails the batch (the exactly-once guard
// of resets).
absl::Status MemoryStore::StagePeriods(Staging& st) {
  for (const Mutation* m : st.live) {
    for (const PeriodRecord& p : m->periods) {
      if (p.expired < 0 || p.granted < 0) {
        return CheckViolation("periods", "expired >= 0 AND granted >= 0");
      }
      if (!AccountExists(st, {p.tenant_id, p.account_id})) {
        return ForeignKeyViolation("periods",
                                   absl::StrCat("no account ", Quoted(p.tenant_id, p.account_id)));
      }
      PeriodKey key{{p.tenant_id, p.account_id}, p.period_start_us};
      if (periods_.contains(key) || !st.periods.emplace(key, p).second) {
        return UniqueViolation("periods", absl::StrCat("period ", p.period_start_us, " of ",
                                                       Quoted(p.tenant_id, p.account_id)));
      }
    }
  }
  return absl::OkStatus();
}

// Transfers, appended in batch order with increasing seq; balance deltas summed per account
// first and then added to the stored totals, as PgStore's one aggregated update does.
absl::Status MemoryStore::StageTransfers(Staging& st) {
  st.next_seq = next_seq_;
  std::map<Key, PostedTotals> deltas;
  for (const Mutation* m : st.live) {
    for (const TransferRecord& t : m->transfers) {
      if (absl::Status s = CheckTransferAmount(t); !s.ok()) return s;
      if (t.kind < TransferKind::kGrant || t.kind > TransferKind::kAdjustment) {
        return CheckViolation("transfers", "kind out of range");
      }
      Key debit{t.tenant_id, t.debit_account_id};
      Key credit{t.tenant_id, t.credit_account_id};
      if (!AccountExists(st, debit)) {
        return ForeignKeyViolation(
            "transfers", absl::StrCat("no debit account ", Quoted(debit.first, debit.second)));
      }
      if (!AccountExists(st, credit)) {
        return ForeignKeyViolation(
            "transfers", absl::StrCat("no credit account ", Quoted(credit.first, credit.second)));
      }
      Key id{t.tenant_id, t.transfer_id};
      if (transfer_ids_.contains(id) || !st.transfer_ids.insert(id).second) {
        return UniqueViolation("transfers",
                               absl::StrCat("transfer_id ", Quoted(id.first, id.second)));
      }
      if (!ApplyDebitSide(t, deltas[debit]) || !ApplyCreditSide(t, deltas[credit])) {
        return absl::InternalError("transfers: balance delta out of range for bigint");
      }
      TransferRecord rec = t;
      rec.seq = st.next_seq++;
      rec.metadata = NormalizeMetadata(t.metadata);
      st.transfers.push_back(std::move(rec));
    }
  }
  return StageBalances(deltas, st);
}

absl::Status MemoryStore::StageBalances(const std::map<Key, PostedTotals>& deltas, Staging& st) {
  for (const auto& [key, delta] : deltas) {
    PostedTotals base;
    if (auto it = st.balances.find(key); it != st.balances.end()) {
      base = it->second;
    } else if (auto it = balances_.find(key); it != balances_.end()) {
      base = it->second;
    }
    PostedTotals sum;
    if (!AddTotals(base, delta, sum)) {
      return absl::InternalError("balances: bigint out of range");
    }
    st.balances[key] = sum;
  }
  return absl::OkStatus();
}

// Dropping a segment deletes its records of holds still open there (PgStore: the segment's
// hold_batches rows); a hold's later state is a record of its own and stays.
void MemoryStore::DropHoldSegments(const Staging& st) {
  for (const Mutation* m : st.live) {
    for (const HoldSegment& d : m->dropped_hold_segments) {
      if (d.segment == 0) continue;
      hold_segments_.erase({d.tenant_id, d.segment});
      for (auto it = holds_.lower_bound({d.tenant_id, ""});
           it != holds_.end() && it->first.first == d.tenant_id;) {
        if (it->second.status == HoldStatus::kOpen && it->second.segment == d.segment) {
          it = holds_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
}

// Nothing here can fail.
void MemoryStore::Apply(Staging& st, uint64_t batch_id) {
  for (auto& [id, t] : st.tenants) tenants_[id] = std::move(t);
  for (auto& [key, a] : st.accounts) accounts_[key] = std::move(a);
  for (auto& [key, t] : st.teams) teams_[key] = std::move(t);
  for (auto& [id, k] : st.api_keys) api_keys_[id] = std::move(k);
  key_hashes_.insert(st.new_hashes.begin(), st.new_hashes.end());
  DropHoldSegments(st);
  for (auto& [key, h] : st.holds) {
    if (h.status == HoldStatus::kOpen && h.segment != 0) {
      hold_segments_.emplace(h.tenant_id, h.segment);
    }
    holds_[key] = std::move(h);
  }
  for (auto& [key, p] : st.periods) periods_[key] = std::move(p);
  for (auto& [key, p] : st.prices) prices_[key] = std::move(p);
  for (TransferRecord& t : st.transfers) {
    const size_t pos = transfers_.size();
    transfer_ids_.insert({t.tenant_id, t.transfer_id});
    transfers_by_account_[{t.tenant_id, t.debit_account_id}].push_back(pos);
    transfers_by_account_[{t.tenant_id, t.credit_account_id}].push_back(pos);
    transfers_.push_back(std::move(t));
  }
  next_seq_ = st.next_seq;
  for (const Mutation* m : st.live) {
    for (const AuditRecord& a : m->audit) AppendAuditLocked(a);
  }
  for (auto& [key, totals] : st.balances) balances_[key] = totals;
  for (auto& [key, rec] : st.new_keys) idempotency_[key] = *rec;
  batches_.insert(batch_id);
}

absl::StatusOr<bool> MemoryStore::CommittedBatch(uint64_t batch_id) {
  absl::MutexLock lock(&mu_);
  return batches_.contains(batch_id);
}

absl::StatusOr<Snapshot> MemoryStore::Load() {
  absl::MutexLock lock(&mu_);
  Snapshot s;
  for (const auto& [id, t] : tenants_) s.tenants.push_back(t);
  for (const auto& [id, k] : api_keys_) s.api_keys.push_back(k);
  for (const auto& [key, t] : teams_) s.teams.push_back(t);
  for (const auto& [key, a] : accounts_) {
    Snapshot::AccountBalance ab;
    ab.account = a;
    if (auto it = balances_.find(key); it != balances_.end()) ab.posted = it->second;
    s.accounts.push_back(std::move(ab));
  }
  for (const auto& [key, h] : holds_) s.holds.push_back(h);
  std::map<std::pair<std::string, int64_t>, int64_t> records;
  for (const auto& [key, h] : holds_) {
    if (h.segment != 0) ++records[{h.tenant_id, h.segment}];
  }
  for (const auto& [tenant_id, segment] : hold_segments_) {
    auto it = records.find({tenant_id, segment});
    s.hold_segments.push_back(
        HoldSegment{tenant_id, segment, it == records.end() ? 0 : it->second});
  }
  for (const auto& [key, rec] : idempotency_) s.idempotency.push_back(rec);
  for (const auto& [key, p] : prices_) s.prices.push_back(p);
  // periods_ is ordered by (tenant, account, period_start): the last row of each account is its
  // latest reset.
  for (auto it = periods_.begin(); it != periods_.end(); ++it) {
    auto next = std::next(it);
    if (next == periods_.end() || next->first.first != it->first.first) {
      s.last_periods.push_back(it->second);
    }
  }
  return s;
}

absl::StatusOr<std::vector<TransferRecord>> MemoryStore::ListTransfers(const TransferQuery& q) {
  if (q.limit <= 0) return absl::InvalidArgumentError("limit must be positive");
  const size_t limit = static_cast<size_t>(std::min(q.limit, kListTransfersMax));
  absl::MutexLock lock(&mu_);
  std::vector<TransferRecord> out;
  auto it = transfers_by_account_.find({q.tenant_id, q.account_id});
  if (it == transfers_by_account_.end()) return out;
  const std::vector<size_t>& positions = it->second;
  // Positions ascend with seq: binary-search the first one at or past before_seq, so that a
  // deep page does not walk the newer transfers.
  size_t lo = 0;
  size_t hi = positions.size();
  while (q.before_seq != 0 && lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (transfers_[positions[mid]].seq < q.before_seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const auto end = q.before_seq != 0 ? positions.begin() + lo : positions.end();
  for (auto rit = std::make_reverse_iterator(end); rit != positions.rend() && out.size() < limit;
       ++rit) {
    const TransferRecord& t = transfers_[*rit];
    if (q.since_us != 0 && t.created_at_us < q.since_us) continue;
    if (q.until_us != 0 && t.created_at_us >= q.until_us) continue;
    out.push_back(t);
  }
  return out;
}

absl::StatusOr<std::optional<IdempotencyRecord>> MemoryStore::GetIdempotency(
    const std::string& tenant_id, const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = idempotency_.find({tenant_id, key});
  if (it == idempotency_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<HoldRecord>> MemoryStore::GetHold(const std::string& tenant_id,
                                                               const std::string& hold_id) {
  absl::MutexLock lock(&mu_);
  auto it = holds_.find({tenant_id, hold_id});
  if (it == holds_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ReconcileData> MemoryStore::Recompute(const std::string& tenant_id) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, ReconcileData::Row> rows;
  for (auto it = accounts_.lower_bound({tenant_id, ""});
       it != accounts_.end() && it->first.first == tenant_id; ++it) {
    ReconcileData::Row& row = rows[it->first.second];
    row.account_id = it->first.second;
    if (auto b = balances_.find(it->first); b != balances_.end()) row.stored = b->second;
  }
  ReconcileData data;
  // RESET_EXPIRE debits and RESET_GRANT credits per (account, created_at), for the period checks.
  ResetSums resets;
  for (const TransferRecord& t : transfers_) {
    if (t.tenant_id != tenant_id) continue;
    ++data.transfers_checked;
    if (t.kind == TransferKind::kResetExpire) {
      int64_t& sum = resets[{t.debit_account_id, t.created_at_us}].first;
      if (!CheckedAdd(sum, t.amount, sum)) {
        return absl::InternalError("recompute: sum out of range for bigint");
      }
    } else if (t.kind == TransferKind::kResetGrant) {
      int64_t& sum = resets[{t.credit_account_id, t.created_at_us}].second;
      if (!CheckedAdd(sum, t.amount, sum)) {
        return absl::InternalError("recompute: sum out of range for bigint");
      }
    }
    ReconcileData::Row& debit = rows[t.debit_account_id];
    debit.account_id = t.debit_account_id;
    ReconcileData::Row& credit = rows[t.credit_account_id];
    credit.account_id = t.credit_account_id;
    if (!ApplyDebitSide(t, debit.recomputed) || !ApplyCreditSide(t, credit.recomputed)) {
      return absl::InternalError("recompute: sum out of range for bigint");
    }
  }
  for (auto it = holds_.lower_bound({tenant_id, ""});
       it != holds_.end() && it->first.first == tenant_id; ++it) {
    const HoldRecord& h = it->second;
    if (h.status != HoldStatus::kOpen) continue;
    ReconcileData::Row& row = rows[h.account_id];
    row.account_id = h.account_id;
    if (!CheckedAdd(row.open_held, h.amount, row.open_held)) {
      return absl::InternalError("recompute: open holds out of range for bigint");
    }
  }
  // Summed wide: per-account differences can exceed int64 on the way even when the total is 0.
  __int128 sum = 0;
  for (auto& [id, row] : rows) {
    sum += static_cast<__int128>(row.recomputed.credits) - row.recomputed.debits;
    data.rows.push_back(std::move(row));
  }
  if (sum > INT64_MAX || sum < INT64_MIN) {
    return absl::InternalError("recompute: ledger sum out of range for bigint");
  }
  data.ledger_sum = static_cast<int64_t>(sum);
  if (absl::Status p = CheckPeriodsLocked(tenant_id, resets, data); !p.ok()) return p;
  return data;
}

absl::Status MemoryStore::CheckPeriodsLocked(const std::string& tenant_id, const ResetSums& resets,
                                             ReconcileData& data) {
  // Period rows, grouped like the reset transfers: by (account, created_at).
  std::map<std::pair<std::string, int64_t>, PeriodGroup> groups;
  for (auto it = periods_.lower_bound({{tenant_id, ""}, INT64_MIN});
       it != periods_.end() && it->first.first.first == tenant_id; ++it) {
    const PeriodRecord& p = it->second;
    ++data.periods_checked;
    PeriodGroup& g = groups[{p.account_id, p.created_at_us}];
    g.last_start = g.rows == 0 ? p.period_start_us : std::max(g.last_start, p.period_start_us);
    ++g.rows;
    if (!CheckedAdd(g.expired, p.expired, g.expired) ||
        !CheckedAdd(g.granted, p.granted, g.granted)) {
      return absl::InternalError("recompute: period sums out of range for bigint");
    }
  }
  for (const auto& [key, g] : groups) {
    auto found = resets.find(key);
    const std::pair<int64_t, int64_t> sums =
        found == resets.end() ? std::pair<int64_t, int64_t>{0, 0} : found->second;
    AddPeriodProblems(key.first, g, sums.first, sums.second, data.period_problems);
  }
  SortPeriodProblems(data.period_problems);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UsageSums>> MemoryStore::SumUsage(const std::string& tenant_id,
                                                             int64_t period_start_us,
                                                             int64_t day_start_us) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, UsageSums> sums;
  // The period's sums of named models, per account (PgStore: a row per (account, model)).
  std::map<std::string, std::map<std::string, int64_t>> by_model;
  for (const TransferRecord& t : transfers_) {
    if (t.tenant_id != tenant_id || t.kind != TransferKind::kUsage) continue;
    const bool in_period = t.created_at_us >= period_start_us;
    const bool in_day = t.created_at_us >= day_start_us;
    if (!in_period && !in_day) continue;
    UsageSums& u = sums[t.debit_account_id];
    u.account_id = t.debit_account_id;
    if ((in_period && !CheckedAdd(u.period_spent, t.amount, u.period_spent)) ||
        (in_day && !CheckedAdd(u.day_spent, t.amount, u.day_spent))) {
      return absl::InternalError("sum usage: out of range for bigint");
    }
    if (in_period && !t.model.empty()) {
      int64_t& spent = by_model[t.debit_account_id][t.model];
      if (!CheckedAdd(spent, t.amount, spent)) {
        return absl::InternalError("sum usage: out of range for bigint");
      }
    }
  }
  std::vector<UsageSums> out;
  out.reserve(sums.size());
  for (auto& [id, u] : sums) {
    for (const auto& [model, spent] : by_model[id]) u.model_spent.emplace_back(model, spent);
    out.push_back(std::move(u));
  }
  return out;
}

absl::Status MemoryStore::RepairBalances(
    const std::string& tenant_id, const std::vector<std::pair<std::string, PostedTotals>>& totals,
    const AuditRecord& audit) {
  absl::MutexLock lock(&mu_);
  // All or nothing: check every row before writing any.
  for (const auto& [account_id, t] : totals) {
    if (!accounts_.contains({tenant_id, account_id})) {
      return ForeignKeyViolation("balances",
                                 absl::StrCat("no account ", Quoted(tenant_id, account_id)));
    }
  }
  for (const auto& [account_id, t] : totals) balances_[{tenant_id, account_id}] = t;
  AppendAuditLocked(audit);
  return absl::OkStatus();
}

void MemoryStore::AppendAuditLocked(const AuditRecord& a) {
  AuditRecord rec = a;
  rec.seq = static_cast<int64_t>(audit_.size()) + 1;
  audit_.push_back(std::move(rec));
}

absl::StatusOr<std::vector<AuditRecord>> MemoryStore::ListAudit(const AuditQuery& q) {
  absl::MutexLock lock(&mu_);
  std::vector<AuditRecord> out;
  for (auto it = audit_.rbegin(); it != audit_.rend() && out.size() < static_cast<size_t>(q.limit);
       ++it) {
    if (it->tenant_id != q.tenant_id) continue;
    if (q.before_seq != 0 && it->seq >= q.before_seq) continue;
    out.push_back(*it);
  }
  return out;
}

void MemoryStore::CorruptBalanceForTest(const std::string& tenant_id, const std::string& account_id,
                                        const PostedTotals& totals) {
  absl::MutexLock lock(&mu_);
  balances_[{tenant_id, account_id}] = totals;
}

size_t MemoryStore::transfer_count() const {
  absl::MutexLock lock(&mu_);
  return transfers_.size();
}

}  // namespace tokenledger
