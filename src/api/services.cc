// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "api/services.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/unknown_field_set.h"
#include "ledger/validate.h"
#include "spdlog/spdlog.h"

namespace tokenledger {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

uint64_t RequestFingerprint(absl::string_view method, const google::protobuf::Message& request) {
  // The idempotency key itself is part of the bytes hashed: harmless, since fingerprints are
  // only ever compared between requests with the same key, and it saves copying the request.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&out);
  }
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](absl::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(method);
  mix(absl::string_view("\0", 1));
  mix(bytes);
  return h;
}

std::string FindInvalidUtf8Field(const google::protobuf::Descriptor* type, absl::string_view wire) {
  // The message's fields as the wire has them, without the schema's checks; then each string
  // field checked and each message field looked into, breadth first (requests nest two deep).
  constexpr size_t kMessagesMax = 4096;
  struct Item {
    const google::protobuf::Descriptor* type;
    std::string bytes;
    std::string path;
  };
  std::vector<Item> work = {{type, std::string(wire), ""}};
  for (size_t i = 0; i < work.size() && i < kMessagesMax; ++i) {
    google::protobuf::UnknownFieldSet fields;
    if (!fields.ParseFromString(work[i].bytes)) continue;
    for (int f = 0; f < fields.field_count(); ++f) {
      const google::protobuf::UnknownField& u = fields.field(f);
      const google::protobuf::FieldDescriptor* d = work[i].type->FindFieldByNumber(u.number());
      if (d == nullptr || u.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
        continue;
      }
      // A map entry's key and value are named by the map field.
      const bool in_map = work[i].type->options().map_entry();
      const std::string path =
          in_map ? work[i].path
                 : (work[i].path.empty() ? d->name() : absl::StrCat(work[i].path, ".", d->name()));
      if (d->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
          !IsValidUtf8(u.length_delimited())) {
        return path;
      }
      if (d->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
        work.push_back({d->message_type(), u.length_delimited(), path});
      }
    }
  }
  return "";
}

absl::Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request) {
  grpc::ByteBuffer copy(bytes);  // shares the slices; Deserialize consumes its buffer
  if (grpc::SerializationTraits<google::protobuf::Message>::Deserialize(&copy, request).ok()) {
    return absl::OkStatus();
  }
  grpc::Slice slice;
  std::string field;
  if (bytes.DumpToSingleSlice(&slice).ok()) {
    field = FindInvalidUtf8Field(
        request->GetDescriptor(),
        absl::string_view(reinterpret_cast<const char*>(slice.begin()), slice.size()));
  }
  if (!field.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8 text"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("request: not a valid ", request->GetDescriptor()->full_name(), " message"));
}

void CallCounters::Count(Method method, grpc::StatusCode code) {
  const int m = static_cast<int>(method);
  const int c = static_cast<int>(code);
  if (m < 0 || m >= kMethods || c < 0 || c >= kCodes) return;
  counts_[m][c].fetch_add(1, std::memory_order_relaxed);
}

uint64_t CallCounters::Get(Method method, grpc::StatusCode code) const {
  const int m = static_cast<int>(method);
  const int c = static_cast<int>(code);
  if (m < 0 || m >= kMethods || c < 0 || c >= kCodes) return 0;
  return counts_[m][c].load(std::memory_order_relaxed);
}

namespace {

// One call in flight: its reactor, what it is, who made it, and its response, which is
// serialized into the reply when the call finishes OK. Copies share the response (and the
// request beside it), which live until the last copy is gone.
class Call {
 public:
  Call(const ApiContext& api, grpc::CallbackServerContext* ctx, Method method,
       grpc::ByteBuffer* reply, std::shared_ptr<const google::protobuf::Message> response)
      : api_(api),
        ctx_(ctx),
        reactor_(ctx->DefaultReactor()),
        method_(method),
        reply_(reply),
        response_(std::move(response)) {}

  absl::StatusOr<Caller> Authenticate() {
    auto caller = api_.auth->Authenticate(*ctx_, method_);
    if (caller.ok()) tenant_ = caller->tenant_id;
    return caller;
  }

  grpc::ServerUnaryReactor* Finish(const absl::Status& s) const {
    grpc::Status g = ToGrpcStatus(s);
    if (g.ok()) {
      bool own_buffer = false;
      g = grpc::SerializationTraits<google::protobuf::Message>::Serialize(*response_, reply_,
                                                                          &own_buffer);
    }
    if (api_.counters != nullptr) api_.counters->Count(method_, g.error_code());
    if (g.error_code() == grpc::StatusCode::INTERNAL ||
        g.error_code() == grpc::StatusCode::DATA_LOSS ||
        g.error_code() == grpc::StatusCode::UNKNOWN) {
      spdlog::error("call failed: tenant={} method={} code={} message={}", tenant_,
                    std::string(MethodName(method_)), static_cast<int>(g.error_code()),
                    g.error_message());
    }
    reactor_->Finish(g);
    return reactor_;
  }

  grpc::ServerUnaryReactor* reactor() const { return reactor_; }

 private:
  ApiContext api_;
  grpc::CallbackServerContext* ctx_;
  grpc::ServerUnaryReactor* reactor_;
  Method method_;
  grpc::ByteBuffer* reply_;
  std::shared_ptr<const google::protobuf::Message> response_;
  std::string tenant_;
};

template <typename Req, typename Resp>
struct Exchange {
  Req request;
  Resp response;
};

template <typename Req, typename Resp>
using Handler = grpc::ServerUnaryReactor* (*)(const ApiContext&, Call, const Caller&, const Req*,
                                              Resp*);

// Authenticates the call, parses its request, and hands both to `handle`, which answers through
// the Call. The key is checked first: a caller without one learns nothing about its request.
template <typename Req, typename Resp>
grpc::ServerUnaryReactor* Serve(const ApiContext& api, grpc::CallbackServerContext* ctx,
                                Method method, const grpc::ByteBuffer* request,
                                grpc::ByteBuffer* reply, Handler<Req, Resp> handle) {
  auto exchange = std::make_shared<Exchange<Req, Resp>>();
  Call call(api, ctx, method, reply,
            std::shared_ptr<const google::protobuf::Message>(exchange, &exchange->response));
  auto caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (absl::Status s = ParseRequest(*request, &exchange->request); !s.ok()) {
    return call.Finish(s);
  }
  return handle(api, call, *caller, &exchange->request, &exchange->response);
}

template <typename Req>
IdemArgs Idem(const Req& req, Method m) {
  return IdemArgs{req.idempotency_key(), RequestFingerprint(MethodName(m), req)};
}

Metadata ToMetadata(const google::protobuf::Map<std::string, std::string>& map) {
  Metadata md(map.begin(), map.end());
  std::sort(md.begin(), md.end());
  return md;
}

v1::DenyReason ToProto(DenyReason r) { return static_cast<v1::DenyReason>(r); }

v1::TransferKind ToProto(TransferKind k) { return static_cast<v1::TransferKind>(k); }

void FillPolicy(const Policy& p, v1::Policy* out) {
  out->set_monthly_allocation(p.monthly_allocation);
  out->set_rollover_max(p.rollover_max);
  out->set_daily_limit(p.daily_limit);
  out->set_overdraft_limit(p.overdraft_limit);
}

// ---- AuthorizationService ---------------------------------------------------------------------

grpc::ServerUnaryReactor* HandleAuthorize(const ApiContext& api, Call call, const Caller& caller,
                                          const v1::AuthorizeRequest* req,
                                          v1::AuthorizeResponse* resp) {
  AuthorizeArgs args{.account_id = req->account_id(),
                     .amount = req->amount(),
                     .hold_ttl_seconds = req->hold_ttl_seconds(),
                     .model = req->model(),
                     .metadata = ToMetadata(req->metadata())};
  auto r = api.ledger->Authorize(caller.tenant_id, args, Idem(*req, Method::kAuthorize));
  if (!r.ok()) return call.Finish(r.status());
  resp->set_decision(r->decision == Decision::kAllowed ? v1::ALLOWED : v1::DENIED);
  resp->set_hold_id(r->id);
  resp->set_available(r->available);
  resp->set_expires_at(r->expires_at_us);
  resp->set_deny_reason(ToProto(r->deny_reason));
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* HandleDebit(const ApiContext& api, Call call, const Caller& caller,
                                      const v1::DebitRequest* req, v1::DebitResponse* resp) {
  DebitArgs args{.account_id = req->account_id(),
                 .hold_id = req->hold_id(),
                 .amount = req->amount(),
                 .request_id = req->request_id(),
                 .model = req->model(),
                 .metadata = ToMetadata(req->metadata())};
  api.ledger->Debit(caller.tenant_id, std::move(args), Idem(*req, Method::kDebit),
                    [call, resp](absl::StatusOr<OpResult> r) {
                      if (r.ok()) {
                        resp->set_transfer_id(r->id);
                        resp->set_amount(r->amount);
                        resp->set_available(r->available);
                        resp->set_overage(r->overage);
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
  auto r = api.ledger->Check(caller.tenant_id, req->account_id(), req->amount());
  if (!r.ok()) return call.Finish(r.status());
  resp->set_would_allow(r->would_allow);
  resp->set_available(r->available);
  resp->set_deny_reason(ToProto(r->deny_reason));
  return call.Finish(absl::OkStatus());
}

// ---- BudgetService ----------------------------------------------------------------------------

grpc::ServerUnaryReactor* HandleUpsertAccount(const ApiContext& api, Call call,
                                              const Caller& caller,
                                              const v1::UpsertAccountRequest* req,
                                              v1::UpsertAccountResponse* resp) {
  if (!v1::AccountStatus_IsValid(req->status())) {
    return call.Finish(absl::InvalidArgumentError(
        "status: must be ACTIVE, SUSPENDED or CLOSED (or unset to keep the current one)"));
  }
  AccountRecord account{.account_id = req->account_id(),
                        .display_name = req->display_name(),
                        .team_id = req->team_id(),
                        .status = static_cast<AccountStatus>(req->status())};
  if (req->has_policy()) {
    const auto& p = req->policy();
    account.policy =
        Policy{p.monthly_allocation(), p.rollover_max(), p.daily_limit(), p.overdraft_limit()};
  }
  Ledger* ledger = api.ledger;
  std::string tenant = caller.tenant_id;
  std::string display_name = req->display_name();
  ledger->UpsertAccount(tenant, std::move(account), Idem(*req, Method::kUpsertAccount),
                        [call, resp, ledger, tenant, display_name](absl::StatusOr<OpResult> r) {
                          if (r.ok()) {
                            resp->set_created(r->flag);
                            auto acct = ledger->GetAccount(tenant, r->id);
                            v1::Account* out = resp->mutable_account();
                            out->set_account_id(r->id);
                            out->set_display_name(display_name);
                            if (acct.ok()) {
                              out->set_team_id(acct->team_id);
                              out->set_status(static_cast<v1::AccountStatus>(acct->status));
                              if (acct->policy) FillPolicy(*acct->policy, out->mutable_policy());
                            }
                          }
                          call.Finish(r.status());
                        });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleUpsertTeam(const ApiContext& api, Call call, const Caller& caller,
                                           const v1::UpsertTeamRequest* req,
                                           v1::UpsertTeamResponse* resp) {
  TeamRecord team{.team_id = req->team_id(),
                  .display_name = req->display_name(),
                  .monthly_cap = req->monthly_cap()};
  api.ledger->UpsertTeam(caller.tenant_id, team, Idem(*req, Method::kUpsertTeam),
                         [call, resp, team](absl::StatusOr<OpResult> r) {
                           if (r.ok()) {
                             resp->set_created(r->flag);
                             resp->mutable_team()->set_team_id(team.team_id);
                             resp->mutable_team()->set_display_name(team.display_name);
                             resp->mutable_team()->set_monthly_cap(team.monthly_cap);
                           }
                           call.Finish(r.status());
                         });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleGrant(const ApiContext& api, Call call, const Caller& caller,
                                      const v1::GrantRequest* req, v1::GrantResponse* resp) {
  api.ledger->Grant(caller.tenant_id, req->account_id(), req->amount(), req->memo(),
                    Idem(*req, Method::kGrant), [call, resp](absl::StatusOr<OpResult> r) {
                      if (r.ok()) {
                        resp->set_transfer_id(r->id);
                        resp->set_amount(r->amount);
                        resp->set_available(r->available);
                      }
                      call.Finish(r.status());
                    });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleAdjust(const ApiContext& api, Call call, const Caller& caller,
                                       const v1::AdjustRequest* req, v1::AdjustResponse* resp) {
  api.ledger->Adjust(caller.tenant_id, req->account_id(), req->amount_delta(), req->memo(),
                     Idem(*req, Method::kAdjust), [call, resp](absl::StatusOr<OpResult> r) {
                       if (r.ok()) {
                         resp->set_transfer_id(r->id);
                         resp->set_amount_delta(r->amount);
                         resp->set_available(r->available);
                       }
                       call.Finish(r.status());
                     });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleGetBalance(const ApiContext& api, Call call, const Caller& caller,
                                           const v1::GetBalanceRequest* req, v1::Balance* resp) {
  auto b = api.ledger->GetBalance(caller.tenant_id, req->account_id());
  if (!b.ok()) return call.Finish(b.status());
  resp->set_account_id(b->account_id);
  resp->set_credits(b->posted.credits);
  resp->set_debits(b->posted.debits);
  resp->set_held(b->held);
  resp->set_available(b->available);
  resp->set_granted(b->posted.granted);
  resp->set_spent(b->posted.spent);
  resp->set_expired(b->posted.expired);
  resp->set_period_start(b->period_start_us);
  resp->set_period_end(b->period_end_us);
  resp->set_period_spent(b->period_spent);
  resp->set_day_spent(b->day_spent);
  resp->set_unit(b->unit);
  resp->set_status(static_cast<v1::AccountStatus>(b->status));
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* HandleListTransfers(const ApiContext& api, Call call,
                                              const Caller& caller,
                                              const v1::ListTransfersRequest* req,
                                              v1::ListTransfersResponse* resp) {
  constexpr int32_t kPageSizeMax = 1000;
  if (req->page_size() < 0 || req->page_size() > kPageSizeMax) {
    return call.Finish(absl::InvalidArgumentError("page_size: must be between 0 and 1000"));
  }
  if (req->since() < 0 || req->until() < 0) {
    return call.Finish(absl::InvalidArgumentError("since/until: must not be negative"));
  }
  int64_t before_seq = 0;
  if (!req->page_token().empty() &&
      (!absl::SimpleAtoi(req->page_token(), &before_seq) || before_seq <= 0)) {
    return call.Finish(absl::InvalidArgumentError("page_token: malformed"));
  }
  const int32_t page = req->page_size() == 0 ? 100 : req->page_size();
  TransferQuery q{.tenant_id = caller.tenant_id,
                  .account_id = req->account_id(),
                  .limit = page + 1,
                  .before_seq = before_seq,
                  .since_us = req->since(),
                  .until_us = req->until()};
  auto rows = api.ledger->ListTransfers(q);
  if (!rows.ok()) return call.Finish(rows.status());
  const size_t n = std::min(rows->size(), static_cast<size_t>(page));
  for (size_t i = 0; i < n; ++i) {
    const TransferRecord& t = (*rows)[i];
    v1::Transfer* out = resp->add_transfers();
    out->set_transfer_id(t.transfer_id);
    out->set_debit_account_id(t.debit_account_id);
    out->set_credit_account_id(t.credit_account_id);
    out->set_amount(t.amount);
    out->set_kind(ToProto(t.kind));
    out->set_created_at(t.created_at_us);
    out->set_request_id(t.request_id);
    out->set_model(t.model);
    for (const auto& [k, v] : t.metadata) (*out->mutable_metadata())[k] = v;
    out->set_memo(t.memo);
    out->set_hold_id(t.hold_id);
  }
  if (rows->size() > n) resp->set_next_page_token(absl::StrCat((*rows)[n - 1].seq));
  return call.Finish(absl::OkStatus());
}

// ---- AdminService -----------------------------------------------------------------------------

grpc::ServerUnaryReactor* HandleCreateTenant(const ApiContext& api, Call call,
                                             const Caller& /*caller*/,
                                             const v1::CreateTenantRequest* req,
                                             v1::CreateTenantResponse* resp) {
  TenantRecord tenant{.tenant_id = req->tenant_id(),
                      .display_name = req->display_name(),
                      .unit = req->unit(),
                      .timezone = req->timezone()};
  Ledger* ledger = api.ledger;
  ledger->CreateTenant(std::move(tenant), Idem(*req, Method::kCreateTenant),
                       [call, resp, ledger](absl::StatusOr<OpResult> r) {
                         if (r.ok()) {
                           auto t = ledger->FindTenant(r->id);
                           v1::Tenant* out = resp->mutable_tenant();
                           out->set_tenant_id(r->id);
                           if (t) {
                             out->set_display_name(t->display_name);
                             out->set_unit(t->unit);
                             out->set_timezone(t->timezone);
                             out->set_created_at(t->created_at_us);
                           }
                         }
                         call.Finish(r.status());
                       });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleCreateApiKey(const ApiContext& api, Call call, const Caller& caller,
                                             const v1::CreateApiKeyRequest* req,
                                             v1::CreateApiKeyResponse* resp) {
  std::optional<Role> role = ParseRole(req->role());
  if (!role || *role == Role::kOperator) {
    return call.Finish(
        absl::InvalidArgumentError("role: must be one of admin, hr, gateway, auditor"));
  }
  std::string tenant = req->tenant_id();
  if (tenant.empty()) tenant = caller.tenant_id;
  if (tenant.empty()) {
    return call.Finish(absl::InvalidArgumentError("tenant_id: required for operator keys"));
  }
  const std::string secret = NewApiKeySecret();
  ApiKeyRecord key{
      .key_id = NewApiKeyId(), .tenant_id = tenant, .role = *role, .key_hash = HashApiKey(secret)};
  api.ledger->CreateApiKey(
      caller.tenant_id, key, Idem(*req, Method::kCreateApiKey),
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
  api.ledger->RevokeApiKey(caller.tenant_id, req->key_id(), Idem(*req, Method::kRevokeApiKey),
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
  auto fill = [](const ReconcileMismatch& m, v1::Mismatch* out) {
    out->set_account_id(m.account_id);
    out->set_field(m.field);
    out->set_expected(m.expected);
    out->set_found(m.found);
    out->set_source(m.source);
  };
  api.ledger->Reconcile(caller.tenant_id, req->fix(),
                        [call, resp, fill](absl::StatusOr<ReconcileReport> r) {
                          if (r.ok()) {
                            resp->set_accounts_checked(r->accounts_checked);
                            resp->set_transfers_checked(r->transfers_checked);
                            resp->set_ledger_sum(r->ledger_sum);
                            for (const auto& m : r->mismatches) fill(m, resp->add_mismatches());
                            resp->set_expired_holds_released(r->expired_holds_released);
                            resp->set_fixed(r->fixed);
                            resp->set_periods_checked(r->periods_checked);
                            for (const auto& m : r->repaired) fill(m, resp->add_repaired());
                          }
                          call.Finish(r.status());
                        });
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
  const ServerStats s = api.stats();
  resp->set_writer_batches(s.writer.batches);
  resp->set_writer_mutations(s.writer.mutations);
  resp->set_writer_mean_batch_size(
      s.writer.batches == 0 ? 0.0 : static_cast<double>(s.writer.mutations) / s.writer.batches);
  resp->set_writer_commit_micros_total(s.writer.commit_micros_total);
  resp->set_writer_commit_micros_max(s.writer.commit_micros_max);
  resp->set_writer_mean_commit_micros(
      s.writer.batches == 0 ? 0.0
                            : static_cast<double>(s.writer.commit_micros_total) / s.writer.batches);
  resp->set_writer_failed_batches(s.writer.failed_batches);
  resp->set_writer_queue_depth(s.writer.queue_depth);
  resp->set_cached_tenants(s.engine.tenants);
  resp->set_cached_accounts(s.engine.accounts);
  resp->set_open_holds(s.engine.open_holds);
  resp->set_resident_memory_bytes(s.resident_memory_bytes);
  return call.Finish(absl::OkStatus());
}

}  // namespace

// ---- AuthorizationService (requests parsed by ParseRequest, then the handlers above) ----

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

// ---- BudgetService (requests parsed by ParseRequest, then the handlers above) ----

grpc::ServerUnaryReactor* BudgetServiceImpl::UpsertAccount(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kUpsertAccount, request, reply, &HandleUpsertAccount);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::UpsertTeam(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kUpsertTeam, request, reply, &HandleUpsertTeam);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::Grant(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kGrant, request, reply, &HandleGrant);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::Adjust(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kAdjust, request, reply, &HandleAdjust);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::GetBalance(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kGetBalance, request, reply, &HandleGetBalance);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::ListTransfers(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kListTransfers, request, reply, &HandleListTransfers);
}

// ---- AdminService (requests parsed by ParseRequest, then the handlers above) ----

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

}  // namespace tokenledger
