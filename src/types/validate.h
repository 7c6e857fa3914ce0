// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Validation of caller input. Every function returns kInvalidArgument with a message that names
// the field, or OK.
#ifndef TOKENLEDGER_TYPES_VALIDATE_H_
#define TOKENLEDGER_TYPES_VALIDATE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tokenledger/types.h"

namespace tokenledger {

inline constexpr size_t kIdLengthMax = 128;
inline constexpr size_t kTextLengthMax = 1024;  // display names, memos, model, request id
inline constexpr size_t kMetadataEntriesMax = 64;
inline constexpr size_t kMetadataBytesMax = 8192;
inline constexpr size_t kModelLimitsMax = 64;  // per policy
inline constexpr int64_t kHoldTtlSecondsDefault = 600;
inline constexpr int64_t kHoldTtlSecondsMax = 86400;

// Caller ids (account_id, team_id, tenant_id): 1 to 128 of [A-Za-z0-9._:@-], not starting with @.
absl::Status ValidateId(absl::string_view field, absl::string_view value);
// Same rules, but empty is allowed (an optional reference such as team_id).
absl::Status ValidateOptionalId(absl::string_view field, absl::string_view value);
// 1 to 128 printable ASCII characters.
absl::Status ValidateIdempotencyKey(absl::string_view value);
// 0 < amount <= 2^62 (or 0 <= amount when `allow_zero`).
absl::Status ValidateAmount(absl::string_view field, int64_t amount, bool allow_zero = false);
// Free text: at most kTextLengthMax bytes of valid UTF-8.
absl::Status ValidateText(absl::string_view field, absl::string_view value);
absl::Status ValidateMetadata(absl::string_view field, const Metadata& metadata);
absl::Status ValidatePolicy(const Policy& policy);
// A model name in a price or a model limit: 1 to 128 bytes of UTF-8 without control characters,
// not "*" (the fallback price's name, checked by its callers).
absl::Status ValidateModelName(absl::string_view field, absl::string_view value);
// Server-made ids (hold_id, transfer_id, key_id): 1 to 128 of [A-Za-z0-9_-].
absl::Status ValidateServerId(absl::string_view field, absl::string_view value);

bool IsValidUtf8(absl::string_view s);

}  // namespace tokenledger

#endif  // TOKENLEDGER_TYPES_VALIDATE_H_
