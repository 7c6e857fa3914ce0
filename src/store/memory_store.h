// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// MemoryStore: an in-memory LedgerStore with the semantics of the PostgreSQL store (PgStore),
// for unit tests of everything above the store. It enforces the same constraints as the schema
// (migrations/0001_init.sql): foreign keys, CHECKs and unique keys fail the whole batch, with
// kAlreadyExists for a unique violation and kInternal for the rest, as PgStore maps them.
//
// A batch is applied in the same phases as PgStore applies it: idempotency keys first (a
// mutation whose key exists, in the store or earlier in the batch, is skipped entirely), then
// tenants, accounts, teams, api keys, holds, periods, transfers, balances, the batch id. Within a
// batch, a row written twice ends as PgStore leaves it (see MemoryStore::Commit).
//
// Thread-safe.
#ifndef TOKENLEDGER_STORE_MEMORY_STORE_H_
#define TOKENLEDGER_STORE_MEMORY_STORE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "tokenledger/store.h"
#include "tokenledger/types.h"

namespace tokenledger {

// ListTransfers returns at most this many transfers, whatever the query's limit: every read is
// bounded. (The API caps page_size at 1000.)
inline constexpr int32_t kListTransfersMax = 10000;

// Rejects text a PostgreSQL text column cannot hold: NUL bytes and invalid UTF-8, naming the
// field. Both stores check every mutation of a batch with it before writing anything, so that
// they fail alike (kInvalidArgument, nothing committed).
absl::Status CheckStorableText(const Mutation& m);

// Metadata as the store keeps it: a JSON object, so sorted by key (bytewise) with one value per
// key (the last one given). Both stores return metadata in this form.
Metadata NormalizeMetadata(const Metadata& metadata);

// The period rows of one account written with one created_at: one reset, or several periods
// caught up at once. The reset's transfers carry the same created_at (the engine stamps the
// period row and its RESET_EXPIRE/RESET_GRANT transfers with the time the reset ran), so a group
// is compared with the account's reset transfers of that instant.
struct PeriodGroup {
  int64_t rows = 0;
  int64_t last_start = 0;  // the latest period_start of the group
  int64_t expired = 0;     // sums over the group's rows
  int64_t granted = 0;
};

// Appends the problems of one group given the sums of its transfers (none when they match). A
// one-row group reports that row; a larger one reports its sums on its latest period.
void AddPeriodProblems(const std::string& account_id, const PeriodGroup& group,
                       int64_t found_expired, int64_t found_granted,
                       std::vector<ReconcileData::PeriodProblem>& out);
// Orders problems by (account_id, period_start_us, field), as both stores return them.
void SortPeriodProblems(std::vector<ReconcileData::PeriodProblem>& problems);

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
  std::set<uint64_t> batches_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<AuditRecord> audit_ ABSL_GUARDED_BY(mu_);  // seq = position + 1
  void AppendAuditLocked(const AuditRecord& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_STORE_MEMORY_STORE_H_
