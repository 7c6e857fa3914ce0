// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Child processes of tokenledger-bench (the floor server, the daemons of the start-up phase) and
// the probes used on them: a free port, the gRPC health check, the resident set size.
#ifndef TOKENLEDGER_BENCH_PROC_H_
#define TOKENLEDGER_BENCH_PROC_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace tokenledger::bench {

// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
int FreePort();

// The path of this executable (/proc/self/exe).
std::string SelfExePath();

// SIGINT, SIGTERM and SIGHUP SIGKILL every running ChildProcess, then end this process as the
// signal would have: a benchmark stopped with Ctrl-C leaves no daemon or floor server behind.
void KillChildrenOnSignals();

// A started child process; SIGKILLed and reaped on destruction if still running.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // posix_spawn (safe in a threaded process) of argv[0] with `argv`, the current environment
  // plus `extra_env` ("NAME=value"), stdout and stderr appended to `log_path` (or /dev/null).
  bool Start(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
             const std::string& log_path, std::string* error);
  // SIGTERM, waits up to `grace`, then SIGKILL; reaps. Returns the exit status or -1.
  int Stop(absl::Duration grace = absl::Seconds(20));
  // Whether it is still running (reaps it if it exited).
  bool Alive();
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  void Forget();  // the process is gone: no longer killed on signals

  pid_t pid_ = -1;
  std::string log_path_;
};

// A channel with a short reconnect backoff, for probing a server that is starting.
std::shared_ptr<grpc::Channel> ProbeChannel(const std::string& target);

// One grpc.health.v1.Health/Check of service "" (hand-encoded, through a generic stub): true
// when the answer is SERVING.
bool HealthServing(grpc::Channel* channel, absl::Duration timeout);

// VmRSS of `pid` from /proc, in bytes (nullopt when unreadable).
std::optional<uint64_t> VmRssBytes(pid_t pid);

}  // namespace tokenledger::bench

#endif  // TOKENLEDGER_BENCH_PROC_H_
