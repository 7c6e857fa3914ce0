// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The in-memory state of one served tenant: its accounts, teams, holds (open and recently
// closed), hold segments, calendar windows, recent idempotency keys and price book. This is not a
// cache in front of the store but the engine's own state: while this process owns the tenant it is
// the authority for Authorize, and it mirrors the store's committed balances exactly (see
// ledger/engine.h for the rules).
//
// Thread-safety: every field but `record` and `tz` (set once at creation) is guarded by `mu`.
// The engine's parts take it; a TenantState is shared by shared_ptr so that calls in flight
// finish against it after the tenant is dropped or replaced.
#ifndef TOKENLEDGER_LEDGER_TENANT_STATE_H_
#define TOKENLEDGER_LEDGER_TENANT_STATE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ledger/account_table.h"
#include "ledger/calendar.h"
#include "ledger/idempotency_cache.h"
#include "ledger/pricing.h"
#include "tokenledger/types.h"

namespace tokenledger {

enum class HoldPhase : int8_t {
  kOpen = 1,
  kCapturing = 2,  // a Debit naming it is being committed
  kReleasing = 3,  // a Release is being committed
  kCaptured = 4,
  kReleased = 5,
  kExpired = 6,
};

struct HoldState {
  std::string account_id;
  int64_t amount = 0;
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;
  int64_t closed_at_us = 0;
  HoldPhase phase = HoldPhase::kOpen;
  // False while the hold exists in memory only (its Authorize's journaling is delayed): its
  // closing row then carries the Authorize's answer (see HoldJournal::JournalDue).
  bool journaled = true;
  // The Authorize's answer is known (`available_after` and `fingerprint` below): every row of
  // the hold carries it, re-encoded, even once its key has left the key cache.
  bool answer_known = false;
  int64_t available_after = 0;  // the answer's `available`
  uint64_t fingerprint = 0;     // of the Authorize request
  std::string idempotency_key;
  // The model whose limit it counts against while open (empty: none; see LimitedModel).
  std::string model;
  // The segment its open record was journaled into while it is counted there (0: none).
  int64_t segment = 0;
};

// A segment of a tenant's journaled open holds (EngineOptions::hold_segment_span).
struct HoldSegmentState {
  int64_t open = 0;       // holds journaled into it and still open
  int64_t journaled = 0;  // records it holds (those of holds closed since included)
  // The closed rows of its holds that expired in memory (an expiry is not written by itself),
  // taken as they expired: written when the segment is dropped, so that their Authorize answers
  // outlive it, even once memory has forgotten those holds.
  std::vector<HoldRecord> expired;
};

// A team in memory: its cap, and its members' usage and open holds in the current period.
struct TeamState {
  std::string display_name;
  int64_t monthly_cap = 0;  // 0 = none
  int64_t window_period_us = 0;
  int64_t period_spent = 0;
  int64_t held = 0;
};

// Shared by the registry and the calls in flight; a commit's completion keeps it alive
// (shared_from_this) until it has applied or undone its change.
struct TenantState : std::enable_shared_from_this<TenantState> {
  explicit TenantState(TenantRecord r, size_t idempotency_capacity)
      : record(std::move(r)), idempotency(idempotency_capacity) {}

  const TenantRecord record;
  absl::TimeZone tz;  // set once at creation
  absl::Mutex mu;
  CalendarWindows windows ABSL_GUARDED_BY(mu);
  int64_t resets_done_for_us ABSL_GUARDED_BY(mu) = 0;  // every due reset of this period is queued
  AccountTable accounts ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, TeamState> teams ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, HoldState> holds ABSL_GUARDED_BY(mu);
  size_t open_holds ABSL_GUARDED_BY(mu) = 0;
  // Open holds by (expiry, hold id), soonest first, each with the segment its record is in (0:
  // none). A hold leaves it when it closes, so it holds the open holds only (a heap with lazy
  // deletion kept a captured hold's entry until its expiry time: every hold of the last
  // `hold_ttl_seconds` at the gateway's rate).
  absl::btree_map<std::pair<int64_t, std::string>, int64_t> expiry ABSL_GUARDED_BY(mu);
  // Closed holds in the order they closed, forgotten after the retention period.
  std::deque<std::pair<int64_t, std::string>> closed ABSL_GUARDED_BY(mu);
  // Holds not yet journaled, by the time their journaling is due (creation order is due order).
  std::deque<std::pair<int64_t, std::string>> unjournaled ABSL_GUARDED_BY(mu);
  // Hold segments with records in the store (EngineOptions::hold_segment_span), by segment.
  // Bounded by the segments of the holds' lifetimes.
  absl::btree_map<int64_t, HoldSegmentState> hold_segments ABSL_GUARDED_BY(mu);
  int64_t hold_segment_current ABSL_GUARDED_BY(mu) = 0;
  // A compaction of hold segments under way: the segments chosen, and their open holds found
  // so far by a scan of `expiry` that goes on from `cursor` over several sweeps (a bounded share
  // each, so that a tenant with a million open holds is not stalled for the whole scan).
  struct SegmentCompaction {
    absl::flat_hash_set<int64_t> segments;
    std::optional<std::pair<int64_t, std::string>> cursor;  // the last entry scanned
    std::vector<std::string> found;
  };
  std::optional<SegmentCompaction> compaction ABSL_GUARDED_BY(mu);
  // The journal refused the last journaling of holds (its queue is full): Authorize sheds load
  // until a journaling succeeds.
  bool journal_full ABSL_GUARDED_BY(mu) = false;
  IdempotencyCache idempotency ABSL_GUARDED_BY(mu);
  PriceBook prices ABSL_GUARDED_BY(mu);
  // Prices (model, effective_at) being committed: a second one is refused before it reaches the
  // store, where its duplicate key would fail its whole batch.
  absl::flat_hash_set<std::pair<std::string, int64_t>> prices_in_flight ABSL_GUARDED_BY(mu);
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_TENANT_STATE_H_
