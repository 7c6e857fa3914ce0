// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The API's metrics: calls by service, method and status code, their latency, and Authorize's
// decisions; and the names they are labelled with. Recording takes no lock once a series exists
// (the first call of a method with a code makes it). Thread-safe.
#ifndef TOKENLEDGER_API_CALL_METRICS_H_
#define TOKENLEDGER_API_CALL_METRICS_H_

#include <atomic>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "api/auth.h"
#include "grpcpp/support/status.h"
#include "obs/metrics.h"
#include "tokenledger/types.h"

namespace tokenledger {

// The status code's name as gRPC spells it: OK, INVALID_ARGUMENT, ...
absl::string_view StatusCodeName(grpc::StatusCode code);
// The full name of the service a method belongs to: tokenledger.v1.AuthorizationService, ...
absl::string_view ServiceName(Method method);

class CallMetrics {
 public:
  // Registers tokenledger_grpc_calls_total, tokenledger_grpc_call_duration_seconds and
  // tokenledger_authorize_decisions_total in `registry`, which must outlive this.
  explicit CallMetrics(obs::Registry& registry);

  void RecordCall(Method method, grpc::StatusCode code, double seconds);
  // ALLOWED, or the deny reason as the proto names it (INSUFFICIENT_BUDGET, DAILY_LIMIT, ...).
  void RecordDecision(Decision decision, DenyReason reason);

  // Calls counted so far (for tests).
  uint64_t Calls(Method method, grpc::StatusCode code) const;

 private:
  static constexpr int kMethods = static_cast<int>(Method::kListPrices) + 1;
  static constexpr int kCodes = static_cast<int>(grpc::StatusCode::UNAUTHENTICATED) + 1;
  static constexpr int kDecisions = 5;  // allowed, then each DenyReason but kNone

  obs::Family<obs::Counter>& calls_;
  std::atomic<obs::Counter*> by_code_[kMethods][kCodes] = {};
  obs::Histogram* durations_[kMethods] = {};
  obs::Counter* decisions_[kDecisions] = {};
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_CALL_METRICS_H_
