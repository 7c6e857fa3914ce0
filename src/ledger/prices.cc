// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/prices.h"

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "ledger/errors.h"
#include "ledger/pricing.h"
#include "ledger/submission.h"
#include "types/validate.h"

namespace tokenledger {
namespace {

absl::Status ValidatePriceModel(const std::string& model) {
  if (model == kFallbackModel) return absl::OkStatus();
  return ValidateModelName("model", model);
}

absl::Status ValidateSetPrice(const SetPriceArgs& args, const IdemArgs& idem) {
  absl::Status v = ValidatePriceModel(args.model);
  if (v.ok() && args.effective_at_us < 0) {
    v = absl::InvalidArgumentError("effective_at: must not be negative");
  }
  if (v.ok()) v = ValidateAmount("input_per_million", args.input_per_million, true);
  if (v.ok()) v = ValidateAmount("output_per_million", args.output_per_million, true);
  if (v.ok()) v = ValidateAmount("cached_input_per_million", args.cached_input_per_million, true);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  return v;
}

}  // namespace

void Prices::SetPrice(const std::string& tenant, const SetPriceArgs& args, const IdemArgs& idem,
                      ResultCallback done) {
  if (absl::Status v = ValidateSetPrice(args, idem); !v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return std::move(done)(TenantNotFound());
  TenantState& t = *owner;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  if (AnswerFromIdempotency(t, idem, done, later)) return;
  const int64_t now = cx_.clock->NowMicros();
  PriceRecord price{.tenant_id = t.record.tenant_id,
                    .model = args.model,
                    .effective_at_us = args.effective_at_us == 0 ? now : args.effective_at_us,
                    .input_per_million = args.input_per_million,
                    .output_per_million = args.output_per_million,
                    .cached_input_per_million = args.cached_input_per_million,
                    .created_at_us = now};
  const std::pair<std::string, int64_t> key{price.model, price.effective_at_us};
  if (t.prices.Contains(price.model, price.effective_at_us) || t.prices_in_flight.contains(key)) {
    return later.Answer(std::move(done),
                        absl::FailedPreconditionError(absl::StrCat(
                            "effective_at: '", price.model, "' already has a price effective at ",
                            price.effective_at_us, "; prices are never edited, set a later one")));
  }
  if (t.prices.size() >= kPricesPerTenantMax) {
    return later.Answer(std::move(done), absl::ResourceExhaustedError(
                                             absl::StrCat("this tenant has ", kPricesPerTenantMax,
                                                          " prices, the most a tenant may have")));
  }
  OpResult result{
      .id = price.model, .price_effective_at_us = price.effective_at_us, .created_at_us = now};
  Mutation m;
  m.prices.push_back(price);
  auto apply = [price, key](TenantState& ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
    ts.prices_in_flight.erase(key);
    ts.prices.Add(price);
  };
  auto undo = [key](TenantState& ts)
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) { ts.prices_in_flight.erase(key); };
  if (SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), std::move(undo),
                   std::move(done), later)) {
    t.prices_in_flight.insert(key);
  }
}

absl::StatusOr<PriceListing> Prices::ListPrices(const std::string& tenant, const std::string& model,
                                                int64_t as_of_us) const {
  if (!model.empty()) {
    if (absl::Status v = ValidatePriceModel(model); !v.ok()) return v;
  }
  if (as_of_us < 0) return absl::InvalidArgumentError("as_of: must not be negative");
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return TenantNotFound();
  TenantState& t = *owner;
  absl::MutexLock lock(&t.mu);
  PriceListing out{.unit = t.record.unit};
  const int64_t at = as_of_us == 0 ? cx_.clock->NowMicros() : as_of_us;
  out.prices = model.empty() ? t.prices.InForce(at) : t.prices.History(model);
  const PriceRecord* current = model.empty() ? nullptr : t.prices.FindExact(model, at);
  for (const PriceRecord& p : out.prices) {
    out.in_force.push_back(model.empty() ||
                           (current != nullptr && p.effective_at_us == current->effective_at_us));
  }
  return out;
}

}  // namespace tokenledger
