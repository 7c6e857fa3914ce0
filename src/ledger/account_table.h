// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The accounts of one tenant in memory: AccountState (an account's posted totals, the work in
// flight against it, its policy and its usage in the current period and day) and AccountTable
// (a dense arena of them, looked up by id). Part of a TenantState: not thread-safe by itself,
// guarded by the tenant's `mu`. Accounts are never removed. `at` aborts on an unknown id (a
// programming error: callers check existence first).
#ifndef TOKENLEDGER_LEDGER_ACCOUNT_TABLE_H_
#define TOKENLEDGER_LEDGER_ACCOUNT_TABLE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "tokenledger/types.h"

namespace tokenledger {

// An account's policy in memory, less its model limits (kept with its usage by model, in
// ModelBook, so that an account without any costs one pointer).
struct PolicyAmounts {
  int64_t monthly_allocation = 0;
  int64_t rollover_max = 0;
  int64_t daily_limit = 0;  // 0 = none
  int64_t overdraft_limit = 0;
};

// One model's usage of one account: spend in the period `ModelBook::window_period_us`, open
// holds placed for it (only while the account limits the model) and debits in flight.
struct ModelUsage {
  int64_t period_spent = 0;
  int64_t held = 0;
  int64_t pending = 0;
};

// An account's model limits and usage by model. Usage of at most kModelsPerAccountMax models is
// kept apart; the spend of further models (none of them limited) is counted under "*".
struct ModelBook {
  static constexpr size_t kModelsPerAccountMax = 1024;
  std::vector<ModelLimit> limits;  // sorted by model
  int64_t window_period_us = 0;
  absl::flat_hash_map<std::string, ModelUsage> usage;

  const ModelLimit* LimitOf(absl::string_view model) const;
  // The usage entry of `model` (made when absent, or "*"'s when the book is full).
  ModelUsage& UsageOf(absl::string_view model);
};

// One account in memory. `posted` mirrors the committed balances row exactly: it changes only
// when a commit completes. Work in flight is kept apart: debits in flight count against
// `available` at once (conservative), credits in flight only once committed.
struct AccountState {
  std::string team_id;
  PolicyAmounts policy;
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
  // Model limits and usage by model; null until the account has a limit or spends on a model.
  std::unique_ptr<ModelBook> models;

  // credits - debits - held - pending_debit, saturated to the int64 range.
  int64_t Available() const;
  // Sets the policy (none: `policy` empty), model limits included.
  void SetPolicy(const std::optional<Policy>& policy);
  // The policy as set (none when the account has none).
  std::optional<Policy> GetPolicy() const;
  // The book of models, made when absent.
  ModelBook& Models();
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

// Posts a committed transfer to the totals of its two accounts (both must exist, and the totals
// must not overflow: checked before the transfer was submitted; a violation aborts).
void ApplyPostedTransfer(AccountTable& accounts, const TransferRecord& tr);

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_ACCOUNT_TABLE_H_
