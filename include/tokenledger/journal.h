// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Journal: where the engine sends every durable write. The group-commit writer (src/store)
// implements it; it commits queued mutations in batches and completes each one afterwards.
#ifndef TOKENLEDGER_JOURNAL_H_
#define TOKENLEDGER_JOURNAL_H_

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tokenledger/store.h"

namespace tokenledger {

class Journal {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<MutationOutcome>) &&>;
  using ExclusiveFn = absl::AnyInvocable<void(LedgerStore&) &&>;

  virtual ~Journal() = default;

  // Queues `m`. `done` runs exactly once, on the writer's thread, after the batch holding `m`
  // committed (OK), was found a duplicate (outcome.committed false), or failed for certain
  // (nothing of `m` is durable): kUnavailable when the store could not be reached in time or no
  // longer serves the tenant (fencing), kInternal when the store refused the batch for good (a
  // constraint: retrying would fail again). A commit in doubt is resolved before `done` runs, so
  // `done` never sees kUnknown; a journal stopped before it could resolve one answers
  // kDeadlineExceeded (the outcome unknown: a retry with the same key finds it). Returns
  // kResourceExhausted without queueing (and without calling `done`) when the queue is full,
  // kUnavailable when stopped.
  virtual absl::Status Submit(Mutation m, Done done) = 0;

  // Like Submit, for a write nobody waits for (a hold, an expiry): it may wait up to the
  // journal's flush interval to share a transaction with later work, and goes with the next
  // Submit at the latest. `done` may be empty: nobody is told.
  virtual absl::Status SubmitDeferred(Mutation m, Done done) = 0;

  // Runs `fn` on the writer's thread once everything queued before it has committed and been
  // completed, and before anything queued after it. For reconciliation and resets.
  virtual absl::Status RunExclusive(ExclusiveFn fn) = 0;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_JOURNAL_H_
