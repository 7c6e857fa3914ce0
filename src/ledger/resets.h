// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PeriodResets: the monthly reset of budgets ("reset a month"). For each account with a policy
// and each period started since its last reset (at most the last 36 after a long downtime):
// carry min(rollover_max, max(available, 0)) over, forfeit the rest to @expired, grant the
// monthly allocation from @funding. Exactly once per (account, period): the reset's idempotency
// key and period row are unique in the store, and the same in every process.
//
// Thread-safety: takes each tenant's `mu` in turn; `done` runs once every reset queued by the
// call has completed, with no engine lock held. Errors: the first failure of a queued reset.
#ifndef TOKENLEDGER_LEDGER_RESETS_H_
#define TOKENLEDGER_LEDGER_RESETS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/context.h"
#include "ledger/submission.h"
#include "ledger/tenant_state.h"

namespace tokenledger {

class PeriodResets {
 public:
  using CountCallback = absl::AnyInvocable<void(absl::StatusOr<int64_t>) &&>;

  explicit PeriodResets(LedgerContext& cx) : cx_(cx) {}

  // See Ledger::RunResets.
  void Run(const std::string& tenant, absl::Time as_of, CountCallback done, size_t accounts_max);

 private:
  class Tally;
  struct Plan;
  // Queues the resets due in one tenant, within `budget` accounts; marks the tenant done for
  // the period when all are queued.
  void QueueTenant(TenantState& t, absl::Time as_of, size_t& budget,
                   const std::shared_ptr<Tally>& tally);
  // Queues the resets due for one account; false when the journal is full.
  bool SubmitResets(TenantState& t, const std::string& account_id, int64_t period_us,
                    const std::shared_ptr<Tally>& tally, DeferredAnswers& later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Submits the reset of one period; false when the journal refused it.
  bool SubmitReset(TenantState& t, const std::string& account_id, const Plan& plan,
                   const std::shared_ptr<Tally>& tally, DeferredAnswers& later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  LedgerContext& cx_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_RESETS_H_
