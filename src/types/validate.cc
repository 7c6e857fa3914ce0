// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "types/validate.h"

#include "absl/strings/str_cat.h"

namespace tokenledger {
namespace {

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '@' || c == '-';
}

bool ServerIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

absl::Status ValidateId(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (value.size() > kIdLengthMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": longer than ", kIdLengthMax, " characters"));
  }
  if (value.front() == '@') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": may not start with '@' (reserved for system accounts)"));
  }
  for (char c : value) {
    if (!IdChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": only letters, digits and . _ : @ - are allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOptionalId(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  return ValidateId(field, value);
}

absl::Status ValidateIdempotencyKey(absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError("idempotency_key: required");
  if (value.size() > kIdLengthMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency_key: longer than ", kIdLengthMax, " characters"));
  }
  for (char c : value) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "idempotency_key: only printable ASCII characters without spaces are allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAmount(absl::string_view field, int64_t amount, bool allow_zero) {
  if (amount < 0) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be negative"));
  if (amount == 0 && !allow_zero) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be positive"));
  }
  if (amount > kAmountMax) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": larger than 2^62"));
  }
  return absl::OkStatus();
}

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      i += 1;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

absl::Status ValidateText(absl::string_view field, absl::string_view value) {
  if (value.size() > kTextLengthMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": longer than ", kTextLengthMax, " bytes"));
  }
  if (!IsValidUtf8(value) || value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8 text"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMetadata(absl::string_view field, const Metadata& metadata) {
  if (metadata.size() > kMetadataEntriesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": more than ", kMetadataEntriesMax, " entries"));
  }
  size_t bytes = 0;
  for (const auto& [k, v] : metadata) {
    bytes += k.size() + v.size();
    if (k.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty key"));
    if (!IsValidUtf8(k) || !IsValidUtf8(v) || k.find('\0') != std::string::npos ||
        v.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8 text"));
    }
  }
  if (bytes > kMetadataBytesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": larger than ", kMetadataBytesMax, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePolicy(const Policy& p) {
  if (auto s = ValidateAmount("policy.monthly_allocation", p.monthly_allocation, true); !s.ok()) {
    return s;
  }
  if (auto s = ValidateAmount("policy.rollover_max", p.rollover_max, true); !s.ok()) return s;
  if (auto s = ValidateAmount("policy.daily_limit", p.daily_limit, true); !s.ok()) return s;
  if (auto s = ValidateAmount("policy.overdraft_limit", p.overdraft_limit, true); !s.ok()) return s;
  if (p.model_limits.size() > kModelLimitsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy.model_limits: more than ", kModelLimitsMax, " models"));
  }
  for (size_t i = 0; i < p.model_limits.size(); ++i) {
    const ModelLimit& l = p.model_limits[i];
    if (auto s = ValidateModelName("policy.model_limits", l.model); !s.ok()) return s;
    if (l.limit < 0 || l.limit > kAmountMax) {
      return absl::InvalidArgumentError(absl::StrCat("policy.model_limits: the limit of '", l.model,
                                                     "' must be between 0 and 2^62"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (p.model_limits[j].model == l.model) {
        return absl::InvalidArgumentError(
            absl::StrCat("policy.model_limits: '", l.model, "' is named twice"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateModelName(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": model required"));
  if (value.size() > kIdLengthMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": model longer than ", kIdLengthMax, " bytes"));
  }
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": model is not valid UTF-8"));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": model holds a control character"));
    }
  }
  if (value == kFallbackModel) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '*' names the fallback price, not a model"));
  }
  return absl::OkStatus();
}

absl::Status ValidateServerId(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (value.size() > kIdLengthMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": longer than ", kIdLengthMax, " characters"));
  }
  for (char c : value) {
    if (!ServerIdChar(c)) return absl::InvalidArgumentError(absl::StrCat(field, ": malformed"));
  }
  return absl::OkStatus();
}

}  // namespace tokenledger
