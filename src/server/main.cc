// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// tokenledgerd: the budget ledger daemon. Exit codes: 0 after a drain, 1 when it cannot start,
// 2 for bad configuration.
#include <grpc/support/log.h>
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/stubs/logging.h"
#include "obs/log.h"
#include "postgres/pg_migrate.h"
#include "server/config.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace {

// gRPC's own log lines, in the daemon's format.
void GrpcLog(gpr_log_func_args* args) {
  const spdlog::level::level_enum level =
      args->severity == GPR_LOG_SEVERITY_ERROR  ? spdlog::level::err
      : args->severity == GPR_LOG_SEVERITY_INFO ? spdlog::level::info
                                                : spdlog::level::debug;
  const std::string line = absl::StrCat(args->line);
  tokenledger::obs::Log(level, args->message,
                        {{"source", "grpc"}, {"file", args->file}, {"line", line, true}});
}

// protobuf's own log lines go through the daemon's log. Its complaint about a request string that
// is not UTF-8 (one line per such request, which the API answers INVALID_ARGUMENT anyway) is debug
// only, so that a hostile client cannot flood the log with it.
void ProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                 const std::string& message) {
  if (level >= google::protobuf::LOGLEVEL_FATAL) {
    spdlog::critical("protobuf {}:{}: {}", filename, line, message);
  } else if (message.find("when parsing a protocol buffer") != std::string::npos) {
    spdlog::debug("protobuf {}:{}: {}", filename, line, message);
  } else {
    spdlog::warn("protobuf {}:{}: {}", filename, line, message);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds abseil without NDEBUG, which turns on the Mutex deadlock detector: a global
  // lock and a graph update on every Mutex acquisition (gRPC's included), which measured as the
  // daemon's largest lock cost. The tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto loaded = tokenledger::LoadConfig(args, tokenledger::ProcessEnvironment());
  if (!loaded.ok()) {
    std::fprintf(stderr, "tokenledgerd: %s\n", std::string(loaded.status().message()).c_str());
    return 2;
  }
  if (loaded->action == tokenledger::LoadedConfig::Action::kHelp) {
    std::fputs(tokenledger::HelpText().c_str(), stdout);
    return 0;
  }
  if (loaded->action == tokenledger::LoadedConfig::Action::kVersion) {
    std::printf("tokenledgerd %s\n", std::string(tokenledger::DaemonVersion()).c_str());
    return 0;
  }
  const tokenledger::ServerConfig& config = loaded->server;
  // Checked by the loader, so these parse.
  tokenledger::obs::InitLogging(*tokenledger::obs::ParseLogFormat(config.log_format),
                                *tokenledger::obs::ParseLogLevel(config.log_level));
  gpr_set_log_function(GrpcLog);
  google::protobuf::SetLogHandler(&ProtobufLog);
  if (!loaded->config_file.empty()) spdlog::info("configuration from {}", loaded->config_file);

  if (loaded->action == tokenledger::LoadedConfig::Action::kMigrate) {
    const std::string dir =
        config.migrations_dir.empty() ? tokenledger::DefaultMigrationsDir() : config.migrations_dir;
    std::vector<std::string> applied;
    if (absl::Status m = tokenledger::ApplyMigrations(config.database_url, dir, &applied);
        !m.ok()) {
      spdlog::critical("applying migrations from {}: {}", dir, m.ToString());
      return 1;
    }
    spdlog::info("migrations from {}: {}; the schema is current", dir,
                 applied.empty() ? "nothing to apply"
                                 : absl::StrCat("applied ", absl::StrJoin(applied, ", ")));
    return 0;
  }

  // Signals are taken by one thread with sigwait; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = tokenledger::Server::Start(config);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", server.status().ToString());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: draining", sig);
  (*server)->Shutdown();
  return 0;
}
