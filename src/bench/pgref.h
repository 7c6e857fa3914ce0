// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The PostgreSQL side of tokenledger-bench, through libpqxx (its exceptions stay in pgref.cc):
//  - the naive ledger reference: one transaction per debit (conditional UPDATE of a balance
//    row, INSERT of an entry, COMMIT), one connection per client thread, closed loop;
//  - the big tenant of the start-up phase: N accounts bulk-inserted straight into the daemon's
//    schema (tenants, accounts, balances), and removed again;
//  - the tenant of the resets phase: N accounts with a policy whose next monthly reset is due,
//    and a probe counting the resets committed.
#ifndef TOKENLEDGER_BENCH_PGREF_H_
#define TOKENLEDGER_BENCH_PGREF_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/load.h"

namespace tokenledger::bench {

// (Re)creates bench_naive_accounts with ids 1..accounts, each with a large balance, and an
// empty bench_naive_entries.
absl::Status NaiveCreate(const std::string& url, int accounts);
// `threads` clients, each its own connection, debiting random accounts by 1 until the window
// ends. A debit that finds no balance (0 rows updated) counts as an error.
RunResult NaiveRun(const std::string& url, int accounts, int threads, absl::Duration warmup,
                   absl::Duration duration, uint64_t seed);
absl::Status NaiveDrop(const std::string& url);

// Inserts tenant `tenant_id` with its system accounts and `accounts` caller accounts (with
// zero balance rows) in one transaction, then ANALYZEs the tables. Returns the seconds taken.
// The tenant is leased to node `lease_node` (see LeaseTenantsTo).
absl::StatusOr<double> InsertBigTenant(const std::string& url, const std::string& tenant_id,
                                       int64_t accounts, const std::string& lease_node);
// Inserts `holds` captured holds of account 'user-1' of tenant `tenant_id` (InsertBigTenant's),
// closed over the last 30 minutes, as an hour of gateway traffic leaves them; then ANALYZEs the
// table. Returns the seconds taken.
absl::StatusOr<double> InsertClosedHolds(const std::string& url, const std::string& tenant_id,
                                         int64_t holds);
// Inserts tenant `tenant_id` (timezone UTC) with its system accounts and `accounts` caller
// accounts 'user-1'.. that have a policy (`allocation` a month, `rollover_max`), as if the
// reset of the period starting at `previous_period_us` had been performed for each: a periods
// row and a RESET_GRANT of `allocation` from @funding stamped `previous_period_us`, with the
// balances to match (the books balance). A daemon starting afterwards in the following period
// finds every account's reset due. One transaction, then ANALYZE. Returns the seconds taken.
absl::StatusOr<double> InsertResetTenant(const std::string& url, const std::string& tenant_id,
                                         int64_t accounts, int64_t previous_period_us,
                                         int64_t allocation, int64_t rollover_max,
                                         const std::string& lease_node);

// Leases `tenants` to node `node` (an earlier incarnation of it), so that a daemon started with
// --node-id `node` serves them from its start and no other daemon claims them.
absl::Status LeaseTenantsTo(const std::string& url, const std::vector<std::string>& tenants,
                            const std::string& node);

// One connection that counts the periods rows of one tenant and period start: the resets of
// that period committed so far.
class PeriodCounter {
 public:
  static absl::StatusOr<std::unique_ptr<PeriodCounter>> Open(const std::string& url);
  ~PeriodCounter();
  absl::StatusOr<int64_t> Count(const std::string& tenant_id, int64_t period_start_us);

 private:
  struct Impl;
  explicit PeriodCounter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Deletes every row of `tenant_id`, in foreign-key order. Returns the seconds taken.
absl::StatusOr<double> DeleteTenantRows(const std::string& url, const std::string& tenant_id);

// VACUUM (ANALYZE) of the ledger's tables, after a phase deleted its bulk tenant: otherwise
// autovacuum works through the dead rows (a million accounts) during the phases that follow and
// takes their CPU. Returns the seconds it took.
absl::StatusOr<double> VacuumLedgerTables(const std::string& url);

// What the store keeps of a tenant's open holds: its hold_batches rows and their bytes.
struct HoldBatchesSize {
  int64_t rows = 0;
  int64_t bytes = 0;
};
absl::StatusOr<HoldBatchesSize> HoldBatchesOf(const std::string& url, const std::string& tenant_id);

}  // namespace tokenledger::bench

#endif  // TOKENLEDGER_BENCH_PGREF_H_
