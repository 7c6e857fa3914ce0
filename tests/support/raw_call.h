// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// A unary call with the request given as bytes, whatever they hold: what a client with its own
// (or a broken) protobuf encoder sends. Used by the e2e tests and the fuzzer.
#ifndef TOKENLEDGER_TESTS_SUPPORT_RAW_CALL_H_
#define TOKENLEDGER_TESTS_SUPPORT_RAW_CALL_H_

#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace tokenledger::testing {

// Calls `method` ("/tokenledger.v1.BudgetService/Grant") with `request` as its bytes; on OK,
// `reply` (may be null) gets the response's bytes.
inline grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                                 grpc::ClientContext* ctx, const std::string& method,
                                 const std::string& request, std::string* reply) {
  grpc::GenericStub stub(channel);
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1);
  grpc::ByteBuffer out;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(ctx, method, grpc::StubOptions(), &in, &out, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  if (status.ok() && reply != nullptr) {
    grpc::Slice flat;
    if (!out.DumpToSingleSlice(&flat).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "");
    reply->assign(reinterpret_cast<const char*>(flat.begin()), flat.size());
  }
  return status;
}

}  // namespace tokenledger::testing

#endif  // TOKENLEDGER_TESTS_SUPPORT_RAW_CALL_H_
