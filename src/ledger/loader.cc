// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/loader.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "ledger/op_result.h"
#include "ledger/spending_limits.h"

namespace tokenledger {
namespace {

using TenantMap = TenantRegistry::TenantMap;

TenantState* TenantOf(const TenantMap& tenants, const std::string& id) {
  auto it = tenants.find(id);
  return it == tenants.end() ? nullptr : it->second.get();
}

absl::Status LoadAccounts(const TenantMap& tenants, const Snapshot& s) {
  // Grouped per tenant first, so that each tenant's table is sized once and filled under one
  // lock: at a million accounts, a lock per account and the table's growth were a tenth of the
  // load's own time.
  absl::flat_hash_map<TenantState*, std::vector<const Snapshot::AccountBalance*>> by_tenant;
  for (const auto& ab : s.accounts) {
    TenantState* t = TenantOf(tenants, ab.account.tenant_id);
    if (t == nullptr) return absl::DataLossError("account of an unknown tenant in the store");
    by_tenant[t].push_back(&ab);
  }
  for (const auto& [tp, accounts] : by_tenant) {
    TenantState& t = *tp;
    absl::MutexLock lock(&t.mu);
    t.accounts.reserve(t.accounts.size() + accounts.size());
    for (const Snapshot::AccountBalance* ab : accounts) {
      AccountState& a = t.accounts[ab->account.account_id];
      a.team_id = ab->account.team_id;
      a.SetPolicy(ab->account.policy);
      a.status = ab->account.status;
      a.posted = ab->posted;
    }
  }
  return absl::OkStatus();
}

absl::Status LoadTeamsAndPeriods(const TenantMap& tenants, const Snapshot& s) {
  for (const auto& team : s.teams) {
    TenantState* tp = TenantOf(tenants, team.tenant_id);
    if (tp == nullptr) return absl::DataLossError("team of an unknown tenant in the store");
    absl::MutexLock lock(&tp->mu);
    TeamState& ts = tp->teams[team.team_id];
    ts.display_name = team.display_name;
    ts.monthly_cap = team.monthly_cap;
  }
  for (const auto& p : s.last_periods) {
    TenantState* tp = TenantOf(tenants, p.tenant_id);
    if (tp == nullptr) continue;
    absl::MutexLock lock(&tp->mu);
    auto acct = tp->accounts.find(p.account_id);
    if (acct != tp->accounts.end()) {
      acct->second.last_reset_us = std::max(acct->second.last_reset_us, p.period_start_us);
    }
  }
  return absl::OkStatus();
}

// The hold as memory keeps it, with its Authorize's answer when its row carries a valid one.
HoldState HoldStateOf(const HoldRecord& h) {
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
  return hs;
}

// Counts an open hold not yet expired: held, the expiry index, its segment.
void LoadOpenHold(TenantState& t, AccountState& a, const HoldRecord& h, HoldState& hs)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  AddHeld(t, a, h.amount);
  // It counts against its model's limit when the account limits that model now.
  hs.model = LimitedModel(a, h.model);
  AddModelHeld(a, hs.model, h.amount);
  ++t.open_holds;
  t.expiry.emplace(std::make_pair(h.expires_at_us, h.hold_id), h.segment);
  if (h.segment == 0) return;
  hs.segment = h.segment;
  HoldSegmentState& seg = t.hold_segments[h.segment];
  ++seg.open;
  ++seg.journaled;
}

// Remembers a closed hold (or one open in the store but past its expiry: it is expired).
void LoadClosedHold(TenantState& t, const HoldRecord& h, HoldState& hs, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  // Open in the store but past its expiry: written expired when its segment is dropped.
  if (h.status == HoldStatus::kOpen && h.segment != 0) {
    HoldRecord row = h;
    row.status = HoldStatus::kExpired;
    t.hold_segments[h.segment].expired.push_back(std::move(row));
  }
  hs.phase = h.status == HoldStatus::kCaptured   ? HoldPhase::kCaptured
             : h.status == HoldStatus::kReleased ? HoldPhase::kReleased
                                                 : HoldPhase::kExpired;
  hs.closed_at_us = now_us;
  t.closed.emplace_back(now_us, h.hold_id);
}

absl::Status LoadHolds(const TenantMap& tenants, const Snapshot& s, int64_t now_us) {
  for (const auto& h : s.holds) {
    TenantState* tp = TenantOf(tenants, h.tenant_id);
    if (tp == nullptr) return absl::DataLossError("hold of an unknown tenant in the store");
    TenantState& t = *tp;
    absl::MutexLock lock(&t.mu);
    auto acct = t.accounts.find(h.account_id);
    if (acct == t.accounts.end()) return absl::DataLossError("hold of an unknown account");
    HoldState hs = HoldStateOf(h);
    // An open hold past its expiry is expired: the sweep does not write expiries (they follow
    // from expires_at), so the store may still have it open.
    if (h.status == HoldStatus::kOpen && h.expires_at_us > now_us) {
      LoadOpenHold(t, acct->second, h, hs);
    } else {
      LoadClosedHold(t, h, hs, now_us);
    }
    t.holds[h.hold_id] = std::move(hs);
    if (!h.response.empty() && !h.idempotency_key.empty()) {
      t.idempotency.Insert(h.idempotency_key,
                           IdempotencyEntry{h.fingerprint, false, h.response, {}});
    }
  }
  return absl::OkStatus();
}

void LoadSegmentsAndKeys(LedgerContext& cx, const TenantMap& tenants, const Snapshot& s) {
  // Segments with records in the store: those without an open hold are dropped by the next sweep.
  for (const HoldSegment& seg : s.hold_segments) {
    TenantState* tp = TenantOf(tenants, seg.tenant_id);
    if (tp == nullptr || seg.segment == 0) continue;
    absl::MutexLock lock(&tp->mu);
    tp->hold_segment_current = std::max(tp->hold_segment_current, seg.segment);
    HoldSegmentState& state = tp->hold_segments[seg.segment];
    state.journaled = std::max(state.journaled, seg.records);
  }
  for (const auto& rec : s.idempotency) {
    TenantState* tp =
        rec.tenant_id.empty() ? cx.tenants.platform().get() : TenantOf(tenants, rec.tenant_id);
    if (tp == nullptr) continue;
    absl::MutexLock lock(&tp->mu);
    tp->idempotency.Insert(rec.key, IdempotencyEntry{rec.fingerprint, false, rec.response, {}});
  }
}

// The account's usage by model in the current period, from the store's sums.
void LoadModelSpent(AccountState& a, const UsageSums& u, int64_t period_us) {
  if (u.model_spent.empty()) return;
  ModelBook& book = a.Models();
  if (book.window_period_us != period_us) RollModels(book, period_us);
  for (const auto& [model, spent] : u.model_spent) {
    ModelUsage& usage = book.UsageOf(model);
    usage.period_spent = SaturatedAdd(usage.period_spent, spent);
  }
}

// The tenants' price books.
absl::Status LoadPrices(const TenantMap& tenants, const Snapshot& s) {
  for (const PriceRecord& p : s.prices) {
    TenantState* tp = TenantOf(tenants, p.tenant_id);
    if (tp == nullptr) return absl::DataLossError("price of an unknown tenant in the store");
    absl::MutexLock lock(&tp->mu);
    if (!tp->prices.Add(p)) return absl::DataLossError("price stored twice");
  }
  return absl::OkStatus();
}

// Reads the tenant's usage in its current period and day from the store.
absl::Status LoadUsage(LedgerContext& cx, TenantState& t, int64_t now_us) {
  absl::MutexLock lock(&t.mu);
  t.windows = WindowsAt(t.tz, absl::FromUnixMicros(now_us));
  auto sums =
      cx.reader->SumUsage(t.record.tenant_id, t.windows.period_start_us, t.windows.day_start_us);
  if (!sums.ok()) return sums.status();
  for (auto& [id, team] : t.teams) team.window_period_us = t.windows.period_start_us;
  // The lambda runs within ForEach, under the lock held here; the analysis does not follow a
  // held lock into a lambda's body.
  t.accounts.ForEach([&t, now_us](const std::string&, AccountState& a)
                         ABSL_NO_THREAD_SAFETY_ANALYSIS { Roll(t, a, now_us); });
  for (const UsageSums& u : *sums) {
    auto it = t.accounts.find(u.account_id);
    if (it == t.accounts.end()) continue;
    it->second.period_spent = u.period_spent;
    it->second.day_spent = u.day_spent;
    LoadModelSpent(it->second, u, t.windows.period_start_us);
    if (!it->second.team_id.empty()) {
      auto tm = t.teams.find(it->second.team_id);
      if (tm != t.teams.end()) tm->second.period_spent += u.period_spent;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TenantMap> BuildTenants(LedgerContext& cx, const Snapshot& s) {
  TenantMap tenants;
  for (const auto& rec : s.tenants) tenants[rec.tenant_id] = cx.tenants.NewTenantState(rec);
  const int64_t now = cx.clock->NowMicros();
  if (absl::Status st = LoadAccounts(tenants, s); !st.ok()) return st;
  if (absl::Status st = LoadTeamsAndPeriods(tenants, s); !st.ok()) return st;
  if (absl::Status st = LoadHolds(tenants, s, now); !st.ok()) return st;
  if (absl::Status st = LoadPrices(tenants, s); !st.ok()) return st;
  LoadSegmentsAndKeys(cx, tenants, s);
  for (auto& [id, t] : tenants) {
    if (absl::Status u = LoadUsage(cx, *t, now); !u.ok()) return u;
  }
  return tenants;
}

}  // namespace tokenledger
