// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/idempotency_cache.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace tokenledger {

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
