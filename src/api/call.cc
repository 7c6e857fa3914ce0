// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "api/call.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <random>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "api/call_metrics.h"
#include "api/convert.h"
#include "obs/log.h"
#include "spdlog/spdlog.h"

namespace tokenledger {

namespace {

std::string_view Std(absl::string_view s) { return std::string_view(s.data(), s.size()); }

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

}  // namespace

Call::Call(const ApiContext& api, grpc::CallbackServerContext* ctx, Method method,
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

absl::StatusOr<Caller> Call::Authenticate() {
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

absl::Status Call::Serves(const std::string& tenant) const {
  if (!api_->serves) return absl::OkStatus();
  return api_->serves(tenant);
}

grpc::ServerUnaryReactor* Call::Finish(const absl::Status& s) const {
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

void Call::LogFinish(const grpc::Status& g, double seconds) const {
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

}  // namespace tokenledger
