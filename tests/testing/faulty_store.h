// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// FaultyStore: a LedgerStore that forwards to another one and injects the failures a real
// database produces, for tests of the writer and the engine: commits that fail, commits whose
// answer is lost after they happened ("in doubt", kUnknown as PgStore reports it), and an
// unreachable database (kUnavailable). In the testing library: the daemon never links it.
//
// Thread-safe (the faults may be set from a test thread while the writer runs).
#ifndef TOKENLEDGER_TESTING_FAULTY_STORE_H_
#define TOKENLEDGER_TESTING_FAULTY_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "tokenledger/store.h"

namespace tokenledger {

class FaultyStore final : public LedgerStore {
 public:
  // `inner` must outlive this store.
  explicit FaultyStore(LedgerStore* inner);
  FaultyStore(const FaultyStore&) = delete;
  FaultyStore& operator=(const FaultyStore&) = delete;

  // The next `n` Commit calls fail with `status` without committing anything. Replaces an
  // earlier FailNextCommits that has not run out.
  void FailNextCommits(int n, absl::Status status);
  // The next `n` Commit calls (that are not failed by FailNextCommits) commit on the inner store
  // and then return absl::UnknownError("commit in doubt"), like a connection lost during COMMIT.
  void CommitThenReportInDoubt(int n);
  // While set, every call returns kUnavailable and reaches nothing.
  void SetUnavailable(bool unavailable);
  // The store goes away (as SetUnavailable(true)) as the next Commit call returns, whatever it
  // returns: the database lost with the answer of a commit.
  void GoAwayAfterNextCommit();

  // Commit calls seen, and those that reached the inner store.
  int64_t commit_calls() const;
  int64_t commits_forwarded() const;

  absl::StatusOr<std::vector<MutationOutcome>> Commit(absl::Span<const Mutation* const> batch,
                                                      uint64_t batch_id) override;
  absl::StatusOr<bool> CommittedBatch(uint64_t batch_id) override;
  absl::StatusOr<Snapshot> Load() override;
  absl::StatusOr<std::vector<TransferRecord>> ListTransfers(const TransferQuery& q) override;
  absl::StatusOr<std::optional<IdempotencyRecord>> GetIdempotency(const std::string& tenant_id,
                                                                  const std::string& key) override;
  absl::StatusOr<std::optional<HoldRecord>> GetHold(const std::string& tenant_id,
                                                    const std::string& hold_id) override;
  absl::StatusOr<ReconcileData> Recompute(const std::string& tenant_id) override;
  absl::StatusOr<std::vector<UsageSums>> SumUsage(const std::string& tenant_id,
                                                  int64_t period_start_us,
                                                  int64_t day_start_us) override;
  absl::Status RepairBalances(const std::string& tenant_id,
                              const std::vector<std::pair<std::string, PostedTotals>>& totals,
                              const AuditRecord& audit) override;
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(const AuditQuery& q) override;

 private:
  // Commit, but for GoAwayAfterNextCommit.
  absl::StatusOr<std::vector<MutationOutcome>> CommitOnce(absl::Span<const Mutation* const> batch,
                                                          uint64_t batch_id);
  // kUnavailable while SetUnavailable(true), else OK.
  absl::Status Reachable() const;

  LedgerStore* const inner_;
  mutable absl::Mutex mu_;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  int fail_commits_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_status_ ABSL_GUARDED_BY(mu_);
  int in_doubt_commits_ ABSL_GUARDED_BY(mu_) = 0;
  bool go_away_after_commit_ ABSL_GUARDED_BY(mu_) = false;
  int64_t commit_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t commits_forwarded_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_TESTING_FAULTY_STORE_H_
