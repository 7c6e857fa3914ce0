// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// HoldSweep: the periodic upkeep of holds. Expires the open holds past their expiry (in memory
// only: an expiry follows from expires_at, which the store has), forgets closed holds after
// EngineOptions::closed_hold_retention (or past closed_holds_max), and sweeps hold segments:
// drops the sealed ones whose holds have all closed, and compacts old, mostly closed ones by
// writing their few open holds again into the current segment in the commit that drops them.
// Every step is bounded per sweep and tenant (expire_batch_max, hold_compaction_scan_max).
//
// Thread-safety: takes each tenant's `mu` in turn; the journal's lock is taken under it. A drop
// the journal refuses is tried again at the next sweep.
#ifndef TOKENLEDGER_LEDGER_HOLD_SWEEP_H_
#define TOKENLEDGER_LEDGER_HOLD_SWEEP_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "ledger/context.h"
#include "ledger/hold_journal.h"
#include "ledger/tenant_state.h"

namespace tokenledger {

class HoldSweep {
 public:
  HoldSweep(LedgerContext& cx, const HoldJournal& journal) : cx_(cx), journal_(journal) {}

  // Sweeps every served tenant. Returns how many holds expired.
  int64_t SweepAll() const;
  // Sweeps one tenant (takes its lock). Returns how many holds expired.
  int64_t SweepTenant(TenantState& t) const;

 private:
  using MovedHolds = std::vector<std::pair<std::string, HoldState*>>;
  int64_t ExpireDue(TenantState& t, int64_t now_us) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  void ForgetClosed(TenantState& t, int64_t now_us) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Queues the deletion of the sealed segments whose holds have all closed or expired, and of
  // those compacted (EngineOptions::hold_segment_compact_after) with the rewrite of their open
  // holds.
  void SweepSegments(TenantState& t, int64_t now_us) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // The sealed segments below `current` to drop now (no open hold left); starts a compaction of
  // old, mostly closed ones when none is under way.
  std::vector<int64_t> ChooseSegments(TenantState& t, int64_t current) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  // Goes on with the compaction under way (a bounded share of the expiry index per sweep); once
  // its scan is done, adds the compacted segments to `drop` and their open holds to `moved`.
  void ScanCompaction(TenantState& t, std::vector<int64_t>& drop, MovedHolds& moved) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);
  void SubmitDrop(TenantState& t, const std::vector<int64_t>& drop, const MovedHolds& moved,
                  int64_t current, int64_t now_us) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

  LedgerContext& cx_;
  const HoldJournal& journal_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_HOLD_SWEEP_H_
