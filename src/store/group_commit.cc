// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "store/group_commit.h"

#include <sched.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"

namespace tokenledger {

GroupCommitWriter::GroupCommitWriter(LedgerStore* store, const Clock* clock, WriterOptions options)
    : store_(store), clock_(clock), options_(options) {
  // Batch ids must not repeat across restarts or processes sharing a database: start from a
  // random 62-bit value and count up.
  absl::BitGen gen;
  next_batch_id_ = absl::Uniform<uint64_t>(gen, 1, uint64_t{1} << 62);
  completer_ = std::thread([this] { Complete(); });
  resolver_ = std::thread([this] { Resolve(); });
  for (int i = 0; i < std::max(1, options_.committers); ++i) {
    threads_.emplace_back([this] { Run(); });
  }
}

GroupCommitWriter::~GroupCommitWriter() { Stop(); }

absl::Status GroupCommitWriter::Submit(Mutation m, Done done) {
  return Enqueue(std::move(m), std::move(done), /*deferred=*/false);
}

absl::Status GroupCommitWriter::SubmitDeferred(Mutation m, Done done) {
  return Enqueue(std::move(m), std::move(done), /*deferred=*/true);
}

absl::Status GroupCommitWriter::Enqueue(Mutation m, Done done, bool deferred) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  // A mutation carrying many holds (the journaling of delayed holds) counts one per hold, so that
  // the bound is on rows, however they are grouped. It is taken while the queue is below its bound
  // (which it may then pass by that one mutation).
  const size_t weight = std::max<size_t>(1, m.holds.size());
  if (queued_mutations_ >= options_.queue_mutations_max) {
    return absl::ResourceExhaustedError("write queue full; retry with the same idempotency key");
  }
  queue_.emplace_back(Pending{std::move(m), std::move(done), deferred, now, weight});
  queued_mutations_ += weight;
  if (!deferred) ++urgent_;
  return absl::OkStatus();
}

absl::Status GroupCommitWriter::RunExclusive(ExclusiveFn fn) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  queue_.emplace_back(std::move(fn));
  ++urgent_;
  return absl::OkStatus();
}

void GroupCommitWriter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  {
    absl::MutexLock lock(&done_mu_);
    resolver_stopping_ = true;
    stop_time_ = clock_->Now();
  }
  if (resolver_.joinable()) resolver_.join();
  {
    absl::MutexLock lock(&done_mu_);
    writer_done_ = true;
  }
  if (completer_.joinable()) completer_.join();
}

WriterStats GroupCommitWriter::stats() const {
  absl::MutexLock lock(&mu_);
  WriterStats s = stats_;
  s.queue_depth = queued_mutations_;
  return s;
}

void GroupCommitWriter::Run() {
  if (options_.batch_scheduling) {
    // Linux applies the policy to the calling thread only. Failure changes nothing but this.
    sched_param param{};
    (void)sched_setscheduler(0, SCHED_BATCH, &param);
  }
  for (;;) {
    std::vector<Pending> batch;
    std::optional<ExclusiveFn> exclusive;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &GroupCommitWriter::CanTake));
      if (queue_.empty()) return;  // stopping, and everything is taken
      if (!Urgent()) {
        // Only deferred writes: let them gather company until the oldest has waited its
        // interval, or until a write with a waiting caller arrives.
        const auto* oldest = std::get_if<Pending>(&queue_.front());
        const absl::Time flush_at = oldest->queued_at + options_.deferred_flush_interval;
        mu_.AwaitWithDeadline(absl::Condition(this, &GroupCommitWriter::Urgent), flush_at);
        if (queue_.empty() || exclusive_waiting_) continue;  // another thread took them
      }
      if (auto* fn = std::get_if<ExclusiveFn>(&queue_.front())) {
        exclusive.emplace(std::move(*fn));
        queue_.pop_front();
        --urgent_;
        exclusive_waiting_ = true;
        mu_.Await(absl::Condition(
            +[](size_t* n) { return *n == 0; }, &committing_));
      } else {
        while (!queue_.empty() && batch.size() < options_.batch_mutations_max) {
          auto* p = std::get_if<Pending>(&queue_.front());
          if (p == nullptr) break;  // an exclusive item waits for this batch
          if (!p->deferred) --urgent_;
          queued_mutations_ -= p->weight;
          batch.push_back(std::move(*p));
          queue_.pop_front();
        }
        ++committing_;
      }
    }
    if (exclusive) {
      WaitCompleted();  // everything before it is committed, answered and applied
      std::move (*exclusive)(*store_);
      absl::MutexLock lock(&mu_);
      exclusive_waiting_ = false;
    } else {
      CommitBatch(std::move(batch));
      absl::MutexLock lock(&mu_);
      --committing_;
    }
  }
}

void GroupCommitWriter::WaitCompleted() {
  absl::MutexLock lock(&done_mu_);
  done_mu_.Await(absl::Condition(
      +[](GroupCommitWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->done_mu_) {
        return w->completing_ == 0 && w->in_doubt_.empty();
      },
      this));
}

void GroupCommitWriter::Complete() {
  for (;;) {
    Committed c;
    {
      absl::MutexLock lock(&done_mu_);
      done_mu_.Await(absl::Condition(
          +[](GroupCommitWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->done_mu_) {
            return !w->committed_.empty() || w->writer_done_;
          },
          this));
      if (committed_.empty()) return;  // the writer has stopped and everything is answered
      c = std::move(committed_.front());
      committed_.pop_front();
    }
    for (size_t i = 0; i < c.batch.size(); ++i) {
      if (!c.batch[i].done) continue;  // a deferred write nobody waits for
      if (c.outcomes.ok()) {
        std::move(c.batch[i].done)(std::move((*c.outcomes)[i]));
      } else {
        std::move(c.batch[i].done)(c.outcomes.status());
      }
    }
    absl::MutexLock lock(&done_mu_);
    --completing_;
  }
}

void GroupCommitWriter::CommitBatch(std::vector<Pending> batch) {
  std::vector<const Mutation*> ptrs;
  ptrs.reserve(batch.size());
  for (const auto& p : batch) ptrs.push_back(&p.mutation);
  const absl::Time start = clock_->Now();
  uint64_t in_doubt = 0;
  absl::StatusOr<std::vector<MutationOutcome>> outcomes = CommitWithRetry(ptrs, in_doubt);
  const absl::Duration took = clock_->Now() - start;
  const auto micros = static_cast<uint64_t>(absl::ToInt64Microseconds(took));
  {
    absl::MutexLock lock(&mu_);
    ++stats_.batches;
    stats_.mutations += batch.size();
    stats_.commit_micros_total += micros;
    if (micros > stats_.commit_micros_max) stats_.commit_micros_max = micros;
    if (!outcomes.ok() && in_doubt == 0) ++stats_.failed_batches;
  }
  if (outcomes.ok() && outcomes->size() != batch.size()) {
    outcomes = absl::InternalError("store returned a wrong number of outcomes");
  }
  if (options_.on_commit) options_.on_commit(batch.size(), took, outcomes.ok());
  if (in_doubt != 0) return HandToResolver(std::move(batch), in_doubt);
  // Nobody to tell (deferred writes without a callback: an Authorize's holds): the completer is
  // not woken for it, which would cost a thread switch per batch.
  if (std::none_of(batch.begin(), batch.end(), [](const Pending& p) { return bool(p.done); })) {
    return;
  }
  absl::MutexLock lock(&done_mu_);
  // Bounded: when answering falls behind, committing waits for it.
  done_mu_.Await(absl::Condition(this, &GroupCommitWriter::CanHandOver));
  ++completing_;
  committed_.push_back(Committed{std::move(batch), std::move(outcomes)});
}

void GroupCommitWriter::HandToResolver(std::vector<Pending> batch, uint64_t batch_id) {
  absl::MutexLock lock(&done_mu_);
  // Bounded: past this many unresolved batches, committing waits (as it did for every one).
  done_mu_.Await(absl::Condition(
      +[](GroupCommitWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->done_mu_) {
        return w->in_doubt_.size() < w->options_.completing_batches_max;
      },
      this));
  in_doubt_.push_back(InDoubt{std::move(batch), batch_id});
}

void GroupCommitWriter::Resolve() {
  for (;;) {
    std::vector<const Mutation*> ptrs;
    uint64_t batch_id = 0;
    {
      absl::MutexLock lock(&done_mu_);
      done_mu_.Await(absl::Condition(
          +[](GroupCommitWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->done_mu_) {
            return !w->in_doubt_.empty() || w->resolver_stopping_;
          },
          this));
      if (in_doubt_.empty()) return;
      // Only this thread removes entries, and a deque's push_back keeps references valid.
      for (const Pending& p : in_doubt_.front().batch) ptrs.push_back(&p.mutation);
      batch_id = in_doubt_.front().batch_id;
    }
    absl::StatusOr<std::vector<MutationOutcome>> answer = ResolveUntilKnown(ptrs, batch_id);
    absl::MutexLock lock(&done_mu_);
    ++completing_;
    committed_.push_back(Committed{std::move(in_doubt_.front().batch), std::move(answer)});
    in_doubt_.pop_front();
  }
}

absl::StatusOr<std::vector<MutationOutcome>> GroupCommitWriter::ResolveUntilKnown(
    const std::vector<const Mutation*>& ptrs, uint64_t batch_id) {
  absl::Duration backoff = options_.retry_backoff;
  for (;;) {
    absl::StatusOr<std::optional<std::vector<MutationOutcome>>> known = ResolveOnce(ptrs, batch_id);
    if (known.ok() && known->has_value()) {
      absl::MutexLock lock(&mu_);
      ++stats_.in_doubt_resolved;
      return **known;
    }
    if (known.ok()) {
      return absl::UnavailableError(
          "durable store unavailable, nothing was recorded: the connection was lost during the "
          "commit, which did not happen");
    }
    {
      absl::MutexLock lock(&done_mu_);
      if (resolver_stopping_ && clock_->Now() - stop_time_ > options_.commit_retry_for) {
        return absl::DeadlineExceededError(
            "the connection to the database was lost during this write's commit and the server "
            "stopped before it could learn the outcome: it may or may not be recorded; retry "
            "with the same idempotency key");
      }
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::StatusOr<std::vector<MutationOutcome>> GroupCommitWriter::CommitWithRetry(
    const std::vector<const Mutation*>& ptrs, uint64_t& in_doubt) {
  const absl::Time deadline = clock_->Now() + options_.commit_retry_for;
  absl::Status last;
  for (int attempt = 0;; ++attempt) {
    const uint64_t batch_id = next_batch_id_++;
    auto outcomes = store_->Commit(ptrs, batch_id);
    if (outcomes.ok()) return outcomes;
    last = outcomes.status();
    if (absl::IsUnknown(last)) {
      // The commit may or may not have happened. Find out before answering anyone: now if the
      // store can say, else off this thread (Resolve), so that later batches go on meanwhile.
      auto known = ResolveOnce(ptrs, batch_id);
      if (!known.ok()) {
        in_doubt = batch_id;
        return last;
      }
      if (known->has_value()) {
        absl::MutexLock lock(&mu_);
        ++stats_.in_doubt_resolved;
        return **known;
      }
      // It did not commit: retry it.
    } else if (absl::IsAborted(last)) {
      // Refused by fencing: another process owns a tenant of the batch now. Not retried here;
      // the callers retry against the owner.
      return absl::UnavailableError(absl::StrCat(
          "nothing was recorded, this process no longer serves the tenant: ", last.message()));
    } else if (!absl::IsUnavailable(last)) {
      // A definite failure (a constraint, a bug): retrying would fail again. Every call of the
      // batch gets it, so it must not read as something one of them did wrong.
      return absl::InternalError(
          absl::StrCat("the batch was rolled back, nothing was recorded: ", last.message()));
    }
    if (clock_->Now() + options_.retry_backoff > deadline) break;
    absl::SleepFor(options_.retry_backoff);
  }
  return absl::UnavailableError(
      absl::StrCat("durable store unavailable, nothing was recorded: ", last.message()));
}

absl::StatusOr<std::optional<std::vector<MutationOutcome>>> GroupCommitWriter::ResolveOnce(
    const std::vector<const Mutation*>& ptrs, uint64_t batch_id) {
  absl::StatusOr<bool> committed = store_->CommittedBatch(batch_id);
  if (!committed.ok()) return committed.status();
  if (!*committed) return std::nullopt;
  // The batch committed. A mutation whose idempotency key was already stored was skipped: its
  // stored response differs from ours (ours names new ids).
  std::vector<MutationOutcome> out(ptrs.size());
  for (size_t i = 0; i < ptrs.size(); ++i) {
    const auto& idem = ptrs[i]->idempotency;
    if (!idem) continue;
    auto stored = store_->GetIdempotency(idem->tenant_id, idem->key);
    if (!stored.ok()) return stored.status();
    if (*stored && (*stored)->response != idem->response) {
      out[i].committed = false;
      out[i].existing = **stored;
    }
  }
  return out;
}

}  // namespace tokenledger
