// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "bench/floor_server.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "bench_floor.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace tokenledger::bench {
namespace {

class FloorService final : public floor::Floor::CallbackService {
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* ctx, const floor::PingRequest* req,
                                 floor::PingReply* reply) override {
    reply->set_ok(true);
    reply->set_balance(req->amount());
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int ServeFloor(int port) {
  // A child of tokenledger-bench: it goes when the bench goes, and in any case within 2 hours.
  const pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent || parent == 1) return 1;
  FloorService service;
  grpc::ServerBuilder builder;
  const std::string addr = absl::StrCat("127.0.0.1:", port);
  int bound = 0;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) {
    std::fprintf(stderr, "floor: cannot listen on %s\n", addr.c_str());
    return 1;
  }
  std::fprintf(stderr, "floor: listening on %s\n", addr.c_str());
  absl::Notification never;
  never.WaitForNotificationWithTimeout(absl::Hours(2));  // normally killed long before
  server->Shutdown();
  return 0;
}

}  // namespace tokenledger::bench
