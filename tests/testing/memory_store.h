// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// MemoryStore: an in-memory LedgerStore with the semantics of the PostgreSQL store (PgStore),
// for unit tests of everything above the store (the testing library: the daemon never links
// it). The rules both stores share (storable text, system accounts, metadata, period checks) are
// in store/store_rules.h. It enforces the same constraints as the schema
// (migrations/0001_init.sql): foreign keys, CHECKs and unique keys fail the whole batch, with
// kAlreadyExists for a unique violation and kInternal for the rest, as PgStore maps them.
//
// A batch is applied in the same phases as PgStore applies it: idempotency keys first (a
// mutation whose key exists, in the store or earlier in the batch, is skipped entirely), then
// tenants, accounts, teams, api keys, prices, holds, periods, transfers, balances, the batch id.
// Within a batch, a row written twice ends as PgStore leaves it (see MemoryStore::Commit).
//
// Thread-safe.
#ifndef TOKENLEDGER_TESTING_MEMORY_STORE_H_
#define TOKENLEDGER_TESTING_MEMORY_STORE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "store/store_rules.h"
#include "tokenledger/store.h"
#include "tokenledger/types.h"

namespace tokenledger {

class MemoryStore final : public LedgerStore {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  absl::StatusOr<std::vector<MutationOutcome>> Commit(absl::Span<const Mutation* const> batch,
                                                      uint64_t batch_id) override;
  absl::StatusOr<bool> CommittedBatch(uint64_t batch_id) override;
  // Holds: all of them (PgStore returns open holds and those closed within the last hour).
  // Idempotency: all keys (PgStore returns the most recent ones).
  absl::StatusOr<Snapshot> Load() override;
  absl::StatusOr<std::vector<TransferRecord>> ListTransfers(const TransferQuery& q) override;
  absl::StatusOr<std::optional<IdempotencyRecord>> GetIdempotency(const std::string& tenant_id,
                                                                  const std::string& key) override;
  absl::StatusOr<std::optional<HoldRecord>> GetHold(const std::string& tenant_id,
                                                    const std::string& hold_id) override;
  // Period checks: see PeriodGroup.
  absl::StatusOr<ReconcileData> Recompute(const std::string& tenant_id) override;
  absl::StatusOr<std::vector<UsageSums>> SumUsage(const std::string& tenant_id,
                                                  int64_t period_start_us,
                                                  int64_t day_start_us) override;
  absl::Status RepairBalances(const std::string& tenant_id,
                              const std::vector<std::pair<std::string, PostedTotals>>& totals,
                              const AuditRecord& audit) override;
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(const AuditQuery& q) override;

  // Test hooks.
  // Overwrites a stored balance without a transfer, as a bug or a manual edit would; creates the
  // balance row if missing.
  void CorruptBalanceForTest(const std::string& tenant_id, const std::string& account_id,
                             const PostedTotals& totals);
  size_t transfer_count() const;

 private:
  using Key = std::pair<std::string, std::string>;  // (tenant_id, id)
  using PeriodKey = std::pair<Key, int64_t>;        // ((tenant_id, account_id), period_start)
  using PriceKey = std::tuple<std::string, std::string, int64_t>;  // (tenant, model, effective_at)

  // Ordered maps, so that Load and Recompute return rows in key order like PgStore.
  mutable absl::Mutex mu_;
  std::map<std::string, TenantRecord> tenants_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ApiKeyRecord> api_keys_ ABSL_GUARDED_BY(mu_);  // by key_id
  std::set<std::string> key_hashes_ ABSL_GUARDED_BY(mu_);              // unique, like the schema
  std::map<Key, AccountRecord> accounts_ ABSL_GUARDED_BY(mu_);
  std::map<Key, TeamRecord> teams_ ABSL_GUARDED_BY(mu_);
  std::map<Key, PostedTotals> balances_ ABSL_GUARDED_BY(mu_);
  std::map<Key, HoldRecord> holds_ ABSL_GUARDED_BY(mu_);
  // The segments holding records of open holds (PgStore: hold_batches rows), until dropped.
  std::set<std::pair<std::string, int64_t>> hold_segments_ ABSL_GUARDED_BY(mu_);
  std::vector<TransferRecord> transfers_ ABSL_GUARDED_BY(mu_);  // in seq order
  std::set<Key> transfer_ids_ ABSL_GUARDED_BY(mu_);             // (tenant_id, transfer_id)
  // Positions in transfers_ of each account's transfers (either side), ascending: the two
  // indexes of the transfers table, merged.
  std::map<Key, std::vector<size_t>> transfers_by_account_ ABSL_GUARDED_BY(mu_);
  std::map<Key, IdempotencyRecord> idempotency_ ABSL_GUARDED_BY(mu_);
  std::map<PeriodKey, PeriodRecord> periods_ ABSL_GUARDED_BY(mu_);
  std::map<PriceKey, PriceRecord> prices_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> batches_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<AuditRecord> audit_ ABSL_GUARDED_BY(mu_);  // seq = position + 1
  void AppendAuditLocked(const AuditRecord& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RESET_EXPIRE debits and RESET_GRANT credits per (account, created_at).
  using ResetSums = std::map<std::pair<std::string, int64_t>, std::pair<int64_t, int64_t>>;
  // Recompute's period checks: the tenant's period rows against `resets` (see PeriodGroup).
  absl::Status CheckPeriodsLocked(const std::string& tenant_id, const ResetSums& resets,
                                  ReconcileData& data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Commit's steps. A batch is checked and staged in full (the final value of every row it
  // writes) without touching the state, then applied, which cannot fail: all or nothing.
  struct Staging {
    std::vector<const Mutation*> live;                 // the mutations that are not duplicates
    std::map<Key, const IdempotencyRecord*> new_keys;  // first claim in the batch
    std::map<std::string, TenantRecord> tenants;
    std::map<Key, AccountRecord> accounts;
    std::map<Key, TeamRecord> teams;
    std::map<std::string, ApiKeyRecord> api_keys;
    std::set<std::string> new_hashes;
    std::map<Key, HoldRecord> holds;
    std::map<PeriodKey, PeriodRecord> periods;
    std::map<PriceKey, PriceRecord> prices;
    std::vector<TransferRecord> transfers;
    std::set<Key> transfer_ids;
    std::map<Key, PostedTotals> balances;  // final totals of every balance row written
    int64_t next_seq = 0;
  };
  // Idempotency: a key stored already, or claimed earlier in the batch, makes its mutation a
  // duplicate (its outcome names the stored record); the others go to `st.live`.
  std::vector<MutationOutcome> ClaimKeys(absl::Span<const Mutation* const> batch, Staging& st)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool TenantExists(const Staging& st, const std::string& id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AccountExists(const Staging& st, const Key& key) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Each checks the schema's constraints for its rows (failing the batch as PgStore would) and
  // stages them.
  absl::Status StageTenants(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StageAccounts(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StageTeams(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StageApiKeys(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StagePrices(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StageHolds(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StagePeriods(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StageTransfers(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StageBalances(const std::map<Key, PostedTotals>& deltas, Staging& st)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropHoldSegments(const Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Apply(Staging& st, uint64_t batch_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_TESTING_MEMORY_STORE_H_
