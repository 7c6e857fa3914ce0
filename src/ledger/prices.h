// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Prices: a tenant's price book through the API. SetPrice adds a row (never an edit: a later
// effective_at supersedes), durably through the journal like any other change, and into the
// tenant's PriceBook once committed; ListPrices reads the book in memory (the prices in force at
// an instant, or one model's history). Pricing itself is in ledger/pricing.h.
//
// Thread-safety: takes the tenant's `mu`. Errors: kInvalidArgument (arguments), kNotFound
// (tenant), kFailedPrecondition (a price of the model with that effective_at exists),
// kResourceExhausted (the tenant's book is full), kAlreadyExists (key reused).
#ifndef TOKENLEDGER_LEDGER_PRICES_H_
#define TOKENLEDGER_LEDGER_PRICES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/context.h"
#include "ledger/op_result.h"
#include "ledger/requests.h"

namespace tokenledger {

class Prices {
 public:
  explicit Prices(LedgerContext& cx) : cx_(cx) {}

  // Answers the price's effective_at (`price_effective_at_us`), its model (`id`) and when it was
  // set (`created_at_us`).
  void SetPrice(const std::string& tenant, const SetPriceArgs& args, const IdemArgs& idem,
                ResultCallback done);
  // `model` empty: every model's price in force at `as_of_us` (0 = now), sorted by model; else
  // that model's history, newest first.
  absl::StatusOr<PriceListing> ListPrices(const std::string& tenant, const std::string& model,
                                          int64_t as_of_us) const;

 private:
  LedgerContext& cx_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_PRICES_H_
