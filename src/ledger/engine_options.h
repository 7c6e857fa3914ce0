// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// EngineOptions: the engine's bounds and timings, a plain struct with documented defaults. Set
// once at construction (the server's configuration), read by every part of the engine.
#ifndef TOKENLEDGER_LEDGER_ENGINE_OPTIONS_H_
#define TOKENLEDGER_LEDGER_ENGINE_OPTIONS_H_

#include <cstddef>

#include "absl/time/time.h"

namespace tokenledger {

struct EngineOptions {
  size_t idempotency_keys_max = 200000;  // per tenant, in memory; older keys are found in the store
  size_t open_holds_max = 1000000;       // per tenant; past it Authorize sheds load
  // Closed holds are remembered for `closed_hold_retention`, and at most `closed_holds_max` of
  // them per tenant (the oldest forgotten first, at each sweep), so that memory does not grow
  // with an hour of traffic. A Debit or Release naming a hold no longer in memory asks the
  // store how it closed: a second capture is refused whether the hold is remembered or not, and
  // a Release of a hold released or expired long ago answers 0 released, as for a remembered one.
  absl::Duration closed_hold_retention = absl::Hours(1);
  size_t closed_holds_max = 200000;
  size_t expire_batch_max = 10000;  // holds expired (or journaled) per sweep and tenant
  // How long an allowed Authorize's hold lives in memory only before JournalHolds writes it.
  // A hold captured or released before then is written once, closed, with its Authorize's
  // answer (one that expires before then is never written); a crash loses the holds of the last
  // `hold_journal_delay` (a hold is a reservation; a Debit naming a lost hold is a direct debit).
  // Zero: every hold is queued to the journal at once (written with the next group commit).
  absl::Duration hold_journal_delay = absl::ZeroDuration();
  // Open holds are journaled into segments, a new one per `hold_segment_span` of the clock. Once
  // a segment is no longer written to and every hold in it has closed (its closing row
  // committed) or expired, ExpireHolds deletes its records (Mutation::dropped_hold_segments), so
  // that the store keeps the records of open holds, not of every hold of the last hour, and a
  // start-up reads those.
  absl::Duration hold_segment_span = absl::Seconds(1);
  // A sealed segment this old whose records are mostly of closed holds (an eighth or less still
  // open: the stragglers of the gateway's cycle) has its open holds written again into the
  // current segment, in the commit that drops it, so that a few long-lived holds do not keep
  // every record beside them until they close.
  absl::Duration hold_segment_compact_after = absl::Seconds(30);
  // Open holds a sweep looks at to find a compaction's holds (the scan resumes at the next).
  size_t hold_compaction_scan_max = 50000;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_ENGINE_OPTIONS_H_
