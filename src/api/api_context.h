// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// What every handler of the API is given: the ledger, the authenticator, the call metrics, the
// server's statistics, whether this process serves a tenant, and the admission limit. The
// server builds one and hands a copy to each service; the pointers it holds must outlive the
// services. Plain data: the pointees' own thread-safety applies.
#ifndef TOKENLEDGER_API_API_CONTEXT_H_
#define TOKENLEDGER_API_API_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "api/auth.h"
#include "api/call_metrics.h"
#include "ledger/engine.h"

namespace tokenledger {

// The writer's figures as the API reports them (the writer itself lives in src/store).
struct WriterStatsView {
  uint64_t batches = 0;
  uint64_t mutations = 0;
  uint64_t failed_batches = 0;
  uint64_t commit_micros_total = 0;
  uint64_t commit_micros_max = 0;
  uint64_t queue_depth = 0;
};

struct ServerStats {
  WriterStatsView writer;
  EngineStats engine;
  uint64_t resident_memory_bytes = 0;
};

struct ApiContext {
  Ledger* ledger;
  const Authenticator* auth;
  CallMetrics* metrics;                // may be null
  std::function<ServerStats()> stats;  // may be empty
  // OK when this process serves the tenant; else the status to answer (kUnavailable naming the
  // owner). Empty: every tenant is served here.
  std::function<absl::Status(const std::string&)> serves;
  // Admission: calls in flight, and the most admitted at once (past it, kResourceExhausted).
  std::atomic<int64_t>* inflight = nullptr;  // may be null: no limit
  int64_t inflight_max = 0;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_API_CONTEXT_H_
