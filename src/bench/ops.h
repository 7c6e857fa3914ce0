// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The operations tokenledger-bench drives (one SlotOp per in-flight slot, see load.h): the
// floor's empty Ping, Authorize, Check, Debit (spread or on one hot account), their priced forms
// (tokens of a priced model instead of an amount), the gateway cycle (Authorize then Debit
// capturing that hold), and the setup of one account (UpsertAccount then Grant).
#ifndef TOKENLEDGER_BENCH_OPS_H_
#define TOKENLEDGER_BENCH_OPS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/load.h"

namespace tokenledger::bench {

// What the operations share; read-only while a run goes.
struct OpEnv {
  std::string run_id;          // makes idempotency keys unique across runs
  std::string gateway_bearer;  // "Bearer <key>" of the tenant's gateway key
  std::string hr_bearer;       // "Bearer <key>" of the tenant's hr key
  std::vector<std::string> accounts;
  std::string hot_account;
  int64_t grant_amount = 0;
  std::string model;  // the model setup priced (kPrice*); empty: none, no priced runs
  absl::Duration call_timeout = absl::Seconds(30);
};

// The price setup gives env->model, per 1,000,000 tokens (usd_micros: $2.50, $10.00, $1.25),
// and the tokens of each priced call.
inline constexpr int64_t kPriceInputPerMillion = 2'500'000;
inline constexpr int64_t kPriceOutputPerMillion = 10'000'000;
inline constexpr int64_t kPriceCachedInputPerMillion = 1'250'000;
inline constexpr int64_t kDebitInputTokens = 1234;
inline constexpr int64_t kDebitOutputTokens = 567;
inline constexpr int64_t kDebitCachedInputTokens = 100;
inline constexpr int64_t kEstimateInputTokens = 1234;
inline constexpr int64_t kEstimateMaxOutputTokens = 1000;

// What the ledger charges for these tokens at the kPrice* prices: one ceiling per call.
constexpr int64_t PricedAmount(int64_t input, int64_t output, int64_t cached_input) {
  const int64_t micros = input * kPriceInputPerMillion + output * kPriceOutputPerMillion +
                         cached_input * kPriceCachedInputPerMillion;
  return (micros + 999'999) / 1'000'000;
}
inline constexpr int64_t kPricedDebitAmount =
    PricedAmount(kDebitInputTokens, kDebitOutputTokens, kDebitCachedInputTokens);  // 8880
inline constexpr int64_t kPricedEstimateAmount =
    PricedAmount(kEstimateInputTokens, kEstimateMaxOutputTokens, 0);  // 13085
static_assert(kPricedDebitAmount == 8880 && kPricedEstimateAmount == 13085);

// `tag` goes into the idempotency keys of the operations (distinct per run).
OpFactory FloorOps(const OpEnv* env);
OpFactory AuthorizeOps(const OpEnv* env, std::string tag);
// Authorize with an estimate (kEstimate* tokens of env->model) instead of an amount; an answer
// that holds other than kPricedEstimateAmount counts as an error.
OpFactory PricedAuthorizeOps(const OpEnv* env, std::string tag);
OpFactory CheckOps(const OpEnv* env);
// Direct debits of 1 on random accounts, or all on env->hot_account when `hot`.
OpFactory DebitOps(const OpEnv* env, std::string tag, bool hot);
// Direct debits of usage (kDebit* tokens of env->model) on random accounts; a charge other than
// kPricedDebitAmount counts as an error.
OpFactory PricedDebitOps(const OpEnv* env, std::string tag);
OpFactory GatewayCycleOps(const OpEnv* env, std::string tag);
// Ticket i < accounts.size() sets up accounts[i], ticket accounts.size() the hot account.
OpFactory SetupOps(const OpEnv* env, std::string tag);

}  // namespace tokenledger::bench

#endif  // TOKENLEDGER_BENCH_OPS_H_
