// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Holds: the gateway's hot path. Authorize places a hold (a reservation against the account's
// available budget, daily limit and team cap) in memory and answers at once; Debit records
// usage, capturing the hold it names (or directly, without one); Release gives a hold back;
// Check answers whether an amount would be allowed, changing nothing. Spend is the debit itself,
// shared with downward adjustments (Budgets::Adjust).
//
// A Debit or Release resolves the hold it names once, before acting: from memory under the
// tenant's lock; when memory knows neither the hold (forgotten once closed, or closed before
// this process loaded) nor the call's key, from the store, off the lock. It then acts exactly
// once with that resolution.
//
// Thread-safety: takes the tenant's `mu`; answers are given with no engine lock held. Authorize
// takes no other lock than the registry's (read) and the tenant's, and (without a journaling
// delay) the journal's under it. Errors: kInvalidArgument (arguments, overflow, another
// account's hold), kNotFound (tenant, account, hold), kFailedPrecondition (closed account, hold
// already captured or released), kAborted (the original call is in flight), kAlreadyExists (key
// reused), kResourceExhausted (open holds or the journal's queue full).
#ifndef TOKENLEDGER_LEDGER_HOLDS_H_
#define TOKENLEDGER_LEDGER_HOLDS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ledger/context.h"
#include "ledger/hold_journal.h"
#include "ledger/op_result.h"
#include "ledger/requests.h"
#include "ledger/submission.h"
#include "ledger/tenant_state.h"

namespace tokenledger {

class Holds {
 public:
  Holds(LedgerContext& cx, const HoldJournal& journal) : cx_(cx), journal_(journal) {}

  absl::StatusOr<OpResult> Authorize(const std::string& tenant, const AuthorizeArgs& args,
                                     const IdemArgs& idem);
  absl::StatusOr<CheckResult> Check(const std::string& tenant, const CheckArgs& args);
  void Debit(const std::string& tenant, const DebitArgs& args, const IdemArgs& idem,
             ResultCallback done);
  void Release(const std::string& tenant, const std::string& hold_id, const IdemArgs& idem,
               ResultCallback done);
  // Debits `args.amount` from the account to `sink` (USAGE, or ADJUSTMENT downwards), capturing
  // the hold named when memory knows it (a hold it does not know is a direct debit). Usage that
  // happened is never refused for budget. Arguments are validated by the caller.
  void Spend(const std::string& tenant, const DebitArgs& args, TransferKind kind,
             absl::string_view sink, const std::string& memo, const IdemArgs& idem,
             ResultCallback done);

 private:
  // ---- Authorize ----
  // Takes room for a new hold of `amount` on `a` and fills its answer in `result`.
  absl::Status ReserveHold(TenantState& t, AccountState& a, const AuthorizeArgs& args,
                           int64_t amount, int64_t now_us, OpResult& result) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Places the hold of `result` in memory and journals it (at once, or after the delay).
  absl::Status PlaceHold(TenantState& t, AccountState& a, const AuthorizeArgs& args,
                         const IdemArgs& idem, int64_t now_us, const OpResult& result,
                         const std::string& response) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  // ---- Debit ----
  // Answers a debit that memory settles before its hold is looked at (a key in memory, an
  // unknown or closed account). Returns true when `done` was consumed.
  bool AnswerFromMemory(TenantState& t, const std::string& account_id, const IdemArgs& idem,
                        ResultCallback& done, DeferredAnswers& later) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // The store's answer for a Debit naming a hold memory does not know: a refusal (captured or
  // released, another account's) or this call's stored answer; none when the debit goes on
  // as a direct debit (the hold is unknown, open but forgotten here, or expired).
  std::optional<absl::StatusOr<OpResult>> StoredAnswerForDebit(const std::string& tenant,
                                                               const DebitArgs& args,
                                                               const IdemArgs& idem) const;
  // The hold part of a debit: the amount it captures (0: none, or the hold expired and the
  // debit is direct; the expiry is then added to `m`), or why the debit is refused.
  absl::StatusOr<int64_t> ResolveCapture(TenantState& t, const DebitArgs& args, int64_t now_us,
                                         Mutation& m) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Acts: submits the debit (after AnswerFromMemory said no).
  void SpendLocked(TenantState& t, const DebitArgs& args, TransferKind kind, absl::string_view sink,
                   const std::string& memo, const IdemArgs& idem, ResultCallback done,
                   DeferredAnswers& later) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  // ---- Release ----
  // Releases a hold memory knows.
  void ReleaseKnown(TenantState& t, const std::string& hold_id, HoldState& hold,
                    const IdemArgs& idem, ResultCallback done, DeferredAnswers& later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Releases a hold memory does not know, closed in the store with `stored`.
  void ReleaseForgotten(TenantState& t, const std::string& hold_id, HoldStatus stored,
                        const IdemArgs& idem, ResultCallback done, DeferredAnswers& later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  LedgerContext& cx_;
  const HoldJournal& journal_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_HOLDS_H_
