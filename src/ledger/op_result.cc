// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/op_result.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tokenledger {

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

absl::StatusOr<OpResult> Replay(uint64_t stored_fingerprint, absl::string_view stored_response,
                                uint64_t fingerprint) {
  if (stored_fingerprint != fingerprint) {
    return absl::AlreadyExistsError("idempotency_key: already used with a different request");
  }
  return DecodeResult(stored_response);
}

}  // namespace tokenledger
