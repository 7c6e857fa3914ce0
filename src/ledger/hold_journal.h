// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// HoldJournal: how holds reach the store. An open hold is written (journaled) into a hold
// segment, a new one per EngineOptions::hold_segment_span of the clock, at once or once its
// journaling delay is over (JournalDue); a closing (capture, release, expiry) writes the hold's
// closed row, which carries its Authorize's answer. Each segment counts the open holds whose
// records it holds, so that HoldSweep can drop it once they have all closed.
//
// Thread-safety: the functions on a TenantState require its `mu`; JournalDue takes each
// tenant's in turn. The journal's lock is taken under it (SubmitDeferred), never the reverse.
// A refused journaling (the journal's queue is full) sets TenantState::journal_full: Authorize
// sheds load until a journaling succeeds.
#ifndef TOKENLEDGER_LEDGER_HOLD_JOURNAL_H_
#define TOKENLEDGER_LEDGER_HOLD_JOURNAL_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "ledger/context.h"
#include "ledger/tenant_state.h"
#include "tokenledger/types.h"

namespace tokenledger {

class HoldJournal {
 public:
  explicit HoldJournal(LedgerContext& cx) : cx_(cx) {}

  // The store's row of hold `hold_id` in `status`, with its Authorize's fingerprint and answer
  // (from the hold, or else from the key cache), so that the row still replays that Authorize
  // after a restart.
  HoldRecord Row(TenantState& t, const std::string& hold_id, const HoldState& h,
                 HoldStatus status) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Marks a hold closed in memory. The caller has already taken its amount out of `held` if it
  // was in flight; for an open hold (an expiry), this does it. An expired hold's closed row is
  // kept to be written with its segment's drop.
  void Close(TenantState& t, const std::string& hold_id, HoldState& h, HoldPhase phase) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  // The segment an open hold journaled at `now_us` goes to; never lower than one used before,
  // so that segments below it are sealed.
  int64_t CurrentSegment(TenantState& t, int64_t now_us) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Records that hold `id` (open) is journaled now, into the current segment; returns it.
  int64_t JoinSegment(TenantState& t, const std::string& id, HoldState& h, int64_t now_us) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Takes hold `h` out of the count of its segment (it closed, or its journaling was refused).
  void LeaveSegment(TenantState& t, const std::string& id, HoldState& h) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  // Journals the open holds whose journaling delay is over, or with `all`, every hold not yet
  // journaled (before a shutdown), in every served tenant. Returns how many.
  int64_t JournalDue(bool all) const;

 private:
  int64_t SegmentSpanMicros() const;
  int64_t JournalTenant(TenantState& t, bool all) const;
  // Takes the due holds of one batch off `t.unjournaled` into `m` (those still open and not yet
  // journaled) and `taken` (every entry taken, to put back if the journal refuses).
  void TakeDue(TenantState& t, bool all, int64_t now_us, Mutation& m,
               std::vector<std::pair<int64_t, std::string>>& taken) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  LedgerContext& cx_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_HOLD_JOURNAL_H_
