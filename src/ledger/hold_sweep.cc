// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/hold_sweep.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"

namespace tokenledger {

int64_t HoldSweep::SweepAll() const {
  int64_t expired = 0;
  for (const auto& t : cx_.tenants.All()) expired += SweepTenant(*t);
  return expired;
}

int64_t HoldSweep::SweepTenant(TenantState& t) const {
  const int64_t now = cx_.clock->NowMicros();
  absl::MutexLock lock(&t.mu);
  const int64_t expired = ExpireDue(t, now);
  ForgetClosed(t, now);
  SweepSegments(t, now);
  return expired;
}

int64_t HoldSweep::ExpireDue(TenantState& t, int64_t now_us) const {
  int64_t expired = 0;
  // An expiry is not written: it follows from expires_at, which the store has (a hold loaded
  // open past its expiry is loaded expired). A capture or release of an expired hold writes it.
  // A hold whose capture or release is being committed stays in the index: if that commit fails
  // it is open again, and expires at a later sweep.
  // (Erasing from a btree invalidates its iterators: each step looks its entry up again.)
  std::optional<std::pair<int64_t, std::string>> in_flight;  // the last entry skipped
  while (static_cast<size_t>(expired) < cx_.options.expire_batch_max) {
    auto entry = in_flight ? t.expiry.upper_bound(*in_flight) : t.expiry.begin();
    if (entry == t.expiry.end() || entry->first.first > now_us) break;
    auto it = t.holds.find(entry->first.second);
    if (it == t.holds.end() || it->second.phase >= HoldPhase::kCaptured) {
      t.expiry.erase(entry);  // not expected: a closed hold leaves the index
      continue;
    }
    if (it->second.phase != HoldPhase::kOpen) {
      in_flight = entry->first;
      continue;
    }
    const std::string hold_id = entry->first.second;
    journal_.Close(t, hold_id, it->second, HoldPhase::kExpired);  // erases the entry
    ++expired;
  }
  return expired;
}

void HoldSweep::ForgetClosed(TenantState& t, int64_t now_us) const {
  // Closed holds are remembered for a while, and up to a number, then forgotten (a Debit naming
  // a hold not in memory asks the store about it).
  const int64_t forget_before =
      now_us - absl::ToInt64Microseconds(cx_.options.closed_hold_retention);
  while (!t.closed.empty() && (t.closed.front().first < forget_before ||
                               t.closed.size() > cx_.options.closed_holds_max)) {
    auto it = t.holds.find(t.closed.front().second);
    if (it != t.holds.end() && it->second.phase >= HoldPhase::kCaptured) t.holds.erase(it);
    t.closed.pop_front();
  }
}

void HoldSweep::SweepSegments(TenantState& t, int64_t now_us) const {
  const int64_t current = journal_.CurrentSegment(t, now_us);
  std::vector<int64_t> drop = ChooseSegments(t, current);
  MovedHolds moved;
  if (t.compaction) ScanCompaction(t, drop, moved);
  if (!drop.empty()) SubmitDrop(t, drop, moved, current, now_us);
}

std::vector<int64_t> HoldSweep::ChooseSegments(TenantState& t, int64_t current) const {
  // Segments below the current one are sealed: nothing is journaled into them any more. The
  // scan is over the segments with open holds, a few per second of the longest hold lifetime.
  const int64_t span_us =
      std::max<int64_t>(1, absl::ToInt64Microseconds(cx_.options.hold_segment_span));
  const int64_t compact_below =
      current - absl::ToInt64Microseconds(cx_.options.hold_segment_compact_after) / span_us;
  const size_t batch_max = cx_.options.expire_batch_max;
  std::vector<int64_t> drop;
  absl::flat_hash_set<int64_t> candidates;
  size_t moving = 0;  // open holds to write again
  for (auto it = t.hold_segments.begin();
       it != t.hold_segments.end() && it->first < current && drop.size() < batch_max; ++it) {
    const HoldSegmentState& seg = it->second;
    if (seg.open == 0) {
      drop.push_back(it->first);
    } else if (!t.compaction && it->first < compact_below && seg.open * 8 <= seg.journaled &&
               moving + seg.open <= batch_max) {
      // Mostly closed, and old enough that its calls have had their time: to be compacted.
      candidates.insert(it->first);
      moving += seg.open;
    }
  }
  if (!candidates.empty()) {
    t.compaction.emplace();
    t.compaction->segments = std::move(candidates);
  }
  return drop;
}

void HoldSweep::ScanCompaction(TenantState& t, std::vector<int64_t>& drop,
                               MovedHolds& moved) const {
  // A compaction's open holds are found through the expiry index (which holds the open holds
  // only), a bounded share of it per sweep.
  TenantState::SegmentCompaction& c = *t.compaction;
  auto it = c.cursor ? t.expiry.lower_bound(*c.cursor) : t.expiry.begin();
  for (size_t n = 0; it != t.expiry.end() && n < cx_.options.hold_compaction_scan_max; ++it, ++n) {
    if (c.segments.contains(it->second)) c.found.push_back(it->first.second);
  }
  if (it != t.expiry.end()) {
    c.cursor = it->first;  // resumed there at the next sweep: the entries before it are done
    return;
  }
  // Scanned: every hold of the chosen segments not closed yet was seen (nothing is journaled
  // into a sealed segment, and a hold leaves the index only as it closes). A segment is
  // compacted when the holds found still in it are all it counts. One whose capture or release
  // is in flight is moved too: the stores keep a closed hold closed whatever open record follows
  // its closing one.
  absl::flat_hash_map<int64_t, MovedHolds> by_segment;
  for (std::string& id : c.found) {
    auto h = t.holds.find(id);
    if (h == t.holds.end() || !c.segments.contains(h->second.segment)) continue;
    by_segment[h->second.segment].emplace_back(std::move(id), &h->second);
  }
  for (auto& [segment, holds] : by_segment) {
    auto seg = t.hold_segments.find(segment);
    if (seg == t.hold_segments.end() || static_cast<size_t>(seg->second.open) != holds.size()) {
      continue;  // not all accounted for: left as it is
    }
    drop.push_back(segment);
    std::move(holds.begin(), holds.end(), std::back_inserter(moved));
  }
  t.compaction.reset();
}

void HoldSweep::SubmitDrop(TenantState& t, const std::vector<int64_t>& drop,
                           const MovedHolds& moved, int64_t current, int64_t now_us) const {
  Mutation m;
  for (int64_t segment : drop) {
    m.dropped_hold_segments.push_back({t.record.tenant_id, segment});
    // With the segment's records go those of its expired holds: their closed rows are written in
    // the same commit, with their Authorize answers.
    for (const HoldRecord& row : t.hold_segments.at(segment).expired) m.holds.push_back(row);
  }
  for (const auto& [id, h] : moved) {
    m.holds.push_back(journal_.Row(t, id, *h, HoldStatus::kOpen));
    m.holds.back().segment = current;
  }
  // Refused (the queue is full): tried again at the next sweep (a compaction, after a new scan).
  // A drop that fails to commit leaves rows whose holds have all closed: harmless (a closing row
  // wins over an open record), and pruned once expired; a failed compaction leaves the
  // segment's rows, which still record the holds it would have moved.
  if (!cx_.journal->SubmitDeferred(std::move(m), nullptr).ok()) return;
  for (int64_t segment : drop) t.hold_segments.erase(segment);
  for (const auto& [id, h] : moved) {
    h->segment = 0;  // its old segment is gone
    journal_.JoinSegment(t, id, *h, now_us);
  }
}

}  // namespace tokenledger
