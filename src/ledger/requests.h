// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The arguments and plain answers of the engine's calls (see ledger/engine.h), shared by the
// facade and the parts that serve them. Value types; thread-compatible.
#ifndef TOKENLEDGER_LEDGER_REQUESTS_H_
#define TOKENLEDGER_LEDGER_REQUESTS_H_

#include <cstdint>
#include <string>

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

struct AuthorizeArgs {
  std::string account_id;
  int64_t amount = 0;
  int64_t hold_ttl_seconds = 0;  // 0 = default
  std::string model;
  Metadata metadata;
};

struct DebitArgs {
  std::string account_id;
  std::string hold_id;  // empty = direct debit
  int64_t amount = 0;
  std::string request_id;
  std::string model;
  Metadata metadata;
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
};

struct CheckResult {
  bool would_allow = false;
  int64_t available = 0;
  DenyReason deny_reason = DenyReason::kNone;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_REQUESTS_H_
