// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "cache/tenant_cache.h"

#include <cstdlib>
#include <limits>
#include <new>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tokenledger {

int64_t AccountState::Available() const {
  const __int128 v = static_cast<__int128>(posted.credits) - posted.debits - held - pending_debit;
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

// Format: "r1|id|amount|available|expires_at|decision|deny_reason|overage|flag". Server-made ids
// and caller ids never contain '|'.
std::string EncodeResult(const OpResult& r) {
  return absl::StrCat("r1|", r.id, "|", r.amount, "|", r.available, "|", r.expires_at_us, "|",
                      static_cast<int>(r.decision), "|", static_cast<int>(r.deny_reason), "|",
                      r.overage ? 1 : 0, "|", r.flag ? 1 : 0);
}

absl::StatusOr<OpResult> DecodeResult(absl::string_view s) {
  std::vector<absl::string_view> parts = absl::StrSplit(s, '|');
  if (parts.size() != 9 || parts[0] != "r1") {
    return absl::DataLossError("stored idempotent response is malformed");
  }
  OpResult r;
  r.id = std::string(parts[1]);
  int decision = 0, deny = 0, overage = 0, flag = 0;
  if (!absl::SimpleAtoi(parts[2], &r.amount) || !absl::SimpleAtoi(parts[3], &r.available) ||
      !absl::SimpleAtoi(parts[4], &r.expires_at_us) || !absl::SimpleAtoi(parts[5], &decision) ||
      !absl::SimpleAtoi(parts[6], &deny) || !absl::SimpleAtoi(parts[7], &overage) ||
      !absl::SimpleAtoi(parts[8], &flag)) {
    return absl::DataLossError("stored idempotent response is malformed");
  }
  r.decision = static_cast<Decision>(decision);
  r.deny_reason = static_cast<DenyReason>(deny);
  r.overage = overage != 0;
  r.flag = flag != 0;
  return r;
}

AccountTable::~AccountTable() {
  for (uint32_t i = 0; i < size_; ++i) Entry(i).~value_type();
}

AccountTable::value_type* AccountTable::find(absl::string_view id) {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &Entry(*it);
}

const AccountTable::value_type* AccountTable::find(absl::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &Entry(*it);
}

AccountState& AccountTable::at(absl::string_view id) {
  value_type* v = find(id);
  if (v == nullptr) std::abort();  // a programming error: callers check existence first
  return v->second;
}

void AccountTable::reserve(size_t n) {
  index_.reserve(n);
  chunks_.reserve((n + kChunk - 1) / kChunk);
}

AccountState& AccountTable::operator[](absl::string_view id) {
  if (value_type* v = find(id)) return v->second;
  if ((size_ & (kChunk - 1)) == 0) {
    chunks_.push_back(std::make_unique<unsigned char[]>(kChunk * sizeof(value_type)));
  }
  const uint32_t i = size_;
  new (&Entry(i)) value_type(std::string(id), AccountState{});
  ++size_;
  index_.insert(i);
  return Entry(i).second;
}

IdempotencyEntry* IdempotencyCache::Find(const std::string& key) {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : &it->second;
}

IdempotencyEntry& IdempotencyCache::Insert(const std::string& key, IdempotencyEntry entry) {
  auto [it, inserted] = map_.insert_or_assign(key, std::move(entry));
  if (inserted) order_.push_back(key);
  (void)it;
  Evict();
  return map_.find(key)->second;
}

void IdempotencyCache::Evict() {
  while (map_.size() > capacity_ && !order_.empty()) {
    auto it = map_.find(order_.front());
    if (it != map_.end() && it->second.pending) break;  // never drop work in flight
    if (it != map_.end()) map_.erase(it);
    order_.pop_front();
  }
  // Keys erased elsewhere leave stale names in order_; drop them when they reach the front.
  while (!order_.empty() && !map_.contains(order_.front())) order_.pop_front();
  if (order_.size() > 2 * capacity_ + 1024) {
    std::deque<std::string> live;
    absl::flat_hash_set<absl::string_view> seen;
    for (const auto& k : order_) {
      if (map_.contains(k) && seen.insert(k).second) live.push_back(k);
    }
    order_ = std::move(live);
  }
}

}  // namespace tokenledger
