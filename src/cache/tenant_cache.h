// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The hot state of one tenant: balances, holds and recent idempotency keys, in memory. While
// this process owns the tenant it is the authority for Authorize. Not thread-safe by itself:
// the engine guards each TenantState with its `mu`.
#ifndef TOKENLEDGER_CACHE_TENANT_CACHE_H_
#define TOKENLEDGER_CACHE_TENANT_CACHE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tokenledger/types.h"

namespace tokenledger {

// One account in memory. `posted` mirrors the committed balances row exactly: it changes only
// when a commit completes. Work in flight is kept apart: debits in flight count against
// `available` at once (conservative), credits in flight only once committed.
struct AccountState {
  std::string team_id;
  Policy policy;
  bool has_policy = false;
  AccountStatus status = AccountStatus::kActive;
  PostedTotals posted;
  int64_t held = 0;            // open holds, including holds whose capture is in flight
  int64_t pending_debit = 0;   // debits queued, not yet committed
  int64_t pending_credit = 0;  // credits queued (for overflow checks only)
  int64_t last_reset_us = 0;   // start of the latest period reset performed (0 = none)
  // Usage in the current period and day of the tenant's calendar: `window_*_us` name the
  // period and day the sums count; a sum from an older window reads as 0.
  int64_t window_period_us = 0;
  int64_t period_spent = 0;
  int64_t window_day_us = 0;
  int64_t day_spent = 0;

  // credits - debits - held - pending_debit, saturated to the int64 range.
  int64_t Available() const;
};

// The accounts of one tenant: a dense arena of (id, state) entries in chunks (stable addresses,
// no per-account allocation) and an open-addressing index of 4-byte positions into it, looked up
// by id. About sizeof(value_type) + 9 bytes per account, against twice the entry size for a
// flat_hash_map at its growth points. Accounts are never removed. Not thread-safe.
class AccountTable {
 public:
  using value_type = std::pair<const std::string, AccountState>;

  AccountTable() : index_(0, Hash{this}, Eq{this}) {}
  ~AccountTable();
  AccountTable(const AccountTable&) = delete;
  AccountTable& operator=(const AccountTable&) = delete;

  // Like a map's find: nullptr (== end()) when absent.
  value_type* find(absl::string_view id);
  const value_type* find(absl::string_view id) const;
  value_type* end() const { return nullptr; }
  bool contains(absl::string_view id) const { return find(id) != nullptr; }
  AccountState& at(absl::string_view id);          // the account must exist
  AccountState& operator[](absl::string_view id);  // creates a zero account when absent
  size_t size() const { return size_; }
  // Makes room for `n` accounts in all, so that adding up to that many does not grow the index.
  void reserve(size_t n);

  // Every account, in creation order.
  template <typename Fn>
  void ForEach(Fn fn) {
    for (uint32_t i = 0; i < size_; ++i) fn(Entry(i).first, Entry(i).second);
  }

 private:
  static constexpr uint32_t kChunkBits = 12;  // 4096 accounts a chunk
  static constexpr uint32_t kChunk = 1u << kChunkBits;
  value_type& Entry(uint32_t i) const {
    return reinterpret_cast<value_type*>(chunks_[i >> kChunkBits].get())[i & (kChunk - 1)];
  }
  struct Hash {
    using is_transparent = void;
    const AccountTable* table;
    size_t operator()(uint32_t i) const { return (*this)(table->Entry(i).first); }
    size_t operator()(absl::string_view id) const { return absl::Hash<absl::string_view>()(id); }
  };
  struct Eq {
    using is_transparent = void;
    const AccountTable* table;
    absl::string_view Key(uint32_t i) const { return table->Entry(i).first; }
    absl::string_view Key(absl::string_view s) const { return s; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Key(a) == Key(b);
    }
  };
  std::vector<std::unique_ptr<unsigned char[]>> chunks_;
  uint32_t size_ = 0;
  absl::flat_hash_set<uint32_t, Hash, Eq> index_;
};

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
  // closing row then carries the Authorize's answer (see Ledger::JournalHolds).
  bool journaled = true;
  // The Authorize's answer is known (`available_after` and `fingerprint` below): every row of
  // the hold carries it, re-encoded, even once its key has left the key cache.
  bool answer_known = false;
  int64_t available_after = 0;  // the answer's `available`
  uint64_t fingerprint = 0;     // of the Authorize request
  std::string idempotency_key;
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

// The answer of an operation, as stored under its idempotency key and replayed.
struct OpResult {
  std::string id;  // transfer_id, hold_id, key_id, account_id or tenant_id
  int64_t amount = 0;
  int64_t available = 0;
  int64_t expires_at_us = 0;
  Decision decision = Decision::kAllowed;
  DenyReason deny_reason = DenyReason::kNone;
  bool overage = false;
  bool flag = false;  // created (upserts), revoked (keys)
  friend bool operator==(const OpResult&, const OpResult&) = default;
};
std::string EncodeResult(const OpResult& r);
absl::StatusOr<OpResult> DecodeResult(absl::string_view s);

using ResultCallback = absl::AnyInvocable<void(absl::StatusOr<OpResult>) &&>;

struct IdempotencyEntry {
  uint64_t fingerprint = 0;
  bool pending = true;
  std::string response;                 // EncodeResult of the answer
  std::vector<ResultCallback> waiters;  // retries that arrived while pending
};

// A bounded map of recent idempotency keys. Committed entries are evicted oldest first once
// `capacity` is passed; pending entries are never evicted (the writer's queue bounds them).
class IdempotencyCache {
 public:
  explicit IdempotencyCache(size_t capacity) : capacity_(capacity) {}
  IdempotencyEntry* Find(const std::string& key);
  IdempotencyEntry& Insert(const std::string& key, IdempotencyEntry entry);
  void Erase(const std::string& key) { map_.erase(key); }
  size_t size() const { return map_.size(); }

 private:
  void Evict();
  size_t capacity_;
  absl::flat_hash_map<std::string, IdempotencyEntry> map_;
  std::deque<std::string> order_;  // insertion order, for eviction
};

// A team in memory: its cap, and its members' usage and open holds in the current period.
struct TeamState {
  std::string display_name;
  int64_t monthly_cap = 0;  // 0 = none
  int64_t window_period_us = 0;
  int64_t period_spent = 0;
  int64_t held = 0;
};

// The tenant's current calendar period (month) and day, in its time zone.
struct CalendarWindows {
  int64_t period_start_us = 0;
  int64_t period_end_us = 0;
  int64_t day_start_us = 0;
  int64_t day_end_us = 0;
};

struct TenantState {
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
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_CACHE_TENANT_CACHE_H_
