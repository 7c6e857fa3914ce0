// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The operations tokenledger-bench drives (one SlotOp per in-flight slot, see load.h): the
// floor's empty Ping, Authorize, Check, Debit (spread or on one hot account), the gateway cycle
// (Authorize then Debit capturing that hold), and the setup of one account (UpsertAccount then
// Grant).
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
  absl::Duration call_timeout = absl::Seconds(30);
};

// `tag` goes into the idempotency keys of the operations (distinct per run).
OpFactory FloorOps(const OpEnv* env);
OpFactory AuthorizeOps(const OpEnv* env, std::string tag);
OpFactory CheckOps(const OpEnv* env);
// Direct debits of 1 on random accounts, or all on env->hot_account when `hot`.
OpFactory DebitOps(const OpEnv* env, std::string tag, bool hot);
OpFactory GatewayCycleOps(const OpEnv* env, std::string tag);
// Ticket i < accounts.size() sets up accounts[i], ticket accounts.size() the hot account.
OpFactory SetupOps(const OpEnv* env, std::string tag);

}  // namespace tokenledger::bench

#endif  // TOKENLEDGER_BENCH_OPS_H_
