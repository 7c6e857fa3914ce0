// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// AdminService: tenants, API keys, reconciliation, period resets, the server's figures and the
// audit trail.
#include <optional>
#include <string>
#include <utility>

#include "api/call.h"
#include "api/convert.h"
#include "api/services.h"

namespace tokenledger {

namespace {

grpc::ServerUnaryReactor* HandleCreateTenant(const ApiContext& api, Call call, const Caller& caller,
                                             const v1::CreateTenantRequest* req,
                                             v1::CreateTenantResponse* resp) {
  TenantRecord tenant{.tenant_id = req->tenant_id(),
                      .display_name = req->display_name(),
                      .unit = req->unit(),
                      .timezone = req->timezone()};
  const Ledger* ledger = api.ledger;
  api.ledger->CreateTenant(std::move(tenant), Audited(*req, Method::kCreateTenant, caller),
                           [call, resp, ledger](absl::StatusOr<OpResult> r) {
                             if (r.ok()) {
                               resp->mutable_tenant()->set_tenant_id(r->id);
                               auto t = ledger->FindTenant(r->id);
                               if (t) FillTenant(*t, resp->mutable_tenant());
                             }
                             call.Finish(r.status());
                           });
  return call.reactor();
}

// The tenant a new key is for: the request's, else the caller's (an operator must name one).
absl::StatusOr<std::string> KeyTenant(const v1::CreateApiKeyRequest& req, const Caller& caller,
                                      const Call& call) {
  std::string tenant = req.tenant_id();
  if (tenant.empty()) tenant = caller.tenant_id;
  if (tenant.empty()) return absl::InvalidArgumentError("tenant_id: required for operator keys");
  if (absl::Status serves = call.Serves(tenant); !serves.ok()) return serves;
  return tenant;
}

grpc::ServerUnaryReactor* HandleCreateApiKey(const ApiContext& api, Call call, const Caller& caller,
                                             const v1::CreateApiKeyRequest* req,
                                             v1::CreateApiKeyResponse* resp) {
  std::optional<Role> role = ParseRole(req->role());
  if (!role || *role == Role::kOperator) {
    return call.Finish(
        absl::InvalidArgumentError("role: must be one of admin, hr, gateway, auditor"));
  }
  absl::StatusOr<std::string> tenant = KeyTenant(*req, caller, call);
  if (!tenant.ok()) return call.Finish(tenant.status());
  const std::string secret = NewApiKeySecret();
  ApiKeyRecord key{
      .key_id = NewApiKeyId(), .tenant_id = *tenant, .role = *role, .key_hash = HashApiKey(secret)};
  api.ledger->CreateApiKey(
      caller.tenant_id, key, Audited(*req, Method::kCreateApiKey, caller),
      [call, resp, key, secret, role_name = req->role()](absl::StatusOr<OpResult> r) {
        if (r.ok()) {
          resp->set_key_id(r->id);
          // The secret is shown once: a replay of the same request names the key, not the secret.
          if (r->id == key.key_id) resp->set_key(secret);
          resp->set_tenant_id(key.tenant_id);
          resp->set_role(role_name);
        }
        call.Finish(r.status());
      });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleRevokeApiKey(const ApiContext& api, Call call, const Caller& caller,
                                             const v1::RevokeApiKeyRequest* req,
                                             v1::RevokeApiKeyResponse* resp) {
  api.ledger->RevokeApiKey(caller.tenant_id, req->key_id(),
                           Audited(*req, Method::kRevokeApiKey, caller),
                           [call, resp](absl::StatusOr<OpResult> r) {
                             if (r.ok()) {
                               resp->set_key_id(r->id);
                               resp->set_revoked(true);
                             }
                             call.Finish(r.status());
                           });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleReconcile(const ApiContext& api, Call call, const Caller& caller,
                                          const v1::ReconcileRequest* req,
                                          v1::ReconcileResponse* resp) {
  if (req->fix() && caller.role != Role::kAdmin) {
    return call.Finish(absl::PermissionDeniedError("fix: only admins may repair"));
  }
  api.ledger->Reconcile(
      caller.tenant_id, req->fix(),
      [call, resp](absl::StatusOr<ReconcileReport> r) {
        if (r.ok()) FillReconcileReport(*r, resp);
        call.Finish(r.status());
      },
      caller.key_id);
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleRunResets(const ApiContext& api, Call call, const Caller& caller,
                                          const v1::RunResetsRequest* req,
                                          v1::RunResetsResponse* resp) {
  const absl::Time now = api.ledger->clock().Now();
  if (req->as_of() < 0 || absl::FromUnixMicros(req->as_of()) > now) {
    return call.Finish(absl::InvalidArgumentError("as_of: must not be negative or in the future"));
  }
  const absl::Time as_of = req->as_of() == 0 ? now : absl::FromUnixMicros(req->as_of());
  api.ledger->RunResets(caller.tenant_id, as_of, [call, resp](absl::StatusOr<int64_t> n) {
    if (n.ok()) resp->set_resets_performed(*n);
    call.Finish(n.status());
  });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleGetServerStats(const ApiContext& api, Call call,
                                               const Caller& /*caller*/,
                                               const v1::GetServerStatsRequest*,
                                               v1::GetServerStatsResponse* resp) {
  if (!api.stats) return call.Finish(absl::UnimplementedError("no statistics in this server"));
  FillServerStats(api.stats(), resp);
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* HandleListAuditEvents(const ApiContext& api, Call call,
                                                const Caller& caller,
                                                const v1::ListAuditEventsRequest* req,
                                                v1::ListAuditEventsResponse* resp) {
  if (caller.tenant_id.empty()) {
    return call.Finish(absl::InvalidArgumentError(
        "tenant: the audit trail is read with a tenant's admin or auditor key"));
  }
  absl::StatusOr<Page> page = ParsePage(req->page_size(), req->page_token());
  if (!page.ok()) return call.Finish(page.status());
  auto rows = api.ledger->ListAudit(AuditQuery{
      .tenant_id = caller.tenant_id, .limit = page->size + 1, .before_seq = page->before_seq});
  if (!rows.ok()) return call.Finish(rows.status());
  const std::string next = FillPage(
      *rows, page->size, [resp] { return resp->add_events(); }, &FillAuditEvent);
  if (!next.empty()) resp->set_next_page_token(next);
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* HandleSetPrice(const ApiContext& api, Call call, const Caller& caller,
                                         const v1::SetPriceRequest* req,
                                         v1::SetPriceResponse* resp) {
  SetPriceArgs args{.model = req->model(),
                    .effective_at_us = req->effective_at(),
                    .input_per_million = req->input_per_million(),
                    .output_per_million = req->output_per_million(),
                    .cached_input_per_million = req->cached_input_per_million()};
  api.ledger->SetPrice(caller.tenant_id, args, Audited(*req, Method::kSetPrice, caller),
                       [call, resp, args](absl::StatusOr<OpResult> r) {
                         if (r.ok()) {
                           const PriceRecord price{
                               .model = r->id,
                               .effective_at_us = r->price_effective_at_us,
                               .input_per_million = args.input_per_million,
                               .output_per_million = args.output_per_million,
                               .cached_input_per_million = args.cached_input_per_million,
                               .created_at_us = r->created_at_us};
                           FillPrice(price, false, resp->mutable_price());
                         }
                         call.Finish(r.status());
                       });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleListPrices(const ApiContext& api, Call call, const Caller& caller,
                                           const v1::ListPricesRequest* req,
                                           v1::ListPricesResponse* resp) {
  auto listing = api.ledger->ListPrices(caller.tenant_id, req->model(), req->as_of());
  if (!listing.ok()) return call.Finish(listing.status());
  for (size_t i = 0; i < listing->prices.size(); ++i) {
    FillPrice(listing->prices[i], listing->in_force[i], resp->add_prices());
  }
  resp->set_unit(listing->unit);
  return call.Finish(absl::OkStatus());
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceImpl::CreateTenant(grpc::CallbackServerContext* ctx,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kCreateTenant, request, reply, &HandleCreateTenant);
}

grpc::ServerUnaryReactor* AdminServiceImpl::CreateApiKey(grpc::CallbackServerContext* ctx,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kCreateApiKey, request, reply, &HandleCreateApiKey);
}

grpc::ServerUnaryReactor* AdminServiceImpl::RevokeApiKey(grpc::CallbackServerContext* ctx,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kRevokeApiKey, request, reply, &HandleRevokeApiKey);
}

grpc::ServerUnaryReactor* AdminServiceImpl::Reconcile(grpc::CallbackServerContext* ctx,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kReconcile, request, reply, &HandleReconcile);
}

grpc::ServerUnaryReactor* AdminServiceImpl::RunResets(grpc::CallbackServerContext* ctx,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kRunResets, request, reply, &HandleRunResets);
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetServerStats(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kGetServerStats, request, reply, &HandleGetServerStats);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListAuditEvents(grpc::CallbackServerContext* ctx,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kListAuditEvents, request, reply, &HandleListAuditEvents);
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetPrice(grpc::CallbackServerContext* ctx,
                                                     const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kSetPrice, request, reply, &HandleSetPrice);
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListPrices(grpc::CallbackServerContext* ctx,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kListPrices, request, reply, &HandleListPrices);
}

}  // namespace tokenledger
