// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// OpResult: the answer of one engine operation, as given to the caller, stored under the call's
// idempotency key and replayed to a retry. EncodeResult/DecodeResult are its stored form (a
// versioned text record kept in the store's idempotency and hold rows: changing it is a storage
// format change). A value type; no state, thread-compatible.
//
// Errors: DecodeResult returns kDataLoss for a stored record it cannot read; Replay returns
// kAlreadyExists when a key is reused for another request.
#ifndef TOKENLEDGER_LEDGER_OP_RESULT_H_
#define TOKENLEDGER_LEDGER_OP_RESULT_H_

#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenledger/types.h"

namespace tokenledger {

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
  // A priced Debit: the effective_at of the price used (0: none). SetPrice: the price's.
  int64_t price_effective_at_us = 0;
  int64_t created_at_us = 0;  // SetPrice: when the price was set
  friend bool operator==(const OpResult&, const OpResult&) = default;
};
std::string EncodeResult(const OpResult& r);
absl::StatusOr<OpResult> DecodeResult(absl::string_view s);

// How a durable call is answered: once, after the commit that holds its effect.
using ResultCallback = absl::AnyInvocable<void(absl::StatusOr<OpResult>) &&>;

// The answer to a request with `fingerprint` under a key that holds `stored_response` for
// `stored_fingerprint`: the stored answer, or ALREADY_EXISTS for another request.
absl::StatusOr<OpResult> Replay(uint64_t stored_fingerprint, absl::string_view stored_response,
                                uint64_t fingerprint);

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_OP_RESULT_H_
