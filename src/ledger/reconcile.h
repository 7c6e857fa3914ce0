// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Reconciler: an admin's check that the ledger adds up. On the writer's thread, between batches
// (everything queued before is committed and applied), it recomputes every account's totals
// from the transfers and compares them with the store's balances rows and with memory, checks
// each account's `held` against its open holds, and checks the period rows. With `fix`, it
// repairs the store's balances (recorded in the audit trail) and memory; period rows are not
// rewritten. Expired holds are released first.
//
// Thread-safety: takes the tenant's `mu` while comparing memory. Errors: kNotFound (tenant),
// the journal's refusals, the store's errors.
#ifndef TOKENLEDGER_LEDGER_RECONCILE_H_
#define TOKENLEDGER_LEDGER_RECONCILE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "ledger/context.h"
#include "ledger/hold_sweep.h"
#include "ledger/tenant_state.h"
#include "tokenledger/store.h"

namespace tokenledger {

struct ReconcileMismatch {
  std::string account_id;
  std::string field;
  int64_t expected = 0;
  int64_t found = 0;
  std::string source;  // "store" or "cache"
};

struct ReconcileReport {
  int64_t accounts_checked = 0;
  int64_t transfers_checked = 0;
  int64_t ledger_sum = 0;
  std::vector<ReconcileMismatch> mismatches;
  int64_t expired_holds_released = 0;
  int64_t periods_checked = 0;
  bool fixed = false;
  std::vector<ReconcileMismatch> repaired;
};

class Reconciler {
 public:
  using ReconcileCallback = absl::AnyInvocable<void(absl::StatusOr<ReconcileReport>) &&>;

  Reconciler(LedgerContext& cx, const HoldSweep& sweep) : cx_(cx), sweep_(sweep) {}

  void Reconcile(const std::string& tenant, bool fix, ReconcileCallback done,
                 const std::string& actor);

 private:
  // Runs on the writer's thread (Journal::RunExclusive).
  void Run(LedgerStore& store, const std::string& tenant, bool fix, const std::string& actor,
           ReconcileCallback done);
  // Compares the recomputed totals with the store's and memory's (and `held` with the open
  // holds), repairing memory with `fix`. Returns the store's rows to repair.
  std::vector<std::pair<std::string, PostedTotals>> CompareAccounts(TenantState& t,
                                                                    const ReconcileData& data,
                                                                    bool fix,
                                                                    ReconcileReport& report) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  absl::Status RepairStore(LedgerStore& store, const std::string& tenant, const std::string& actor,
                           const ReconcileReport& report,
                           const std::vector<std::pair<std::string, PostedTotals>>& repairs) const;

  LedgerContext& cx_;
  const HoldSweep& sweep_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_RECONCILE_H_
