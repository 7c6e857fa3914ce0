// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/resets.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "ledger/ids.h"
#include "ledger/spending_limits.h"

namespace tokenledger {

// Counts the resets of one Run call until the last one completes.
class PeriodResets::Tally {
 public:
  explicit Tally(CountCallback d) : done_(std::move(d)) {}
  void Add() {
    absl::MutexLock lock(&mu_);
    ++pending_;
  }
  void Finish(bool performed, const absl::Status& status) {
    CountCallback cb;
    int64_t n = 0;
    absl::Status err;
    {
      absl::MutexLock lock(&mu_);
      if (performed) ++count_;
      if (!status.ok() && first_error_.ok()) first_error_ = status;
      if (--pending_ > 0 || !done_) return;
      cb = std::move(done_);
      n = count_;
      err = first_error_;
    }
    if (err.ok()) {
      std::move(cb)(n);
    } else {
      std::move(cb)(err);
    }
  }

 private:
  absl::Mutex mu_;
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 1;  // the submitting call's own share
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  CountCallback done_ ABSL_GUARDED_BY(mu_);
};

// The reset of one account for one period.
struct PeriodResets::Plan {
  int64_t period_us = 0;
  // The period row and its transfers carry the same time: reconciliation pairs them by it.
  int64_t at_us = 0;
  int64_t carried = 0;
  int64_t expired = 0;
  int64_t granted = 0;
  std::vector<TransferRecord> transfers;
};

namespace {

constexpr int kCatchUpPeriodsMax = 36;  // after longer downtime only the last 36 are performed

// The periods to reset for `a`, oldest first, up to the one starting at `period_us`.
std::vector<int64_t> PeriodsDue(const absl::TimeZone& tz, const AccountState& a,
                                int64_t period_us) {
  std::vector<int64_t> periods;
  const absl::CivilMonth target = absl::ToCivilMonth(absl::FromUnixMicros(period_us), tz);
  absl::CivilMonth m = a.last_reset_us == 0
                           ? target  // never reset: the current period's first allocation
                           : absl::ToCivilMonth(absl::FromUnixMicros(a.last_reset_us), tz) + 1;
  if (target - m >= kCatchUpPeriodsMax) m = target - (kCatchUpPeriodsMax - 1);
  for (; m <= target; ++m) periods.push_back(absl::ToUnixMicros(absl::FromCivil(m, tz)));
  return periods;
}

// Reserves (sign +1) or gives back (-1) what a reset in flight holds on its accounts.
void ReserveReset(TenantState& ts, const std::vector<TransferRecord>& transfers, int sign)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
  for (const auto& tr : transfers) {
    ts.accounts.at(tr.debit_account_id).pending_debit += sign * tr.amount;
    ts.accounts.at(tr.credit_account_id).pending_credit += sign * tr.amount;
  }
}

TransferRecord ResetTransfer(const TenantState& t, std::string debit, std::string credit,
                             int64_t amount, TransferKind kind, int64_t now_us,
                             const std::string& when) {
  return TransferRecord{.tenant_id = t.record.tenant_id,
                        .transfer_id = NewId("t_"),
                        .debit_account_id = std::move(debit),
                        .credit_account_id = std::move(credit),
                        .amount = amount,
                        .kind = kind,
                        .created_at_us = now_us,
                        .memo = absl::StrCat("period reset ", when)};
}

}  // namespace

void PeriodResets::Run(const std::string& tenant, absl::Time as_of, CountCallback done,
                       size_t accounts_max) {
  size_t budget = accounts_max;
  auto tally = std::make_shared<Tally>(std::move(done));
  std::vector<std::shared_ptr<TenantState>> tenants;
  if (!tenant.empty()) {
    if (auto t = cx_.tenants.Find(tenant)) tenants.push_back(std::move(t));
  } else {
    tenants = cx_.tenants.All();
  }
  for (const auto& t : tenants) QueueTenant(*t, as_of, budget, tally);
  tally->Finish(false, absl::OkStatus());
}

void PeriodResets::QueueTenant(TenantState& t, absl::Time as_of, size_t& budget,
                               const std::shared_ptr<Tally>& tally) {
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  const int64_t period = WindowsAt(t.tz, as_of).period_start_us;
  if (t.resets_done_for_us == period) return;  // all queued already: the cheap common case
  std::vector<std::string> due;
  t.accounts.ForEach([&](const std::string& id, const AccountState& a) {
    if (a.has_policy && a.status != AccountStatus::kClosed && a.last_reset_us < period) {
      due.push_back(id);
    }
  });
  for (const auto& id : due) {
    if (budget == 0 || !SubmitResets(t, id, period, tally, later)) {
      return;  // this call's share is used, or the journal is full: the next continues
    }
    --budget;
  }
  t.resets_done_for_us = period;
}

bool PeriodResets::SubmitResets(TenantState& t, const std::string& account_id, int64_t period_us,
                                const std::shared_ptr<Tally>& tally, DeferredAnswers& later) {
  AccountState& a = t.accounts.at(account_id);
  int64_t projected = a.Available();
  const int64_t now = cx_.clock->NowMicros();
  for (int64_t p : PeriodsDue(t.tz, a, period_us)) {
    Plan plan{.period_us = p, .at_us = now, .granted = a.policy.monthly_allocation};
    const int64_t positive = std::max<int64_t>(projected, 0);
    plan.carried = a.last_reset_us == 0 ? positive : std::min(a.policy.rollover_max, positive);
    plan.expired = positive - plan.carried;
    const AccountState& funding = t.accounts.at(kFundingAccount);
    if (!FitsAdd(a.posted.credits, a.pending_credit, plan.granted) ||
        !FitsAdd(funding.posted.debits, funding.pending_debit, plan.granted)) {
      return true;  // cannot be performed without overflow; skipped, not retried in a loop
    }
    const std::string when = absl::FormatTime("%Y-%m", absl::FromUnixMicros(p), t.tz);
    if (plan.expired > 0) {
      plan.transfers.push_back(ResetTransfer(t, account_id, std::string(kExpiredAccount),
                                             plan.expired, TransferKind::kResetExpire, now, when));
    }
    if (plan.granted > 0) {
      plan.transfers.push_back(ResetTransfer(t, std::string(kFundingAccount), account_id,
                                             plan.granted, TransferKind::kResetGrant, now, when));
    }
    if (t.idempotency.Find(absl::StrCat("reset:", account_id, ":", p)) != nullptr) {
      a.last_reset_us = std::max(a.last_reset_us, p);  // already done or in flight here
      continue;
    }
    if (!SubmitReset(t, account_id, plan, tally, later)) return false;
    ReserveReset(t, plan.transfers, +1);
    a.last_reset_us = p;
    projected = projected - plan.expired + plan.granted;
  }
  return true;
}

bool PeriodResets::SubmitReset(TenantState& t, const std::string& account_id, const Plan& plan,
                               const std::shared_ptr<Tally>& tally, DeferredAnswers& later) {
  const int64_t p = plan.period_us;
  Mutation m;
  m.periods.push_back(PeriodRecord{t.record.tenant_id, account_id, p, plan.carried, plan.expired,
                                   plan.granted, plan.at_us});
  m.transfers = plan.transfers;
  // The same key and fingerprint in every process: a second daemon's reset of this account
  // and period is recognised by the store as a replay and skipped.
  const IdemArgs idem{absl::StrCat("reset:", account_id, ":", p), 0x7265736574ull};
  const std::string nonce = NewId("reset_");
  OpResult result{.id = nonce, .amount = plan.granted};
  const int64_t previous = t.accounts.at(account_id).last_reset_us;
  auto apply = [transfers = plan.transfers](TenantState& ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
    ReserveReset(ts, transfers, -1);
    for (const auto& tr : transfers) ApplyPostedTransfer(ts.accounts, tr);
  };
  auto undo = [transfers = plan.transfers, account_id, p, previous](TenantState& ts)
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
                    ReserveReset(ts, transfers, -1);
                    AccountState& acc = ts.accounts.at(account_id);
                    if (acc.last_reset_us == p) acc.last_reset_us = previous;
                    ts.resets_done_for_us = 0;  // let the scheduler try again
                  };
  tally->Add();
  auto count = [performed_total = &cx_.resets_performed, tally, nonce](absl::StatusOr<OpResult> r) {
    const bool performed = r.ok() && r->id == nonce;
    if (performed) performed_total->fetch_add(1, std::memory_order_relaxed);
    tally->Finish(performed, r.status());
  };
  return SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), std::move(undo),
                      std::move(count), later);
}

}  // namespace tokenledger
