// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// IdempotencyCache: the recent idempotency keys of one tenant (or of the platform scope) in
// memory, each with its request's fingerprint and its answer, or the calls waiting for that
// answer while the original is in flight. Bounded: committed entries are evicted oldest first
// past `capacity` (older keys are found in the store); pending entries are never evicted (the
// writer's queue bounds them). Part of a TenantState: not thread-safe by itself, guarded by the
// tenant's `mu`.
#ifndef TOKENLEDGER_LEDGER_IDEMPOTENCY_CACHE_H_
#define TOKENLEDGER_LEDGER_IDEMPOTENCY_CACHE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "ledger/op_result.h"

namespace tokenledger {

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

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_IDEMPOTENCY_CACHE_H_
