// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// AuthorizationService: Authorize, Debit, Release, Check (the gateway's hot path).
#include <optional>
#include <utility>

#include "api/call.h"
#include "api/convert.h"
#include "api/services.h"

namespace tokenledger {

namespace {

std::optional<UsageEstimate> ToEstimate(bool present, const v1::UsageEstimate& e) {
  if (!present) return std::nullopt;
  return UsageEstimate{.input_tokens = e.input_tokens(),
                       .max_output_tokens = e.max_output_tokens()};
}

grpc::ServerUnaryReactor* HandleAuthorize(const ApiContext& api, Call call, const Caller& caller,
                                          const v1::AuthorizeRequest* req,
                                          v1::AuthorizeResponse* resp) {
  AuthorizeArgs args{.account_id = req->account_id(),
                     .amount = req->amount(),
                     .estimate = ToEstimate(req->has_estimate(), req->estimate()),
                     .hold_ttl_seconds = req->hold_ttl_seconds(),
                     .model = req->model(),
                     .metadata = ToMetadata(req->metadata())};
  auto r = api.ledger->Authorize(caller.tenant_id, args, Idem(*req, Method::kAuthorize));
  if (!r.ok()) return call.Finish(r.status());
  if (api.metrics != nullptr) api.metrics->RecordDecision(r->decision, r->deny_reason);
  resp->set_decision(r->decision == Decision::kAllowed ? v1::ALLOWED : v1::DENIED);
  resp->set_hold_id(r->id);
  resp->set_available(r->available);
  resp->set_expires_at(r->expires_at_us);
  resp->set_deny_reason(ToProto(r->deny_reason));
  resp->set_amount(r->amount);
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* HandleDebit(const ApiContext& api, Call call, const Caller& caller,
                                      const v1::DebitRequest* req, v1::DebitResponse* resp) {
  DebitArgs args{.account_id = req->account_id(),
                 .hold_id = req->hold_id(),
                 .amount = req->amount(),
                 .request_id = req->request_id(),
                 .model = req->model(),
                 .metadata = ToMetadata(req->metadata()),
                 .usage = ToUsage(req->has_usage(), req->usage()),
                 .occurred_at_us = req->occurred_at()};
  // A replay answers from the stored result; the tokens are the request's (the same request).
  std::optional<TokenUsage> usage = args.usage;
  api.ledger->Debit(caller.tenant_id, std::move(args), Idem(*req, Method::kDebit),
                    [call, resp, usage](absl::StatusOr<OpResult> r) {
                      if (r.ok()) {
                        resp->set_transfer_id(r->id);
                        resp->set_amount(r->amount);
                        resp->set_available(r->available);
                        resp->set_overage(r->overage);
                        if (usage) FillUsage(*usage, resp->mutable_usage());
                        resp->set_price_effective_at(r->price_effective_at_us);
                      }
                      call.Finish(r.status());
                    });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleRelease(const ApiContext& api, Call call, const Caller& caller,
                                        const v1::ReleaseRequest* req, v1::ReleaseResponse* resp) {
  api.ledger->Release(caller.tenant_id, req->hold_id(), Idem(*req, Method::kRelease),
                      [call, resp](absl::StatusOr<OpResult> r) {
                        if (r.ok()) resp->set_released_amount(r->amount);
                        call.Finish(r.status());
                      });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleCheck(const ApiContext& api, Call call, const Caller& caller,
                                      const v1::CheckRequest* req, v1::CheckResponse* resp) {
  CheckArgs args{.account_id = req->account_id(),
                 .amount = req->amount(),
                 .estimate = ToEstimate(req->has_estimate(), req->estimate()),
                 .model = req->model()};
  auto r = api.ledger->Check(caller.tenant_id, args);
  if (!r.ok()) return call.Finish(r.status());
  resp->set_would_allow(r->would_allow);
  resp->set_available(r->available);
  resp->set_deny_reason(ToProto(r->deny_reason));
  resp->set_amount(r->amount);
  return call.Finish(absl::OkStatus());
}

}  // namespace

grpc::ServerUnaryReactor* AuthorizationServiceImpl::Authorize(grpc::CallbackServerContext* ctx,
                                                              const grpc::ByteBuffer* request,
                                                              grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kAuthorize, request, reply, &HandleAuthorize);
}

grpc::ServerUnaryReactor* AuthorizationServiceImpl::Debit(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kDebit, request, reply, &HandleDebit);
}

grpc::ServerUnaryReactor* AuthorizationServiceImpl::Release(grpc::CallbackServerContext* ctx,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kRelease, request, reply, &HandleRelease);
}

grpc::ServerUnaryReactor* AuthorizationServiceImpl::Check(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kCheck, request, reply, &HandleCheck);
}

}  // namespace tokenledger
