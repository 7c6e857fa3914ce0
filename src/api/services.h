// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The gRPC services of API.md. Handlers only translate: authenticate, turn the request into
// engine arguments, call the engine, turn its answer (or Status) into the response. They use
// the callback API, so a Debit waiting for its group commit holds no thread.
#ifndef TOKENLEDGER_API_SERVICES_H_
#define TOKENLEDGER_API_SERVICES_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "api/auth.h"
#include "grpcpp/grpcpp.h"
#include "ledger/engine.h"
#include "obs/metrics.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

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

grpc::Status ToGrpcStatus(const absl::Status& s);

// FNV-1a 64 of the method name and the request serialized deterministically: equal for the same
// request (compared only between requests carrying the same idempotency key).
uint64_t RequestFingerprint(absl::string_view method, const google::protobuf::Message& request);

// The status code's name as gRPC spells it: OK, INVALID_ARGUMENT, ...
absl::string_view StatusCodeName(grpc::StatusCode code);
// The full name of the service a method belongs to: tokenledger.v1.AuthorizationService, ...
absl::string_view ServiceName(Method method);

// The API's metrics: calls by service, method and status code, their latency, and Authorize's
// decisions. Recording takes no lock once a series exists (the first call of a method with a
// code makes it). Thread-safe.
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
  static constexpr int kMethods = static_cast<int>(Method::kListAuditEvents) + 1;
  static constexpr int kCodes = static_cast<int>(grpc::StatusCode::UNAUTHENTICATED) + 1;
  static constexpr int kDecisions = 5;  // allowed, then each DenyReason but kNone

  obs::Family<obs::Counter>& calls_;
  std::atomic<obs::Counter*> by_code_[kMethods][kCodes] = {};
  obs::Histogram* durations_[kMethods] = {};
  obs::Counter* decisions_[kDecisions] = {};
};

struct ServerStats {
  WriterStatsView writer;
  EngineStats engine;
  int64_t owned_tenants = 0;
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

class AuthorizationServiceImpl final : public v1::AuthorizationService::CallbackService {
 public:
  explicit AuthorizationServiceImpl(ApiContext ctx) : ctx_(ctx) {}
  grpc::ServerUnaryReactor* Authorize(grpc::CallbackServerContext* ctx,
                                      const v1::AuthorizeRequest* req,
                                      v1::AuthorizeResponse* resp) override;
  grpc::ServerUnaryReactor* Debit(grpc::CallbackServerContext* ctx, const v1::DebitRequest* req,
                                  v1::DebitResponse* resp) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* ctx, const v1::ReleaseRequest* req,
                                    v1::ReleaseResponse* resp) override;
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const v1::CheckRequest* req,
                                  v1::CheckResponse* resp) override;

 private:
  ApiContext ctx_;
};

class BudgetServiceImpl final : public v1::BudgetService::CallbackService {
 public:
  explicit BudgetServiceImpl(ApiContext ctx) : ctx_(ctx) {}
  grpc::ServerUnaryReactor* UpsertAccount(grpc::CallbackServerContext* ctx,
                                          const v1::UpsertAccountRequest* req,
                                          v1::UpsertAccountResponse* resp) override;
  grpc::ServerUnaryReactor* UpsertTeam(grpc::CallbackServerContext* ctx,
                                       const v1::UpsertTeamRequest* req,
                                       v1::UpsertTeamResponse* resp) override;
  grpc::ServerUnaryReactor* Grant(grpc::CallbackServerContext* ctx, const v1::GrantRequest* req,
                                  v1::GrantResponse* resp) override;
  grpc::ServerUnaryReactor* Adjust(grpc::CallbackServerContext* ctx, const v1::AdjustRequest* req,
                                   v1::AdjustResponse* resp) override;
  grpc::ServerUnaryReactor* GetBalance(grpc::CallbackServerContext* ctx,
                                       const v1::GetBalanceRequest* req,
                                       v1::Balance* resp) override;
  grpc::ServerUnaryReactor* ListTransfers(grpc::CallbackServerContext* ctx,
                                          const v1::ListTransfersRequest* req,
                                          v1::ListTransfersResponse* resp) override;

 private:
  ApiContext ctx_;
};

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(ApiContext ctx) : ctx_(ctx) {}
  grpc::ServerUnaryReactor* CreateTenant(grpc::CallbackServerContext* ctx,
                                         const v1::CreateTenantRequest* req,
                                         v1::CreateTenantResponse* resp) override;
  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* ctx,
                                         const v1::CreateApiKeyRequest* req,
                                         v1::CreateApiKeyResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeApiKey(grpc::CallbackServerContext* ctx,
                                         const v1::RevokeApiKeyRequest* req,
                                         v1::RevokeApiKeyResponse* resp) override;
  grpc::ServerUnaryReactor* Reconcile(grpc::CallbackServerContext* ctx,
                                      const v1::ReconcileRequest* req,
                                      v1::ReconcileResponse* resp) override;
  grpc::ServerUnaryReactor* RunResets(grpc::CallbackServerContext* ctx,
                                      const v1::RunResetsRequest* req,
                                      v1::RunResetsResponse* resp) override;
  grpc::ServerUnaryReactor* GetServerStats(grpc::CallbackServerContext* ctx,
                                           const v1::GetServerStatsRequest* req,
                                           v1::GetServerStatsResponse* resp) override;

  grpc::ServerUnaryReactor* ListAuditEvents(grpc::CallbackServerContext* ctx,
                                            const v1::ListAuditEventsRequest* req,
                                            v1::ListAuditEventsResponse* resp) override;

 private:
  ApiContext ctx_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_SERVICES_H_
