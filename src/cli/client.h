// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The CLI's connection to tokenledgerd: the channel (plaintext, TLS or mutual TLS from the
// --tls* flags), each call's deadline and API key, the idempotency key of a mutating command,
// and how a call's answer or failure is printed (cli/output.h) and turned into the exit code:
// kExitOk, or kExitRpcError with "error: <CODE>: <message>" on stderr. One per run; not
// thread-safe.
#ifndef TOKENLEDGER_CLI_CLIENT_H_
#define TOKENLEDGER_CLI_CLIENT_H_

#include <memory>
#include <string>

#include "cli/args.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger::cli {

// Plaintext, unless --tls or a --tls-* file asks for TLS. Returns null (after printing why) when
// a file cannot be read or the client certificate comes without its key.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFromFlags();

class Client {
 public:
  Client(const std::string& target, std::string key, bool json, double timeout_s,
         std::shared_ptr<grpc::ChannelCredentials> creds);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  bool json() const { return json_; }

  // The call's deadline (--timeout) and, `with_key`, its "authorization: Bearer <key>".
  void SetUp(grpc::ClientContext* ctx, bool with_key) const;

  // False (after printing a usage error) when no API key was given.
  bool RequireKey() const;

  // The --idempotency-key flag, or a fresh random key that is printed with the result.
  std::string IdempotencyKey();

  // Prints the failure (and the key to retry with, if one was generated); kExitRpcError.
  int Fail(const grpc::Status& status) const;

  // Prints the response as a table or JSON (--json); kExitOk.
  int Print(const google::protobuf::Message& response) const;

  // Calls `rpc` of `stub` with `request` and prints its answer; returns the exit code.
  template <class Stub, class Request, class Response>
  int Call(Stub* stub, grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
           const Request& request) {
    grpc::ClientContext ctx;
    SetUp(&ctx, /*with_key=*/true);
    Response response;
    const grpc::Status status = (stub->*rpc)(&ctx, request, &response);
    if (!status.ok()) return Fail(status);
    return Print(response);
  }

  std::unique_ptr<v1::AdminService::Stub> Admin() const {
    return v1::AdminService::NewStub(channel_);
  }
  std::unique_ptr<v1::BudgetService::Stub> Budget() const {
    return v1::BudgetService::NewStub(channel_);
  }
  std::unique_ptr<v1::AuthorizationService::Stub> Authz() const {
    return v1::AuthorizationService::NewStub(channel_);
  }

 private:
  std::string key_;
  bool json_;
  double timeout_s_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string generated_key_;
};

}  // namespace tokenledger::cli

#endif  // TOKENLEDGER_CLI_CLIENT_H_
