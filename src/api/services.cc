// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "api/services.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/status_names.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/unknown_field_set.h"
#include "types/validate.h"
#include "obs/log.h"
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

namespace {

// A client's x-request-id is kept when it is 1 to 128 printable characters without quotes or
// backslashes; otherwise the call gets one of ours.
bool GoodRequestId(grpc::string_ref id) {
  constexpr size_t kRequestIdMax = 128;
  if (id.empty() || id.size() > kRequestIdMax) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return c > ' ' && c < 0x7F && c != '"' && c != '\\'; });
}

// Unique per call and across restarts: a random prefix per process and a counter.
std::string NewRequestId() {
  static const std::string prefix = [] {
    std::random_device rd;
    return absl::StrCat(absl::Hex(rd(), absl::kZeroPad8));
  }();
  static std::atomic<uint64_t> next{1};
  return absl::StrCat(prefix, "-", absl::Hex(next.fetch_add(1, std::memory_order_relaxed)));
}

std::string RequestIdOf(const grpc::CallbackServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  const auto it = md.find("x-request-id");
  if (it != md.end() && GoodRequestId(it->second)) {
    return std::string(it->second.data(), it->second.size());
  }
  return NewRequestId();
}

// OK at debug; what the caller got wrong at info; the server's trouble at warn or error.
spdlog::level::level_enum CallLogLevel(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return spdlog::level::debug;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::CANCELLED:
      return spdlog::level::info;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      return spdlog::level::err;
    default:
      return spdlog::level::warn;
  }
}

// One call in flight: its reactor, what it is, who made it, and its response, which is
// serialized into the reply when the call finishes OK. Copies share the response (and the
// request beside it), which live until the last copy is gone. Every call is counted, timed and
// logged when it finishes; its request id (the client's x-request-id, or a new one) is sent back
// in the initial metadata.
class Call {
 public:
  Call(const ApiContext& api, grpc::CallbackServerContext* ctx, Method method,
       grpc::ByteBuffer* reply, std::shared_ptr<const google::protobuf::Message> response)
      : api_(&api),
        ctx_(ctx),
        reactor_(ctx->DefaultReactor()),
        method_(method),
        reply_(reply),
        response_(std::move(response)),
        start_(std::chrono::steady_clock::now()),
        request_id_(RequestIdOf(*ctx)) {
    ctx->AddInitialMetadata("x-request-id", request_id_);
  }

  // Admits the call, authenticates it, and checks that this process serves the caller's tenant.
  absl::StatusOr<Caller> Authenticate() {
    if (api_->inflight != nullptr) {
      admitted_ = true;
      if (api_->inflight->fetch_add(1, std::memory_order_relaxed) >= api_->inflight_max) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "overloaded: ", api_->inflight_max, " calls in flight already; retry with backoff"));
      }
    }
    auto caller = api_->auth->Authenticate(*ctx_, method_);
    if (!caller.ok()) return caller;
    tenant_ = caller->tenant_id;
    key_id_ = caller->key_id;
    if (absl::Status s = Serves(tenant_); !s.ok()) return s;
    return caller;
  }

  // Whether this process serves `tenant` (for operator calls that name one).
  absl::Status Serves(const std::string& tenant) const {
    if (!api_->serves) return absl::OkStatus();
    return api_->serves(tenant);
  }

  grpc::ServerUnaryReactor* Finish(const absl::Status& s) const {
    if (admitted_) api_->inflight->fetch_sub(1, std::memory_order_relaxed);
    grpc::Status g = ToGrpcStatus(s);
    if (g.ok()) {
      bool own_buffer = false;
      g = grpc::SerializationTraits<google::protobuf::Message>::Serialize(*response_, reply_,
                                                                          &own_buffer);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (api_->metrics != nullptr) api_->metrics->RecordCall(method_, g.error_code(), seconds);
    LogFinish(g, seconds);
    reactor_->Finish(g);
    return reactor_;
  }

  grpc::ServerUnaryReactor* reactor() const { return reactor_; }

 private:
  void LogFinish(const grpc::Status& g, double seconds) const {
    const spdlog::level::level_enum level = CallLogLevel(g.error_code());
    if (!spdlog::should_log(level)) return;
    const std::string micros = absl::StrCat(static_cast<int64_t>(seconds * 1e6));
    const std::string peer = ctx_->peer();
    const std::string error = g.error_message();  // a copy: the field only points at it
    const obs::LogField fields[] = {{"tenant", tenant_},
                                    {"method", Std(MethodName(method_))},
                                    {"request_id", request_id_},
                                    {"status", Std(StatusCodeName(g.error_code()))},
                                    {"duration_us", micros, true},
                                    {"key_id", key_id_},
                                    {"peer", peer},
                                    {"error", error}};
    // The error field only for a failure.
    obs::Log(level, g.ok() ? "call" : "call failed",
             absl::MakeConstSpan(fields, std::size(fields) - (g.ok() ? 1 : 0)));
  }

  const ApiContext* api_;  // the service's, which outlives its calls
  grpc::CallbackServerContext* ctx_;
  grpc::ServerUnaryReactor* reactor_;
  Method method_;
  grpc::ByteBuffer* reply_;
  std::shared_ptr<const google::protobuf::Message> response_;
  std::chrono::steady_clock::time_point start_;
  std::string request_id_;
  std::string tenant_;
  std::string key_id_;
  bool admitted_ = false;
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

// A listing's page: its size (page_size, default 100, at most 1000) and where it starts (the
// page_token: the seq of the last row of the previous page).
struct Page {
  int32_t size = 100;
  int64_t before_seq = 0;  // 0: from the newest
};

absl::StatusOr<Page> ParsePage(int32_t page_size, const std::string& page_token) {
  constexpr int32_t kPageSizeMax = 1000;
  if (page_size < 0 || page_size > kPageSizeMax) {
    return absl::InvalidArgumentError("page_size: must be between 0 and 1000");
  }
  Page page;
  if (page_size > 0) page.size = page_size;
  if (!page_token.empty() &&
      (!absl::SimpleAtoi(page_token, &page.before_seq) || page.before_seq <= 0)) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  return page;
}

// Idem, for a call the audit trail records: the method, and the caller's key as the actor.
template <typename Req>
IdemArgs Audited(const Req& req, Method m, const Caller& caller) {
  IdemArgs args = Idem(req, m);
  args.audit_action = std::string(MethodName(m));
  args.actor = caller.key_id;
  return args;
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
  if (api.metrics != nullptr) api.metrics->RecordDecision(r->decision, r->deny_reason);
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
  ledger->UpsertAccount(tenant, std::move(account), Audited(*req, Method::kUpsertAccount, caller),
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
  api.ledger->UpsertTeam(caller.tenant_id, team, Audited(*req, Method::kUpsertTeam, caller),
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
                    Audited(*req, Method::kGrant, caller),
                    [call, resp](absl::StatusOr<OpResult> r) {
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
                     Audited(*req, Method::kAdjust, caller),
                     [call, resp](absl::StatusOr<OpResult> r) {
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
  if (req->since() < 0 || req->until() < 0) {
    return call.Finish(absl::InvalidArgumentError("since/until: must not be negative"));
  }
  absl::StatusOr<Page> page_args = ParsePage(req->page_size(), req->page_token());
  if (!page_args.ok()) return call.Finish(page_args.status());
  const int32_t page = page_args->size;
  TransferQuery q{.tenant_id = caller.tenant_id,
                  .account_id = req->account_id(),
                  .limit = page + 1,
                  .before_seq = page_args->before_seq,
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

grpc::ServerUnaryReactor* HandleCreateTenant(const ApiContext& api, Call call, const Caller& caller,
                                             const v1::CreateTenantRequest* req,
                                             v1::CreateTenantResponse* resp) {
  TenantRecord tenant{.tenant_id = req->tenant_id(),
                      .display_name = req->display_name(),
                      .unit = req->unit(),
                      .timezone = req->timezone()};
  Ledger* ledger = api.ledger;
  ledger->CreateTenant(std::move(tenant), Audited(*req, Method::kCreateTenant, caller),
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
  if (absl::Status serves = call.Serves(tenant); !serves.ok()) return call.Finish(serves);
  const std::string secret = NewApiKeySecret();
  ApiKeyRecord key{
      .key_id = NewApiKeyId(), .tenant_id = tenant, .role = *role, .key_hash = HashApiKey(secret)};
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
  auto fill = [](const ReconcileMismatch& m, v1::Mismatch* out) {
    out->set_account_id(m.account_id);
    out->set_field(m.field);
    out->set_expected(m.expected);
    out->set_found(m.found);
    out->set_source(m.source);
  };
  api.ledger->Reconcile(
      caller.tenant_id, req->fix(),
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

grpc::ServerUnaryReactor* HandleListAuditEvents(const ApiContext& api, Call call,
                                                const Caller& caller,
                                                const v1::ListAuditEventsRequest* req,
                                                v1::ListAuditEventsResponse* resp) {
  if (caller.tenant_id.empty()) {
    return call.Finish(absl::InvalidArgumentError(
        "tenant: the audit trail is read with a tenant's admin or auditor key"));
  }
  absl::StatusOr<Page> page_args = ParsePage(req->page_size(), req->page_token());
  if (!page_args.ok()) return call.Finish(page_args.status());
  const int32_t page = page_args->size;
  auto rows = api.ledger->ListAudit(AuditQuery{
      .tenant_id = caller.tenant_id, .limit = page + 1, .before_seq = page_args->before_seq});
  if (!rows.ok()) return call.Finish(rows.status());
  const size_t n = std::min(rows->size(), static_cast<size_t>(page));
  for (size_t i = 0; i < n; ++i) {
    const AuditRecord& a = (*rows)[i];
    v1::AuditEvent* out = resp->add_events();
    out->set_seq(a.seq);
    out->set_actor_key_id(a.actor_key_id);
    out->set_action(a.action);
    out->set_target(a.target);
    out->set_detail(a.detail);
    out->set_created_at(a.created_at_us);
  }
  if (rows->size() > n) resp->set_next_page_token(absl::StrCat((*rows)[n - 1].seq));
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

grpc::ServerUnaryReactor* AdminServiceImpl::ListAuditEvents(grpc::CallbackServerContext* ctx,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kListAuditEvents, request, reply, &HandleListAuditEvents);
}

}  // namespace tokenledger
