// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/hold_journal.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "ledger/invariant.h"
#include "ledger/op_result.h"
#include "ledger/spending_limits.h"

namespace tokenledger {

HoldRecord HoldJournal::Row(TenantState& t, const std::string& hold_id, const HoldState& h,
                            HoldStatus status) const {
  HoldRecord row{t.record.tenant_id, hold_id,         h.account_id, h.amount,
                 h.created_at_us,    h.expires_at_us, status,       h.idempotency_key};
  row.model = h.model;
  // Every row carries the Authorize's answer: the open record, in a segment, is deleted once the
  // hold has closed, or once the hold has moved to a newer segment. It is encoded again from the
  // hold (the same bytes as the answer given); a hold loaded without one takes it from the key
  // cache, and without it there the row goes without it (a retry of that Authorize after a
  // restart is then decided afresh).
  if (h.answer_known) {
    row.fingerprint = h.fingerprint;
    row.response = EncodeResult(OpResult{.id = hold_id,
                                         .amount = h.amount,
                                         .available = h.available_after,
                                         .expires_at_us = h.expires_at_us});
  } else if (const IdempotencyEntry* e = t.idempotency.Find(h.idempotency_key);
             e != nullptr && !e->pending) {
    row.fingerprint = e->fingerprint;
    row.response = e->response;
  }
  return row;
}

void HoldJournal::Close(TenantState& t, const std::string& hold_id, HoldState& h,
                        HoldPhase phase) const {
  if (h.phase == HoldPhase::kOpen) {
    AccountState& a = t.accounts.at(h.account_id);
    AddHeld(t, a, -h.amount);
    AddModelHeld(a, h.model, -h.amount);
  }
  TL_INVARIANT(t.accounts.at(h.account_id).held >= 0);
  TL_INVARIANT(t.open_holds > 0);
  --t.open_holds;
  t.expiry.erase({h.expires_at_us, hold_id});
  if (phase == HoldPhase::kExpired && h.segment != 0) {
    // Its closed row goes with its segment's drop, which deletes the open record, whether or not
    // the call that found it expired (a Debit, a Release) commits.
    if (auto seg = t.hold_segments.find(h.segment); seg != t.hold_segments.end()) {
      seg->second.expired.push_back(Row(t, hold_id, h, HoldStatus::kExpired));
    }
  }
  LeaveSegment(t, hold_id, h);
  h.phase = phase;
  h.closed_at_us = cx_.clock->NowMicros();
  t.closed.emplace_back(h.closed_at_us, hold_id);
}

int64_t HoldJournal::SegmentSpanMicros() const {
  return std::max<int64_t>(1, absl::ToInt64Microseconds(cx_.options.hold_segment_span));
}

int64_t HoldJournal::CurrentSegment(TenantState& t, int64_t now_us) const {
  t.hold_segment_current = std::max(t.hold_segment_current, now_us / SegmentSpanMicros() + 1);
  return t.hold_segment_current;
}

int64_t HoldJournal::JoinSegment(TenantState& t, const std::string& id, HoldState& h,
                                 int64_t now_us) const {
  h.segment = CurrentSegment(t, now_us);
  HoldSegmentState& seg = t.hold_segments[h.segment];
  ++seg.open;
  ++seg.journaled;
  if (auto e = t.expiry.find({h.expires_at_us, id}); e != t.expiry.end()) e->second = h.segment;
  return h.segment;
}

void HoldJournal::LeaveSegment(TenantState& t, const std::string& id, HoldState& h) const {
  if (h.segment == 0) return;
  auto it = t.hold_segments.find(h.segment);
  h.segment = 0;
  if (auto e = t.expiry.find({h.expires_at_us, id}); e != t.expiry.end()) e->second = 0;
  if (it == t.hold_segments.end()) return;
  TL_INVARIANT(it->second.open > 0);
  --it->second.open;
}

int64_t HoldJournal::JournalDue(bool all) const {
  int64_t journaled = 0;
  for (const auto& t : cx_.tenants.All()) journaled += JournalTenant(*t, all);
  return journaled;
}

void HoldJournal::TakeDue(TenantState& t, bool all, int64_t now_us, Mutation& m,
                          std::vector<std::pair<int64_t, std::string>>& taken) const {
  while (!t.unjournaled.empty() && (all || t.unjournaled.front().first <= now_us) &&
         m.holds.size() < cx_.options.expire_batch_max) {
    taken.push_back(std::move(t.unjournaled.front()));
    t.unjournaled.pop_front();
    auto it = t.holds.find(taken.back().second);
    // A hold closed meanwhile was written by its closing (or is being: if that fails and the
    // hold reopens, its next closing writes it).
    if (it == t.holds.end() || it->second.phase != HoldPhase::kOpen || it->second.journaled) {
      continue;
    }
    m.holds.push_back(Row(t, it->first, it->second, HoldStatus::kOpen));
    m.holds.back().segment = JoinSegment(t, it->first, it->second, now_us);
    it->second.journaled = true;
  }
}

int64_t HoldJournal::JournalTenant(TenantState& t, bool all) const {
  const int64_t now = cx_.clock->NowMicros();
  int64_t journaled = 0;
  absl::MutexLock lock(&t.mu);
  while (!t.unjournaled.empty() && (all || t.unjournaled.front().first <= now)) {
    Mutation m;
    std::vector<std::pair<int64_t, std::string>> taken;
    TakeDue(t, all, now, m, taken);
    if (m.holds.empty()) continue;
    const auto n = static_cast<int64_t>(m.holds.size());
    std::vector<std::string> ids;
    ids.reserve(m.holds.size());
    for (const HoldRecord& h : m.holds) ids.push_back(h.hold_id);
    t.journal_full = !cx_.journal->SubmitDeferred(std::move(m), nullptr).ok();
    if (t.journal_full) {
      // The queue is full (or closing): the holds wait for the next sweep, and Authorize sheds
      // load meanwhile.
      for (const std::string& id : ids) {
        HoldState& h = t.holds.at(id);
        h.journaled = false;
        LeaveSegment(t, id, h);
      }
      t.unjournaled.insert(t.unjournaled.begin(), std::make_move_iterator(taken.begin()),
                           std::make_move_iterator(taken.end()));
      break;
    }
    journaled += n;
  }
  return journaled;
}

}  // namespace tokenledger
