// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The gRPC services of docs/api.md, the API layer's entry point: the server builds an ApiContext
// (api/api_context.h) and registers these three services. Handlers only translate: authenticate,
// turn the request into engine arguments, call the engine, turn its answer (or Status) into the
// response. They use the callback API, so a Debit waiting for its group commit holds no thread,
// and every method is raw (bytes in, bytes out) so that a request gRPC could not parse is still
// answered as docs/api.md says (api/raw_request.h). Each service's handlers are in its own file
// (authorization_service.cc, budget_service.cc, admin_service.cc); the call's life in api/call.h
// and the translation in api/convert.h. Thread-safe: a service only reads its ApiContext.
#ifndef TOKENLEDGER_API_SERVICES_H_
#define TOKENLEDGER_API_SERVICES_H_

#include "api/api_context.h"
#include "api/call_metrics.h"
#include "grpcpp/grpcpp.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger {

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
                            v1::AdminService::WithRawCallbackMethod_SetPrice<
                                v1::AdminService::WithRawCallbackMethod_ListPrices<
                                    v1::AdminService::Service>>>>>>>>>;

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
  grpc::ServerUnaryReactor* SetPrice(grpc::CallbackServerContext* ctx,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* ListPrices(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* reply) override;

 private:
  ApiContext ctx_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_SERVICES_H_
