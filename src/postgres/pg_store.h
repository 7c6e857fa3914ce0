// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// PgStore: the LedgerStore and LeaseStore on PostgreSQL (schema: migrations/), through libpqxx.
// No libpqxx type or exception leaves its implementation (the src/store/pg_*.cc files): every
// failure is an absl::Status. The rooms: pg_store.cc (opening, connections), pg_commit.cc
// (Commit) with pg_batch_writer (the batch's statements), pg_load.cc (Load), pg_reads.cc (the
// read paths), pg_leases.cc (LeaseStore), pg_sql_*.h (the SQL by concern), pg_conn (error
// mapping), pg_rows (row decoding), pg_encode (array literals, JSON, hold batches).
//
// Connections: one for the writer (Commit, CommittedBatch: the group-commit thread), and a small
// bounded pool for the read paths. A broken connection is dropped and a new one opened on next
// use, so a database restart recovers without restarting the process; a call that finds its
// connection broken before anything could have been committed is retried once on a new one.
//
// Error mapping:
//   connection lost or refused, server shutting down, serialization failure or deadlock (nothing
//   was committed, a retry may succeed)                        -> kUnavailable
//   connection lost during COMMIT (the outcome is unknown)     -> kUnknown "commit in doubt: ..."
//   unique violation                                           -> kAlreadyExists
//   text a PostgreSQL text column cannot hold (NUL, bad UTF-8) -> kInvalidArgument (nothing sent)
//   any other SQL error                                        -> kInternal, with the message
//
// Thread-safe: the read methods may run concurrently with each other and with the writer.
#ifndef TOKENLEDGER_POSTGRES_PG_STORE_H_
#define TOKENLEDGER_POSTGRES_PG_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "tokenledger/lease.h"
#include "tokenledger/store.h"

namespace tokenledger {

struct PgStoreOptions {
  // Connections for the read paths (ListTransfers, GetIdempotency, Load, Recompute,
  // RepairBalances). A read waits for a free one at most `pool_wait`, then fails kUnavailable.
  int read_pool_size = 4;
  absl::Duration pool_wait = absl::Seconds(10);
  // Load returns at most this many idempotency keys, the most recent.
  int64_t idempotency_load_max = 100000;
  // Holds closed this recently are loaded with the open ones, at most `closed_holds_load_max` of
  // them (the most recently closed), so that start-up does not grow with an hour of traffic.
  absl::Duration closed_holds_window = absl::Hours(1);
  int64_t closed_holds_load_max = 200000;
  // Server-side statement_timeout of every connection; zero keeps the server's setting.
  absl::Duration statement_timeout = absl::ZeroDuration();
  // When set, the schema the tables live in (search_path of every connection).
  std::string search_path;
  // application_name of every connection (visible in pg_stat_activity).
  std::string application_name = "tokenledgerd";
  // commit_batches rows older than this are pruned (every prune_every commits), which bounds
  // the table; CommittedBatch is only asked about batches of the last seconds.
  absl::Duration batch_ids_keep = absl::Hours(24 * 7);
  int prune_every = 1024;
  // Connections for Commit and CommittedBatch: one per group-commit writer thread, so that one
  // batch can be written while another commits.
  int writer_connections = 2;
};

// One libpqxx connection; defined in pg_conn.h.
struct PgConn;

class PgStore final : public LedgerStore, public LeaseStore {
 public:
  // Connects the writer connection at once (kUnavailable when the database cannot be reached);
  // the read connections are opened on first use. Expects the schema to be migrated.
  static absl::StatusOr<std::unique_ptr<PgStore>> Open(const std::string& url,
                                                       PgStoreOptions options);
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  // One transaction: the idempotency keys first (one multi-row INSERT ... ON CONFLICT DO
  // NOTHING; a mutation whose key was not inserted is a duplicate and is skipped entirely), then
  // tenants (with their system accounts), accounts, teams, api keys, holds, periods, transfers
  // (one statement each), one aggregated balance update per touched account, and the batch id.
  // Within a batch a row written twice ends as sequential writes would leave it: accounts keep
  // their first created_at and take the rest from the last write, teams take the last write,
  // api keys and holds keep their first record with the last revoked flag / status.
  absl::StatusOr<std::vector<MutationOutcome>> Commit(absl::Span<const Mutation* const> batch,
                                                      uint64_t batch_id) override;
  absl::StatusOr<bool> CommittedBatch(uint64_t batch_id) override;
  absl::StatusOr<Snapshot> Load() override;
  absl::StatusOr<std::vector<TransferRecord>> ListTransfers(const TransferQuery& q) override;
  absl::StatusOr<std::optional<HoldRecord>> GetHold(const std::string& tenant_id,
                                                    const std::string& hold_id) override;
  absl::StatusOr<std::optional<IdempotencyRecord>> GetIdempotency(const std::string& tenant_id,
                                                                  const std::string& key) override;
  // Besides the balances, checks every period row of the tenant against its reset's transfers
  // (see PeriodGroup in store/store_rules.h: rows and transfers are matched by account and
  // created_at).
  absl::StatusOr<ReconcileData> Recompute(const std::string& tenant_id) override;
  absl::StatusOr<std::vector<UsageSums>> SumUsage(const std::string& tenant_id,
                                                  int64_t period_start_us,
                                                  int64_t day_start_us) override;
  absl::Status RepairBalances(const std::string& tenant_id,
                              const std::vector<std::pair<std::string, PostedTotals>>& totals,
                              const AuditRecord& audit) override;
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(const AuditQuery& q) override;

  // LeaseStore. Lease statements run on the read connections.
  void EnableFencing(const LeaseOwner& owner) override;
  void AddFence(const std::string& tenant_id, int64_t epoch) override;
  void RemoveFence(const std::string& tenant_id) override;
  std::optional<int64_t> FenceEpoch(const std::string& tenant_id) const override;
  absl::flat_hash_map<std::string, int64_t> Fences() const override;
  absl::StatusOr<std::vector<LeaseRecord>> ClaimLeases(bool claim) override;
  absl::StatusOr<std::vector<LeaseRecord>> ListLeases() override;
  absl::Status ReleaseLeases() override;
  absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys() override;

  // What one Commit checks and writes for fencing, as statement parameters.
  struct FencePlan {
    bool enabled = false;
    std::string owner_id;
    std::string owner_address;
    double ttl_seconds = 0;
    size_t fenced = 0;    // tenants checked
    std::string tenants;  // text[] and bigint[] literals of the tenants checked and their epochs
    std::string epochs;
    bool creates = false;  // the batch creates tenants (listed in `created`)
    std::string created;
  };

 private:
  absl::StatusOr<FencePlan> PlanFences(absl::Span<const Mutation* const> batch);

  PgStore(std::string url, PgStoreOptions options);

  // Opens a connection with this store's session settings and prepared statements.
  absl::StatusOr<std::unique_ptr<PgConn>> Connect(bool writer);
  // `writer`, or a new connection in its place when it is missing, broken or closed by the
  // server; kUnavailable when none can be opened.
  absl::Status UsableWriter(std::unique_ptr<PgConn>& writer);
  // Takes a free read connection (opening one if the pool is not full), or waits for one.
  absl::StatusOr<std::unique_ptr<PgConn>> AcquireReader();
  // Returns a read connection to the pool; a broken one (or nullptr) only frees its place.
  void ReleaseReader(std::unique_ptr<PgConn> conn);
  // Runs `fn(conn)` on a read connection, mapping exceptions to a Status; retried once on a new
  // connection when the connection was broken.
  template <typename T, typename Fn>
  absl::StatusOr<T> WithReader(Fn&& fn);

  const std::string url_;
  const PgStoreOptions options_;

  // Writer connections: a slot is taken (busy) by one call at a time, which then owns its
  // connection until it gives the slot back.
  size_t AcquireWriterSlot();
  void ReleaseWriterSlot(size_t slot);
  absl::Mutex writer_mu_;
  std::vector<std::unique_ptr<PgConn>> writers_;  // sized once; slot i owned while busy_[i]
  std::vector<bool> writer_busy_ ABSL_GUARDED_BY(writer_mu_);
  std::atomic<int64_t> commits_{0};

  mutable absl::Mutex fence_mu_;
  std::optional<LeaseOwner> owner_ ABSL_GUARDED_BY(fence_mu_);
  absl::flat_hash_map<std::string, int64_t> fences_ ABSL_GUARDED_BY(fence_mu_);

  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<PgConn>> idle_ ABSL_GUARDED_BY(pool_mu_);
  int readers_open_ ABSL_GUARDED_BY(pool_mu_) = 0;  // idle and in use
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_STORE_H_
