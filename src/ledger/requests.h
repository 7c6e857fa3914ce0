// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The arguments and plain answers of the engine's calls (see ledger/engine.h), shared by the
// facade and the parts that serve them. Value types; thread-compatible.
#ifndef TOKENLEDGER_LEDGER_REQUESTS_H_
#define TOKENLEDGER_LEDGER_REQUESTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tokenledger/types.h"

namespace tokenledger {

// The idempotency key of a call and the fingerprint of its request (method and fields, key
// excluded; see api/fingerprint).
struct IdemArgs {
  std::string key;
  uint64_t fingerprint = 0;
  // When set, the change is recorded in the audit trail under this action (the API method),
  // with `actor` (the caller's key id) as who made it.
  std::string audit_action;
  std::string actor;
};

// What a model call may use (Authorize.estimate, Check.estimate), priced like usage.
struct UsageEstimate {
  int64_t input_tokens = 0;
  int64_t max_output_tokens = 0;
};

struct AuthorizeArgs {
  std::string account_id;
  int64_t amount = 0;  // 0 with `estimate`
  std::optional<UsageEstimate> estimate;
  int64_t hold_ttl_seconds = 0;  // 0 = default
  std::string model;
  Metadata metadata;
};

struct DebitArgs {
  std::string account_id;
  std::string hold_id;  // empty = direct debit
  int64_t amount = 0;   // 0 with `usage`
  std::string request_id;
  std::string model;
  Metadata metadata;
  std::optional<TokenUsage> usage;  // priced with `model`'s price at `occurred_at_us`
  int64_t occurred_at_us = 0;       // 0 = now
};

struct CheckArgs {
  std::string account_id;
  int64_t amount = 0;
  std::optional<UsageEstimate> estimate;
  std::string model;
};

struct SetPriceArgs {
  std::string model;
  int64_t effective_at_us = 0;  // 0 = now
  int64_t input_per_million = 0;
  int64_t output_per_million = 0;
  int64_t cached_input_per_million = 0;
};

// ListPrices: every model's price in force at `as_of_us` (model empty), or one model's history.
struct PriceListing {
  std::vector<PriceRecord> prices;
  std::vector<bool> in_force;  // per price: the one of its model in force at as_of
  std::string unit;
};

struct BalanceView {
  std::string account_id;
  PostedTotals posted;
  int64_t held = 0;
  int64_t pending_debit = 0;
  int64_t available = 0;
  AccountStatus status = AccountStatus::kActive;
  std::string unit;
  int64_t period_start_us = 0;
  int64_t period_end_us = 0;
  int64_t period_spent = 0;  // USAGE in the current period
  int64_t day_spent = 0;     // USAGE in the current day (tenant time zone)
  std::vector<std::pair<std::string, int64_t>> model_spent;  // this period, by model (sorted)
};

struct CheckResult {
  bool would_allow = false;
  int64_t available = 0;
  DenyReason deny_reason = DenyReason::kNone;
  int64_t amount = 0;  // the amount checked (priced from the estimate)
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_REQUESTS_H_
