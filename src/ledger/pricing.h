// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Pricing: what tokens cost in a tenant's unit. PriceTokens is the arithmetic (pure, exact, one
// ceiling per call); PriceBook is a tenant's effective-dated price table in memory (every row
// of the store's `prices`, per model sorted by effective_at), so that pricing a call costs a
// hash lookup and a binary search, never a database round trip. Prices are never edited: a row
// with a later effective_at supersedes, from that instant on.
//
// Thread-compatible: a PriceBook is part of a TenantState, guarded by its `mu`.
#ifndef TOKENLEDGER_LEDGER_PRICING_H_
#define TOKENLEDGER_LEDGER_PRICING_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenledger/types.h"

namespace tokenledger {

// The most price rows one tenant may hold (every model's history): the book is in memory.
inline constexpr size_t kPricesPerTenantMax = 100'000;

// ceil((input x input_per_million + output x output_per_million + cached x
// cached_input_per_million) / 1,000,000), computed exactly in 128 bits. kInvalidArgument naming
// `field` when a token count is negative or the amount passes 2^62 (kAmountMax).
absl::StatusOr<int64_t> PriceTokens(const PriceRecord& price, const TokenUsage& usage,
                                    absl::string_view field = "usage");

// A priced amount and the price row used (none: a tokens-unit tenant without a price, where one
// token is one unit).
struct Priced {
  int64_t amount = 0;
  std::optional<int64_t> price_effective_at_us;
};

class PriceBook {
 public:
  // Adds a row. Returns false (and adds nothing) when the model already has a row with the same
  // effective_at.
  bool Add(const PriceRecord& price);
  bool Contains(absl::string_view model, int64_t effective_at_us) const;
  size_t size() const { return size_; }

  // The row of `model` in force at `at_us` (its latest with effective_at <= at_us), else the
  // fallback's ("*"), else none.
  const PriceRecord* Find(absl::string_view model, int64_t at_us) const;
  // The row of exactly `model` in force at `at_us`, without the fallback.
  const PriceRecord* FindExact(absl::string_view model, int64_t at_us) const;

  // Every model's row in force at `at_us`, sorted by model ("*" included when it has one).
  std::vector<PriceRecord> InForce(int64_t at_us) const;
  // Every row of `model`, newest effective_at first.
  std::vector<PriceRecord> History(absl::string_view model) const;

  // Prices `usage` of `model` at `at_us` in a tenant of `unit`: with the price in force, or one
  // token per unit in a "tokens" tenant without one. kFailedPrecondition naming the model when
  // there is no price; kInvalidArgument on overflow.
  absl::StatusOr<Priced> Price(absl::string_view model, const TokenUsage& usage, int64_t at_us,
                               absl::string_view unit, absl::string_view field) const;

 private:
  // Per model, its rows sorted by effective_at (ascending).
  absl::flat_hash_map<std::string, std::vector<PriceRecord>> by_model_;
  size_t size_ = 0;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_PRICING_H_
