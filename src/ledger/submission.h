// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Submission: how a mutating call goes through the journal and is answered. Under the tenant's
// lock a call first asks its idempotency key (AnswerFromIdempotency: a replay, a conflict, or a
// wait behind its in-flight original), then decides, then submits its Mutation with the record
// of its answer and its audit event (SubmitLocked). When the commit completes, `apply` (or, on a
// failure or a duplicate key, `undo`) runs under the tenant's lock, and the call and its waiters
// are answered with no engine lock held.
//
// Thread-safety: the *Locked functions require the tenant's `mu`; answers decided under it are
// given by a DeferredAnswers once it is released, so callbacks may call the Ledger again.
#ifndef TOKENLEDGER_LEDGER_SUBMISSION_H_
#define TOKENLEDGER_LEDGER_SUBMISSION_H_

#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "ledger/context.h"
#include "ledger/op_result.h"
#include "ledger/requests.h"
#include "ledger/tenant_state.h"
#include "tokenledger/store.h"

namespace tokenledger {

// Answers decided under a tenant lock, given once the lock is released: declared before the
// lock, its destructor runs after the lock's. Callbacks may call back into the Ledger.
class DeferredAnswers {
 public:
  DeferredAnswers() = default;
  DeferredAnswers(const DeferredAnswers&) = delete;
  DeferredAnswers& operator=(const DeferredAnswers&) = delete;
  ~DeferredAnswers() {
    for (auto& [cb, r] : answers_) std::move(cb)(std::move(r));
  }
  void Answer(ResultCallback cb, absl::StatusOr<OpResult> r) {
    answers_.emplace_back(std::move(cb), std::move(r));
  }

 private:
  std::vector<std::pair<ResultCallback, absl::StatusOr<OpResult>>> answers_;
};

// A change to a tenant's memory made when a commit completes; runs under the tenant's `mu`
// (lambdas passed as one are annotated ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu)).
using StateChange = absl::AnyInvocable<void(TenantState&)>;

// Looks the key up. Returns true when the call was answered (replay, conflict, or queued
// behind its in-flight original); `done` has then been consumed.
bool AnswerFromIdempotency(TenantState& t, const IdemArgs& idem, ResultCallback& done,
                           DeferredAnswers& later) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

// Submits `m` with the idempotency record of `result` (and its audit event when
// idem.audit_action is set), and on success records the key as pending and returns true.
// `apply` runs on commit, `undo` on failure or duplicate (either may be empty). When the journal
// refuses the work, answers `done` with its status (kResourceExhausted, kUnavailable) and
// returns false, nothing recorded.
bool SubmitLocked(LedgerContext& cx, TenantState& t, const IdemArgs& idem, const OpResult& result,
                  Mutation m, StateChange apply, StateChange undo, ResultCallback done,
                  DeferredAnswers& later) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_SUBMISSION_H_
