// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "api/call_metrics.h"

#include <string_view>

#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"
#include "util/status_names.h"

namespace tokenledger {

namespace {

std::string_view Std(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace

absl::string_view StatusCodeName(grpc::StatusCode code) {
  const int c = static_cast<int>(code);
  return c >= 0 && c < kGrpcCodeCount ? kGrpcCodeNames[c] : "UNKNOWN";
}

absl::string_view ServiceName(Method method) {
  switch (method) {
    case Method::kAuthorize:
    case Method::kDebit:
    case Method::kRelease:
    case Method::kCheck:
      return v1::AuthorizationService::service_full_name();
    case Method::kUpsertAccount:
    case Method::kUpsertTeam:
    case Method::kGrant:
    case Method::kAdjust:
    case Method::kGetBalance:
    case Method::kListTransfers:
      return v1::BudgetService::service_full_name();
    default:
      return v1::AdminService::service_full_name();
  }
}

CallMetrics::CallMetrics(obs::Registry& registry)
    : calls_(registry.AddCounter("tokenledger_grpc_calls_total",
                                 "API calls answered, by service, method and gRPC status code.",
                                 {"service", "method", "code"})) {
  // Latency from a few tens of microseconds (Authorize) to the writer's retry window (Debit).
  auto& durations = registry.AddHistogram(
      "tokenledger_grpc_call_duration_seconds",
      "Time from a call's arrival at its handler to its answer, in seconds.", {"service", "method"},
      {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
       2.5, 5, 10});
  for (int m = 0; m < kMethods; ++m) {
    const auto method = static_cast<Method>(m);
    durations_[m] = &durations.WithLabels({Std(ServiceName(method)), Std(MethodName(method))});
  }
  auto& decisions =
      registry.AddCounter("tokenledger_authorize_decisions_total",
                          "Authorize answers: ALLOWED, or the reason of a denial.", {"decision"});
  decisions_[0] = &decisions.WithLabels({"ALLOWED"});
  for (auto r : {DenyReason::kInsufficientBudget, DenyReason::kDailyLimit, DenyReason::kTeamLimit,
                 DenyReason::kAccountSuspended}) {
    decisions_[static_cast<int>(r)] =
        &decisions.WithLabels({v1::DenyReason_Name(static_cast<v1::DenyReason>(r))});
  }
}

void CallMetrics::RecordCall(Method method, grpc::StatusCode code, double seconds) {
  const int m = static_cast<int>(method);
  const int c = static_cast<int>(code);
  if (m < 0 || m >= kMethods || c < 0 || c >= kCodes) return;
  obs::Counter* counter = by_code_[m][c].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // The first call of this method with this code: every thread that races here gets the same
    // series from the family.
    counter = &calls_.WithLabels(
        {Std(ServiceName(method)), Std(MethodName(method)), Std(StatusCodeName(code))});
    by_code_[m][c].store(counter, std::memory_order_release);
  }
  counter->Increment();
  durations_[m]->Observe(seconds);
}

void CallMetrics::RecordDecision(Decision decision, DenyReason reason) {
  const int i = decision == Decision::kAllowed ? 0 : static_cast<int>(reason);
  if (i < 0 || i >= kDecisions || (i == 0 && decision != Decision::kAllowed)) return;
  decisions_[i]->Increment();
}

uint64_t CallMetrics::Calls(Method method, grpc::StatusCode code) const {
  const int m = static_cast<int>(method);
  const int c = static_cast<int>(code);
  if (m < 0 || m >= kMethods || c < 0 || c >= kCodes) return 0;
  const obs::Counter* counter = by_code_[m][c].load(std::memory_order_acquire);
  return counter == nullptr ? 0 : counter->Value();
}

}  // namespace tokenledger
