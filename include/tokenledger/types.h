// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Domain types of the ledger: plain values, no behaviour beyond checked arithmetic. Shared by the
// engine, the cache, the stores and the API layer.
#ifndef TOKENLEDGER_TYPES_H_
#define TOKENLEDGER_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tokenledger {

// The largest amount accepted on the wire (docs/api.md: amounts are at most 2^62).
inline constexpr int64_t kAmountMax = int64_t{1} << 62;

enum class TransferKind : int8_t {
  kGrant = 1,
  kUsage = 2,
  kResetExpire = 3,
  kResetGrant = 4,
  kAdjustment = 5,
};

enum class AccountStatus : int8_t { kActive = 1, kSuspended = 2, kClosed = 3 };

enum class Role : int8_t { kOperator = 1, kAdmin = 2, kHr = 3, kGateway = 4, kAuditor = 5 };

enum class Decision : int8_t { kAllowed = 1, kDenied = 2 };

enum class DenyReason : int8_t {
  kNone = 0,
  kInsufficientBudget = 1,
  kDailyLimit = 2,
  kTeamLimit = 3,
  kAccountSuspended = 4,
  kModelLimit = 5,
};

enum class HoldStatus : int8_t { kOpen = 1, kCaptured = 2, kReleased = 3, kExpired = 4 };

absl::string_view TransferKindName(TransferKind kind);
absl::string_view RoleName(Role role);
std::optional<Role> ParseRole(absl::string_view name);
absl::string_view AccountStatusName(AccountStatus status);
absl::string_view HoldStatusName(HoldStatus status);

// System accounts every tenant has. Their ids start with '@', which caller ids may not.
inline constexpr absl::string_view kFundingAccount = "@funding";
inline constexpr absl::string_view kUsageAccount = "@usage";
inline constexpr absl::string_view kExpiredAccount = "@expired";
inline constexpr absl::string_view kAdjustmentsAccount = "@adjustments";
inline constexpr absl::string_view kSystemAccounts[] = {kFundingAccount, kUsageAccount,
                                                        kExpiredAccount, kAdjustmentsAccount};

// A monthly limit on one model's spend plus holds (Policy::model_limits).
struct ModelLimit {
  std::string model;
  int64_t limit = 0;
  friend bool operator==(const ModelLimit&, const ModelLimit&) = default;
};

struct Policy {
  int64_t monthly_allocation = 0;
  int64_t rollover_max = 0;
  int64_t daily_limit = 0;  // 0 = none
  int64_t overdraft_limit = 0;
  std::vector<ModelLimit> model_limits;  // sorted by model, one per model
  friend bool operator==(const Policy&, const Policy&) = default;
};

// Tokens of one model call, by kind (Debit.usage).
struct TokenUsage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cached_input_tokens = 0;
  friend bool operator==(const TokenUsage&, const TokenUsage&) = default;
};

// The fallback price's model name: it prices every model without a price of its own.
inline constexpr absl::string_view kFallbackModel = "*";

// One row of a tenant's price book: the price of 1,000,000 tokens of each kind of `model`, in the
// tenant's unit, in force from `effective_at_us` until the model's next row. Never edited.
struct PriceRecord {
  std::string tenant_id;
  std::string model;  // an exact model name, or kFallbackModel
  int64_t effective_at_us = 0;
  int64_t input_per_million = 0;
  int64_t output_per_million = 0;
  int64_t cached_input_per_million = 0;
  int64_t created_at_us = 0;
  friend bool operator==(const PriceRecord&, const PriceRecord&) = default;
};

struct TenantRecord {
  std::string tenant_id;
  std::string display_name;
  std::string unit = "usd_micros";
  std::string timezone = "UTC";
  int64_t created_at_us = 0;
};

struct AccountRecord {
  std::string tenant_id;
  std::string account_id;
  std::string display_name;
  std::string team_id;
  std::optional<Policy> policy;
  AccountStatus status = AccountStatus::kActive;
  int64_t created_at_us = 0;
};

struct TeamRecord {
  std::string tenant_id;
  std::string team_id;
  std::string display_name;
  int64_t monthly_cap = 0;  // 0 = none
};

struct ApiKeyRecord {
  std::string key_id;
  std::string tenant_id;  // empty for operator keys
  Role role = Role::kAuditor;
  std::string key_hash;  // hex SHA-256 of the secret; the secret itself is never stored
  int64_t created_at_us = 0;
  bool revoked = false;
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct TransferRecord {
  std::string tenant_id;
  std::string transfer_id;
  std::string debit_account_id;
  std::string credit_account_id;
  int64_t amount = 0;
  TransferKind kind = TransferKind::kGrant;
  int64_t created_at_us = 0;
  std::string request_id;
  std::string model;
  Metadata metadata;
  std::string memo;
  std::string hold_id;
  std::string idempotency_key;
  int64_t seq = 0;  // assigned by the store; orders transfers, newest highest
  // A Debit that reported tokens: the tokens, the price used (its effective_at; absent when no
  // price was used: a tokens-unit tenant without one) and when the usage happened (absent: not
  // reported). A transfer with usage may have amount 0 (a free model).
  std::optional<TokenUsage> usage;
  std::optional<int64_t> price_effective_at_us;
  std::optional<int64_t> occurred_at_us;
};

struct HoldRecord {
  std::string tenant_id;
  std::string hold_id;
  std::string account_id;
  int64_t amount = 0;
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;
  HoldStatus status = HoldStatus::kOpen;
  std::string idempotency_key;
  // The model whose limit the hold counts against while open (empty: none), as every row of the
  // hold carries it.
  std::string model;
  // The Authorize that placed the hold: its request fingerprint and encoded answer, replayed for
  // a retry with the same key. Written with the hold's first row; empty on status updates (an
  // update never overwrites them).
  uint64_t fingerprint = 0;
  std::string response;
  // Where an open hold's record is journaled: its tenant's hold segment (see
  // EngineOptions::hold_segment_span); 0 = none (a row of its own, or written before segments).
  // Only read with status kOpen.
  int64_t segment = 0;
};

// One segment of a tenant's journaled open holds (HoldRecord::segment).
struct HoldSegment {
  std::string tenant_id;
  int64_t segment = 0;
  int64_t records = 0;  // in a Snapshot: how many hold records the segment holds
  friend bool operator==(const HoldSegment&, const HoldSegment&) = default;
};

// Posted totals of one account: the double-entry truth, recomputable from the transfers.
struct PostedTotals {
  int64_t credits = 0;
  int64_t debits = 0;
  int64_t granted = 0;  // GRANT and RESET_GRANT credits
  int64_t spent = 0;    // USAGE debits
  int64_t expired = 0;  // RESET_EXPIRE debits
  friend bool operator==(const PostedTotals&, const PostedTotals&) = default;
};

// Adds the effect of one transfer to the totals of its debit side or credit side. Returns false
// (and leaves `totals` unchanged) if a sum would overflow int64.
bool ApplyDebitSide(const TransferRecord& t, PostedTotals& totals);
bool ApplyCreditSide(const TransferRecord& t, PostedTotals& totals);

// One performed period reset of one account: the exactly-once guard (unique per account and
// period), written in the same transaction as the reset's transfers.
struct PeriodRecord {
  std::string tenant_id;
  std::string account_id;
  int64_t period_start_us = 0;  // the period's first instant, in the tenant's time zone
  int64_t carried = 0;          // kept from the previous period
  int64_t expired = 0;          // forfeited to @expired (RESET_EXPIRE)
  int64_t granted = 0;          // the period's allocation (RESET_GRANT)
  int64_t created_at_us = 0;
};

// Usage (USAGE debits) of one account since two instants: the start of its current period and
// of its current day.
struct UsageSums {
  std::string account_id;
  int64_t period_spent = 0;
  int64_t day_spent = 0;
  // The period's usage by model (transfers with a model name only), sorted by model.
  std::vector<std::pair<std::string, int64_t>> model_spent;
};

// One audit event: a change to keys, budgets, policies or balances made through the API, and the
// key that made it. Written in the same transaction as the change it records (so there is an
// event exactly for each change committed), never updated or deleted.
struct AuditRecord {
  std::string tenant_id;
  int64_t seq = 0;           // the store's order, from 1 (0 before it is stored)
  std::string actor_key_id;  // "operator" for the platform operator key
  std::string action;        // the API method: "Grant", "RevokeApiKey", "Reconcile", ...
  std::string target;        // the account, team, key or tenant acted on
  std::string detail;        // what changed, for people
  int64_t created_at_us = 0;
};

// Stored response of an idempotent request, replayed for a retry with the same key.
struct IdempotencyRecord {
  std::string tenant_id;  // empty for operator calls
  std::string key;
  uint64_t fingerprint = 0;  // hash of the request (method and fields, key excluded)
  std::string response;      // OpResult, encoded
};

// Checked arithmetic. Return false on overflow, leaving `out` unspecified.
inline bool CheckedAdd(int64_t a, int64_t b, int64_t& out) {
  return !__builtin_add_overflow(a, b, &out);
}
inline bool CheckedSub(int64_t a, int64_t b, int64_t& out) {
  return !__builtin_sub_overflow(a, b, &out);
}

}  // namespace tokenledger

#endif  // TOKENLEDGER_TYPES_H_
