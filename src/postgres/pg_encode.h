// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Encoding of PgStore's values for the database: PostgreSQL array literals (one parameter per
// column of a multi-row statement), metadata and model limits as JSON, and the binary form of a
// batch of open holds (hold_batches.holds). No libpqxx here: these are pure functions of their
// arguments (thread-safe); DecodeHolds fails kDataLoss on a value it cannot read.
#ifndef TOKENLEDGER_POSTGRES_PG_ENCODE_H_
#define TOKENLEDGER_POSTGRES_PG_ENCODE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tokenledger/types.h"

namespace tokenledger {
namespace pg_internal {

// PostgreSQL array literals (the text input form of an array), built for binding one whole
// column of a multi-row statement as a single parameter cast to an array type:
// `unnest($1::text[])`. Elements are always double-quoted, with '"' and '\' escaped, so any
// text (commas, braces, quotes, backslashes, the word NULL, whitespace) round-trips; a null
// element is written unquoted NULL. Text must not hold NUL bytes (CheckStorableText).
class ArrayLiteral {
 public:
  ArrayLiteral() : out_("{") {}
  void AddText(absl::string_view s);
  void AddNull();
  void AddInt(int64_t v);
  void AddBool(bool v);
  // Any bytes, as the bytea hex form "\x..." (for a bytea[] parameter).
  void AddBytes(absl::string_view bytes);
  // Closes the literal; the builder must not be used afterwards.
  std::string Finish() &&;
  size_t size() const { return count_; }

 private:
  void Separator();
  std::string out_;
  size_t count_ = 0;
};

// Metadata as a JSON object (keys and values as JSON strings), for the jsonb column.
std::string MetadataJson(const Metadata& metadata);
// A policy's model limits as a JSON object of model to limit (a JSON number), in the form of
// NormalizeModelLimits, for accounts.model_limits.
std::string ModelLimitsJson(const std::vector<ModelLimit>& limits);

// Holds of one tenant as one hold_batches.holds value: a version byte (2), then per hold its
// hold_id, account_id, idempotency_key, response and model (each a 4-byte little-endian length
// and the bytes), amount, created_at, expires_at and fingerprint (8 bytes little-endian each).
// The status is not stored: every hold in a batch row was written open. DecodeHolds also reads
// version 1, written before holds had a model (the same without the model: read as ""), and
// fails on anything else.
std::string EncodeHolds(absl::Span<const HoldRecord* const> holds);
absl::StatusOr<std::vector<HoldRecord>> DecodeHolds(const std::string& tenant_id,
                                                    absl::string_view bytes);

}  // namespace pg_internal
}  // namespace tokenledger

#endif  // TOKENLEDGER_POSTGRES_PG_ENCODE_H_
