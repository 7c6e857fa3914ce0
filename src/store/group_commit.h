// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// GroupCommitWriter: the one path of every durable write. Calls queue mutations; one writer
// thread takes everything queued (up to batch_mutations_max), commits it in one transaction of
// the LedgerStore, then completes each waiting call. Under light load a batch is one call; under
// load batches grow, which is where the throughput comes from.
//
// A commit whose answer was lost (the store's kUnknown: the connection dropped during COMMIT) is
// resolved through the batch id written in the batch before anyone of it is answered: at once
// when the store can be asked, else by a resolver thread once it can, while later batches go on
// (and fail kUnavailable within their window if the database stays away). Exclusive items wait
// for it. A writer stopped before it could learn the outcome answers kDeadlineExceeded. A batch
// that cannot be committed within `commit_retry_for` fails with kUnavailable, as does one that
// fencing refused (the store's kAborted); one the store refuses for good (any other error) fails
// with kInternal. In each of these cases nothing of the batch is durable.
//
// Thread-safe: Submit and RunExclusive may be called from any thread.
#ifndef TOKENLEDGER_STORE_GROUP_COMMIT_H_
#define TOKENLEDGER_STORE_GROUP_COMMIT_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tokenledger/clock.h"
#include "tokenledger/journal.h"
#include "tokenledger/store.h"

namespace tokenledger {

struct WriterOptions {
  // Past this Submit sheds load (kResourceExhausted). A mutation counts one, or one per hold it
  // carries.
  size_t queue_mutations_max = 200000;
  size_t batch_mutations_max = 4000;   // one transaction holds at most this many mutations
  size_t completing_batches_max = 16;  // committed batches waiting to be answered
  // Threads committing batches at once (each with its own store connection): while one batch
  // waits for its COMMIT, the next is written. Per-tenant order is kept by the engine (a call's
  // effects are journaled only after what it depends on has committed) and by the store (a
  // hold never reopens). 1 by default: on 2 cores, 2 committers measured slower (every debit
  // batch updates the tenant's @usage balance row, so the second waits for the first's lock and
  // batches only get smaller).
  int committers = 1;
  // How long deferred writes (holds, expiries) may wait for company before they are committed.
  // 0 by default: measured on a 2-core machine, waiting made Authorize's tail latency worse
  // (bursts of large commits compete with the calls for CPU); with cores to spare it cuts the
  // database's work per hold.
  absl::Duration deferred_flush_interval = absl::ZeroDuration();
  // The committing threads run as SCHED_BATCH (Linux): a writer woken by a submit then does not
  // preempt the thread that submitted, which is about to send its call's answer (an Authorize
  // answers before its hold commits); it runs as soon as that thread waits, with its fair share
  // of the CPU as before.
  bool batch_scheduling = true;
  absl::Duration commit_retry_for = absl::Seconds(5);  // then the batch fails kUnavailable
  absl::Duration retry_backoff = absl::Milliseconds(50);
  // Called on the committing thread after each batch, committed or failed, outside the writer's
  // locks: how many mutations it held, how long committing it took (retries included), whether
  // it committed. For metrics: must be cheap and thread-safe. May be empty.
  std::function<void(size_t mutations, absl::Duration took, bool committed)> on_commit;
};

struct WriterStats {
  uint64_t batches = 0;
  uint64_t mutations = 0;
  uint64_t failed_batches = 0;
  uint64_t in_doubt_resolved = 0;
  uint64_t commit_micros_total = 0;
  uint64_t commit_micros_max = 0;
  size_t queue_depth = 0;
};

// `clock` must be the real clock (absl::Now() time): the writer's waits are real waits.
class GroupCommitWriter final : public Journal {
 public:
  GroupCommitWriter(LedgerStore* store, const Clock* clock, WriterOptions options);
  ~GroupCommitWriter() override;  // Stop()s

  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  absl::Status Submit(Mutation m, Done done) override;
  absl::Status SubmitDeferred(Mutation m, Done done) override;
  absl::Status RunExclusive(ExclusiveFn fn) override;

  // Stops taking new work, commits and completes everything queued, joins the thread.
  void Stop();

  WriterStats stats() const;

 private:
  struct Pending {
    Mutation mutation;
    Done done;
    bool deferred = false;
    absl::Time queued_at;
    size_t weight = 1;  // what it counts against queue_mutations_max
  };
  absl::Status Enqueue(Mutation m, Done done, bool deferred);
  // Whether the queue holds work that must not wait: a call's write, an exclusive item.
  bool Urgent() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return urgent_ > 0 || stopping_; }
  using Item = std::variant<Pending, ExclusiveFn>;
  struct Committed {
    std::vector<Pending> batch;
    absl::StatusOr<std::vector<MutationOutcome>> outcomes;
  };

  void Run();
  bool CanTake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (!queue_.empty() && !exclusive_waiting_);
  }
  // Answers committed batches in commit order, so that the writer can start the next batch
  // while the calls of the last one are completed (memory applied, replies sent).
  void Complete();
  void WaitCompleted();
  bool CanHandOver() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(done_mu_) {
    return completing_ < options_.completing_batches_max;
  }
  void CommitBatch(std::vector<Pending> batch);
  // Sets `in_doubt` to the batch id (and returns kUnknown) when the commit's outcome is unknown
  // and the store cannot be asked now.
  absl::StatusOr<std::vector<MutationOutcome>> CommitWithRetry(
      const std::vector<const Mutation*>& ptrs, uint64_t& in_doubt);
  // The outcomes of a committed batch, none when it did not commit, or why the store cannot say.
  absl::StatusOr<std::optional<std::vector<MutationOutcome>>> ResolveOnce(
      const std::vector<const Mutation*>& ptrs, uint64_t batch_id);
  // In-doubt batches, resolved in order on the resolver thread and then answered.
  struct InDoubt {
    std::vector<Pending> batch;
    uint64_t batch_id = 0;
  };
  void HandToResolver(std::vector<Pending> batch, uint64_t batch_id);
  void Resolve();
  absl::StatusOr<std::vector<MutationOutcome>> ResolveUntilKnown(
      const std::vector<const Mutation*>& ptrs, uint64_t batch_id);

  LedgerStore* const store_;
  const Clock* const clock_;
  const WriterOptions options_;

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_mutations_ ABSL_GUARDED_BY(mu_) = 0;
  size_t urgent_ ABSL_GUARDED_BY(mu_) = 0;  // queued items that are not deferred
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  WriterStats stats_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex done_mu_;
  std::deque<Committed> committed_ ABSL_GUARDED_BY(done_mu_);
  size_t completing_ ABSL_GUARDED_BY(done_mu_) = 0;  // batches handed over, not yet answered
  bool writer_done_ ABSL_GUARDED_BY(done_mu_) = false;
  std::deque<InDoubt> in_doubt_ ABSL_GUARDED_BY(done_mu_);
  bool resolver_stopping_ ABSL_GUARDED_BY(done_mu_) = false;
  absl::Time stop_time_ ABSL_GUARDED_BY(done_mu_);

  // Exclusive items run alone: no batch is taken while one waits, and it waits for the
  // batches being committed.
  size_t committing_ ABSL_GUARDED_BY(mu_) = 0;
  bool exclusive_waiting_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> next_batch_id_;
  std::vector<std::thread> threads_;
  std::thread completer_;
  std::thread resolver_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_STORE_GROUP_COMMIT_H_
