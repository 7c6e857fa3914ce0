// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/pricing.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tokenledger {
namespace {

using u128 = unsigned __int128;

bool EarlierThan(const PriceRecord& p, int64_t at_us) { return p.effective_at_us < at_us; }

// PriceTokens, naming `model` in its messages.
absl::StatusOr<int64_t> Charge(const PriceRecord& price, absl::string_view model,
                               const TokenUsage& usage, absl::string_view field) {
  if (usage.input_tokens < 0 || usage.output_tokens < 0 || usage.cached_input_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": token counts must not be negative"));
  }
  if (price.input_per_million < 0 || price.output_per_million < 0 ||
      price.cached_input_per_million < 0) {
    return absl::InternalError(absl::StrCat("price of '", model, "' is negative"));
  }
  // Each product is below 2^63 x 2^63 = 2^126 and the sum of three below 2^128: no overflow.
  const u128 total = static_cast<u128>(usage.input_tokens) * price.input_per_million +
                     static_cast<u128>(usage.output_tokens) * price.output_per_million +
                     static_cast<u128>(usage.cached_input_tokens) * price.cached_input_per_million;
  const u128 amount = (total + 999'999) / 1'000'000;
  if (amount > static_cast<u128>(kAmountMax)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": the priced amount of '", model, "' passes 2^62"));
  }
  return static_cast<int64_t>(amount);
}

}  // namespace

absl::StatusOr<int64_t> PriceTokens(const PriceRecord& price, const TokenUsage& usage,
                                    absl::string_view field) {
  return Charge(price, price.model, usage, field);
}

bool PriceBook::Add(const PriceRecord& price) {
  std::vector<PriceRecord>& rows = by_model_[price.model];
  auto at = std::lower_bound(rows.begin(), rows.end(), price.effective_at_us, EarlierThan);
  if (at != rows.end() && at->effective_at_us == price.effective_at_us) return false;
  rows.insert(at, price);
  ++size_;
  return true;
}

bool PriceBook::Contains(absl::string_view model, int64_t effective_at_us) const {
  const PriceRecord* p = FindExact(model, effective_at_us);
  return p != nullptr && p->effective_at_us == effective_at_us;
}

const PriceRecord* PriceBook::FindExact(absl::string_view model, int64_t at_us) const {
  auto it = by_model_.find(model);
  if (it == by_model_.end()) return nullptr;
  const std::vector<PriceRecord>& rows = it->second;
  // The first row effective after `at_us`; the one before it is in force.
  auto after =
      std::upper_bound(rows.begin(), rows.end(), at_us,
                       [](int64_t at, const PriceRecord& p) { return at < p.effective_at_us; });
  if (after == rows.begin()) return nullptr;
  return &*std::prev(after);
}

const PriceRecord* PriceBook::Find(absl::string_view model, int64_t at_us) const {
  if (const PriceRecord* p = FindExact(model, at_us)) return p;
  return FindExact(kFallbackModel, at_us);
}

std::vector<PriceRecord> PriceBook::InForce(int64_t at_us) const {
  std::vector<PriceRecord> out;
  for (const auto& [model, rows] : by_model_) {
    if (const PriceRecord* p = FindExact(model, at_us)) out.push_back(*p);
  }
  std::sort(out.begin(), out.end(),
            [](const PriceRecord& a, const PriceRecord& b) { return a.model < b.model; });
  return out;
}

std::vector<PriceRecord> PriceBook::History(absl::string_view model) const {
  auto it = by_model_.find(model);
  if (it == by_model_.end()) return {};
  return std::vector<PriceRecord>(it->second.rbegin(), it->second.rend());
}

absl::StatusOr<Priced> PriceBook::Price(absl::string_view model, const TokenUsage& usage,
                                        int64_t at_us, absl::string_view unit,
                                        absl::string_view field) const {
  if (const PriceRecord* p = Find(model, at_us)) {
    absl::StatusOr<int64_t> amount = PriceTokens(*p, usage, field);
    if (!amount.ok()) return amount.status();
    return Priced{*amount, p->effective_at_us};
  }
  if (unit == "tokens") {
    const PriceRecord one_per_token{.input_per_million = 1'000'000,
                                    .output_per_million = 1'000'000,
                                    .cached_input_per_million = 1'000'000};
    absl::StatusOr<int64_t> amount = Charge(one_per_token, model, usage, field);
    if (!amount.ok()) return amount.status();
    return Priced{*amount, std::nullopt};
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "model: no price for '", model, "' and no fallback price '*' (AdminService.", "SetPrice)"));
}

}  // namespace tokenledger
