// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "postgres/pg_encode.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "store/store_rules.h"

namespace tokenledger {
namespace pg_internal {

void ArrayLiteral::Separator() {
  if (count_++ > 0) out_ += ',';
}

void ArrayLiteral::AddText(absl::string_view s) {
  Separator();
  out_.reserve(out_.size() + s.size() + 2);
  out_ += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out_ += '\\';
    out_ += c;
  }
  out_ += '"';
}

void ArrayLiteral::AddNull() {
  Separator();
  out_ += "NULL";
}

void ArrayLiteral::AddInt(int64_t v) {
  Separator();
  absl::StrAppend(&out_, v);
}

void ArrayLiteral::AddBool(bool v) {
  Separator();
  out_ += v ? 't' : 'f';
}

void ArrayLiteral::AddBytes(absl::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  Separator();
  // The element is the bytea hex form \x..., quoted, with its backslash escaped.
  out_.reserve(out_.size() + 2 * bytes.size() + 6);
  out_ += "\"\\\\x";
  for (unsigned char c : bytes) {
    out_ += kHex[c >> 4];
    out_ += kHex[c & 0xf];
  }
  out_ += '"';
}

std::string ArrayLiteral::Finish() && {
  out_ += '}';
  return std::move(out_);
}

namespace {

// The format EncodeHolds writes; DecodeHolds reads it and kHoldsFormatNoModel.
constexpr char kHoldsFormat = 2;
constexpr char kHoldsFormatNoModel = 1;  // written before holds had a model

void PutFixed(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

bool GetFixed(absl::string_view& in, int bytes, uint64_t& v) {
  if (in.size() < static_cast<size_t>(bytes)) return false;
  v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(bytes);
  return true;
}

bool GetString(absl::string_view& in, std::string& s) {
  uint64_t n = 0;
  if (!GetFixed(in, 4, n) || in.size() < n) return false;
  s.assign(in.data(), n);
  in.remove_prefix(n);
  return true;
}

// One hold of a holds value of `format`; false when the value ends before the hold does.
bool GetHold(absl::string_view& in, char format, HoldRecord& h) {
  uint64_t amount = 0, created = 0, expires = 0;
  if (!GetString(in, h.hold_id) || !GetString(in, h.account_id) ||
      !GetString(in, h.idempotency_key) || !GetString(in, h.response) ||
      (format == kHoldsFormat && !GetString(in, h.model)) || !GetFixed(in, 8, amount) ||
      !GetFixed(in, 8, created) || !GetFixed(in, 8, expires) || !GetFixed(in, 8, h.fingerprint)) {
    return false;
  }
  h.amount = static_cast<int64_t>(amount);
  h.created_at_us = static_cast<int64_t>(created);
  h.expires_at_us = static_cast<int64_t>(expires);
  return true;
}

// `s` as a JSON string.
void AppendJsonString(std::string& out, absl::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      // JSON forbids raw control characters in strings.
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string EncodeHolds(absl::Span<const HoldRecord* const> holds) {
  std::string out(1, kHoldsFormat);
  for (const HoldRecord* h : holds) {
    for (const std::string* text :
         {&h->hold_id, &h->account_id, &h->idempotency_key, &h->response, &h->model}) {
      PutFixed(out, text->size(), 4);
      out += *text;
    }
    for (int64_t v : {h->amount, h->created_at_us, h->expires_at_us}) {
      PutFixed(out, static_cast<uint64_t>(v), 8);
    }
    PutFixed(out, h->fingerprint, 8);
  }
  return out;
}

absl::StatusOr<std::vector<HoldRecord>> DecodeHolds(const std::string& tenant_id,
                                                    absl::string_view bytes) {
  if (bytes.empty() || (bytes[0] != kHoldsFormat && bytes[0] != kHoldsFormatNoModel)) {
    return absl::DataLossError("hold_batches: unknown format of a holds value");
  }
  const char format = bytes[0];
  bytes.remove_prefix(1);
  std::vector<HoldRecord> out;
  while (!bytes.empty()) {
    HoldRecord h;
    h.tenant_id = tenant_id;
    h.status = HoldStatus::kOpen;
    if (!GetHold(bytes, format, h)) {
      return absl::DataLossError("hold_batches: a holds value is truncated");
    }
    out.push_back(std::move(h));
  }
  return out;
}

std::string MetadataJson(const Metadata& metadata) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : NormalizeMetadata(metadata)) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, k);
    out += ':';
    AppendJsonString(out, v);
  }
  out += '}';
  return out;
}

std::string ModelLimitsJson(const std::vector<ModelLimit>& limits) {
  std::string out = "{";
  bool first = true;
  for (const ModelLimit& l : NormalizeModelLimits(limits)) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, l.model);
    absl::StrAppend(&out, ":", l.limit);
  }
  out += '}';
  return out;
}

}  // namespace pg_internal
}  // namespace tokenledger
