// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The errors the engine's parts share, worded once: the API returns these messages to callers,
// so a part must not word them again. Pure functions; thread-safe.
#ifndef TOKENLEDGER_LEDGER_ERRORS_H_
#define TOKENLEDGER_LEDGER_ERRORS_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tokenledger {

inline absl::Status TenantNotFound() { return absl::NotFoundError("tenant not found"); }

inline absl::Status AccountNotFound(absl::string_view account_id) {
  return absl::NotFoundError(absl::StrCat("account_id: account '", account_id, "' not found"));
}

inline absl::Status AccountClosed() {
  return absl::FailedPreconditionError("account_id: the account is closed");
}

inline absl::Status Overflow(absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": would overflow an account's 64-bit totals"));
}

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_ERRORS_H_
