// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The gRPC services of API.md. Handlers only translate: authenticate, turn the request into
// engine arguments, call the engine, turn its answer (or Status) into the response. They use
// the callback API, so a Debit waiting for its group commit holds no thread, and every method
// is raw (bytes in, bytes out) so that a request gRPC could not parse is still answered as
// API.md says (see ParseRequest).
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

// The field (dotted path; a map's entries by the map's name) of the first string whose bytes in
// `wire`, a serialized message of `type`, are not UTF-8; empty when there is none.
std::string FindInvalidUtf8Field(const google::protobuf::Descriptor* type, absl::string_view wire);

// Requests arrive as bytes and are parsed by ParseRequest, not by gRPC: gRPC's own parser answers a
// request it cannot parse (a string field that is not UTF-8, which proto3 forbids, or bytes that
// are no protobuf at all) with UNIMPLEMENTED and an empty message, before any handler runs. Here
// such a request is INVALID_ARGUMENT naming the field ("account_id: not valid UTF-8 text"), or
// "request: not a valid <message>" when the bytes are malformed.
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request);

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

// Every method of AuthorizationService is raw (bytes in, bytes out): see ParseRequest.
using RawAuthorizationService = v1::AuthorizationService::WithRawCallbackMethod_Authorize<
    v1::AuthorizationService::WithRawCallbackMethod_Debit<
        v1::AuthorizationService::WithRawCallbackMethod_Release<
            v1::AuthorizationService::WithRawCallbackMethod_Check<
                v1::AuthorizationService::Service>>>>;

class AuthorizationServiceImpl final : public RawAuthorizationService {
 public:
  explicit AuthorizationServiceImpl(ApiContext ctx) : ctx_(ctx) {}
  grpc::ServerUnaryReactor* Authorize(grpc::CallbackServerContext* ctx,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* Debit(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* reply) override;

 private:
  ApiContext ctx_;
};

// Every method of BudgetService is raw (bytes in, bytes out): see ParseRequest.
using RawBudgetService = v1::BudgetService::WithRawCallbackMethod_UpsertAccount<
    v1::BudgetService::WithRawCallbackMethod_UpsertTeam<
        v1::BudgetService::WithRawCallbackMethod_Grant<
            v1::BudgetService::WithRawCallbackMethod_Adjust<
                v1::BudgetService::WithRawCallbackMethod_GetBalance<
                    v1::BudgetService::WithRawCallbackMethod_ListTransfers<
                        v1::BudgetService::Service>>>>>>;

class BudgetServiceImpl final : public RawBudgetService {
 public:
  explicit BudgetServiceImpl(ApiContext ctx) : ctx_(ctx) {}
  grpc::ServerUnaryReactor* UpsertAccount(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* UpsertTeam(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* Grant(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* Adjust(grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* GetBalance(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* ListTransfers(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* reply) override;

 private:
  ApiContext ctx_;
};

// Every method of AdminService is raw (bytes in, bytes out): see ParseRequest.
using RawAdminService = v1::AdminService::WithRawCallbackMethod_CreateTenant<
    v1::AdminService::WithRawCallbackMethod_CreateApiKey<
        v1::AdminService::WithRawCallbackMethod_RevokeApiKey<
            v1::AdminService::WithRawCallbackMethod_Reconcile<
                v1::AdminService::WithRawCallbackMethod_RunResets<
                    v1::AdminService::WithRawCallbackMethod_GetServerStats<
                        v1::AdminService::WithRawCallbackMethod_ListAuditEvents<
                            v1::AdminService::Service>>>>>>>;

class AdminServiceImpl final : public RawAdminService {
 public:
  explicit AdminServiceImpl(ApiContext ctx) : ctx_(ctx) {}
  grpc::ServerUnaryReactor* CreateTenant(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* RevokeApiKey(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* Reconcile(grpc::CallbackServerContext* ctx,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* RunResets(grpc::CallbackServerContext* ctx,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* GetServerStats(grpc::CallbackServerContext* ctx,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* ListAuditEvents(grpc::CallbackServerContext* ctx,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* reply) override;

 private:
  ApiContext ctx_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_SERVICES_H_
