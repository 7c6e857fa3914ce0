// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// LedgerStore: the durable side of the ledger. The PostgreSQL implementation (PgStore) lives in
// src/store; tests use MemoryStore and FaultyStore (tests/testing), and tests/store_contract checks
// both stores against the same contract. All methods are called from the group-commit writer or
// from read paths; an implementation must be safe for concurrent calls of its read methods with
// one writer.
#ifndef TOKENLEDGER_STORE_H_
#define TOKENLEDGER_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "tokenledger/types.h"

namespace tokenledger {

// One logical operation: everything one API call makes durable, committed all or nothing with
// the rest of its batch. When `idempotency` is set and its key already exists in the store, the
// whole mutation is skipped and the outcome names the stored record instead.
struct Mutation {
  std::optional<IdempotencyRecord> idempotency;
  std::vector<TransferRecord> transfers;
  std::vector<HoldRecord> holds;  // inserted, or updated (status) when the hold_id exists
  std::optional<TenantRecord> tenant;
  std::optional<AccountRecord> account;  // upserted
  std::optional<TeamRecord> team;        // upserted
  std::optional<ApiKeyRecord> api_key;   // inserted, or updated (revoked) when the key_id exists
  std::vector<PeriodRecord> periods;     // inserted; an existing (account, period) fails the batch
  std::vector<AuditRecord> audit;        // appended (seq assigned by the store)
  // Inserted; a (tenant, model, effective_at) that exists fails the batch (kAlreadyExists).
  std::vector<PriceRecord> prices;
  // Segments whose open-hold records are deleted: every hold in them has closed (its closing
  // record committed) or expired, and nothing is journaled into them any more. A record of a
  // hold's later state (captured, released, expired) is kept.
  std::vector<HoldSegment> dropped_hold_segments;
};

// The tenant a mutation writes to ("" for the platform's own records: operator idempotency).
const std::string& MutationTenant(const Mutation& m);

struct MutationOutcome {
  bool committed = true;
  // When !committed: the record already stored under the mutation's idempotency key.
  IdempotencyRecord existing;
};

// What a process needs in memory to serve: everything but the transfers themselves.
struct Snapshot {
  struct AccountBalance {
    AccountRecord account;
    PostedTotals posted;
  };
  std::vector<TenantRecord> tenants;
  std::vector<ApiKeyRecord> api_keys;
  std::vector<TeamRecord> teams;
  std::vector<AccountBalance> accounts;  // includes each tenant's system accounts
  // Open holds, and holds closed recently (those in the order they closed), in no other order.
  std::vector<HoldRecord> holds;
  std::vector<IdempotencyRecord> idempotency;  // the most recent keys, up to a bound
  std::vector<PeriodRecord> last_periods;      // per account, its latest performed reset
  // Every segment that still has open-hold records, open or not (HoldRecord::segment): the
  // engine deletes those whose holds are all closed.
  std::vector<HoldSegment> hold_segments;
  std::vector<PriceRecord> prices;  // every tenant's whole price book, in no order
};

// Reconciliation input for one tenant, read in one consistent snapshot.
struct ReconcileData {
  struct Row {
    std::string account_id;
    PostedTotals recomputed;  // from the transfers
    PostedTotals stored;      // the balances table
    int64_t open_held = 0;    // sum of open holds
  };
  std::vector<Row> rows;
  int64_t transfers_checked = 0;
  int64_t ledger_sum = 0;  // sum over accounts of (credits - debits), from the transfers
  // Period rows whose amounts do not match the RESET_EXPIRE/RESET_GRANT transfers of the same
  // account written with them (same created_at; the reset stamps both with the same instant):
  // account_id, field, expected from the row, found in the transfers.
  struct PeriodProblem {
    std::string account_id;
    int64_t period_start_us = 0;
    std::string field;  // "expired" or "granted"
    int64_t expected = 0;
    int64_t found = 0;
  };
  int64_t periods_checked = 0;
  std::vector<PeriodProblem> period_problems;
};

struct TransferQuery {
  std::string tenant_id;
  std::string account_id;
  int32_t limit = 100;
  int64_t before_seq = 0;  // 0 = newest
  int64_t since_us = 0;    // 0 = no bound
  int64_t until_us = 0;    // 0 = no bound
};

struct AuditQuery {
  std::string tenant_id;
  int32_t limit = 100;
  int64_t before_seq = 0;  // 0 = newest
};

class LedgerStore {
 public:
  virtual ~LedgerStore() = default;

  // Commits every mutation of `batch` in one transaction, or none. `batch_id` is written in the
  // same transaction so that a commit whose outcome was lost can be resolved (CommittedBatch).
  // Errors (nothing of the batch was committed, except after kUnknown):
  //   kUnavailable      the database cannot be reached, or rolled the batch back (serialization
  //                     failure, deadlock, timeout): a retry may succeed;
  //   kUnknown          "commit in doubt": the connection was lost during COMMIT, the batch may
  //                     or may not be committed; CommittedBatch(batch_id) tells which;
  //   kAborted          fencing refused the batch (see lease.h): a retry would be refused too;
  //   kAlreadyExists    a unique key of the schema is taken (a tenant, a period, a transfer id);
  //   kInvalidArgument  text the store cannot hold (CheckStorableText), or a null mutation;
  //   kInternal         any other constraint of the schema (a foreign key, a CHECK), or a bug.
  virtual absl::StatusOr<std::vector<MutationOutcome>> Commit(
      absl::Span<const Mutation* const> batch, uint64_t batch_id) = 0;

  // Whether the batch with this id was committed. Used after a commit whose answer was lost.
  virtual absl::StatusOr<bool> CommittedBatch(uint64_t batch_id) = 0;

  virtual absl::StatusOr<Snapshot> Load() = 0;

  virtual absl::StatusOr<std::vector<TransferRecord>> ListTransfers(const TransferQuery& q) = 0;

  virtual absl::StatusOr<std::optional<IdempotencyRecord>> GetIdempotency(
      const std::string& tenant_id, const std::string& key) = 0;

  // The stored row of a hold: how it was closed, or open. A hold recorded only in a batch of
  // open holds (PgStore's hold_batches) and never closed by a call is not found.
  virtual absl::StatusOr<std::optional<HoldRecord>> GetHold(const std::string& tenant_id,
                                                            const std::string& hold_id) = 0;

  virtual absl::StatusOr<ReconcileData> Recompute(const std::string& tenant_id) = 0;

  // Sums of USAGE debits per account of the tenant created at or after `period_start_us`, and
  // at or after `day_start_us` (accounts with no such usage may be left out).
  virtual absl::StatusOr<std::vector<UsageSums>> SumUsage(const std::string& tenant_id,
                                                          int64_t period_start_us,
                                                          int64_t day_start_us) = 0;

  // Overwrites stored balances with the given totals (transfers are the truth) and appends
  // `audit`, in one transaction.
  virtual absl::Status RepairBalances(
      const std::string& tenant_id, const std::vector<std::pair<std::string, PostedTotals>>& totals,
      const AuditRecord& audit) = 0;
  // The tenant's audit events, newest first.
  virtual absl::StatusOr<std::vector<AuditRecord>> ListAudit(const AuditQuery& q) = 0;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_STORE_H_
