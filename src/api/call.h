// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// One API call from its arrival to its answer, shared by the three services: Serve admits and
// authenticates the call, parses its raw request (api/raw_request.h) and hands both to the
// method's handler, which answers through the Call, at once or from the engine's callback.
// Every call is counted, timed and logged when it finishes; its request id (the client's
// x-request-id, or a new one) is sent back in the initial metadata.
//
// Thread-safety: a Call is a small value; its copies may finish the call from another thread
// (the writer's callback), and exactly one of them finishes it.
#ifndef TOKENLEDGER_API_CALL_H_
#define TOKENLEDGER_API_CALL_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/api_context.h"
#include "api/auth.h"
#include "api/raw_request.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/proto_utils.h"

namespace tokenledger {

// The call's reactor, what it is, who made it, and its response, which is serialized into the
// reply when the call finishes OK. Copies share the response (and the request beside it), which
// live until the last copy is gone.
class Call {
 public:
  Call(const ApiContext& api, grpc::CallbackServerContext* ctx, Method method,
       grpc::ByteBuffer* reply, std::shared_ptr<const google::protobuf::Message> response);

  // Admits the call, authenticates it, and checks that this process serves the caller's tenant.
  absl::StatusOr<Caller> Authenticate();

  // Whether this process serves `tenant` (for operator calls that name one).
  absl::Status Serves(const std::string& tenant) const;

  // Answers the call: the response when `s` is OK, else `s`. Returns the reactor.
  grpc::ServerUnaryReactor* Finish(const absl::Status& s) const;

  grpc::ServerUnaryReactor* reactor() const { return reactor_; }

 private:
  void LogFinish(const grpc::Status& g, double seconds) const;

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

// A method's handler: translates the parsed request for the engine and the engine's answer into
// the response, and finishes the call (or returns the reactor of a call the engine finishes).
template <typename Req, typename Resp>
using Handler = grpc::ServerUnaryReactor* (*)(const ApiContext&, Call, const Caller&, const Req*,
                                              Resp*);

// Authenticates the call, parses its request, and hands both to `handle`, which answers through
// the Call. The key is checked first: a caller without one learns nothing about its request.
template <typename Req, typename Resp>
grpc::ServerUnaryReactor* Serve(const ApiContext& api, grpc::CallbackServerContext* ctx,
                                Method method, const grpc::ByteBuffer* request,
                                grpc::ByteBuffer* reply, Handler<Req, Resp> handle) {
  struct Exchange {
    Req request;
    Resp response;
  };
  auto exchange = std::make_shared<Exchange>();
  Call call(api, ctx, method, reply,
            std::shared_ptr<const google::protobuf::Message>(exchange, &exchange->response));
  auto caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (absl::Status s = ParseRequest(*request, &exchange->request); !s.ok()) {
    return call.Finish(s);
  }
  return handle(api, call, *caller, &exchange->request, &exchange->response);
}

}  // namespace tokenledger

#endif  // TOKENLEDGER_API_CALL_H_
