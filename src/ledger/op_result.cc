// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/op_result.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tokenledger {

// Format: "r2|id|amount|available|expires_at|decision|deny_reason|overage|flag|
// price_effective_at|created_at"; "r1" records, written before prices, lack the last two. The id
// is everything between the version and the numbers, so that it may hold '|' (a model name).
std::string EncodeResult(const OpResult& r) {
  return absl::StrCat("r2|", r.id, "|", r.amount, "|", r.available, "|", r.expires_at_us, "|",
                      static_cast<int>(r.decision), "|", static_cast<int>(r.deny_reason), "|",
                      r.overage ? 1 : 0, "|", r.flag ? 1 : 0, "|", r.price_effective_at_us, "|",
                      r.created_at_us);
}

absl::StatusOr<OpResult> DecodeResult(absl::string_view s) {
  const absl::Status malformed = absl::DataLossError("stored idempotent response is malformed");
  std::vector<absl::string_view> parts = absl::StrSplit(s, '|');
  if (parts.empty() || (parts[0] != "r1" && parts[0] != "r2")) return malformed;
  const size_t numbers = parts[0] == "r1" ? 7 : 9;
  if (parts.size() < numbers + 2) return malformed;
  // The id may hold '|' (a model name): it is every part between the version and the numbers.
  const size_t first = parts.size() - numbers;
  OpResult r;
  r.id = absl::StrJoin(parts.begin() + 1, parts.begin() + first, "|");
  int64_t v[9] = {};
  for (size_t i = 0; i < numbers; ++i) {
    if (!absl::SimpleAtoi(parts[first + i], &v[i])) return malformed;
  }
  r.amount = v[0];
  r.available = v[1];
  r.expires_at_us = v[2];
  r.decision = static_cast<Decision>(v[3]);
  r.deny_reason = static_cast<DenyReason>(v[4]);
  r.overage = v[5] != 0;
  r.flag = v[6] != 0;
  r.price_effective_at_us = v[7];
  r.created_at_us = v[8];
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
