// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// tokenledgerd: the budget ledger daemon.
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "server/flag_args.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "",
          "gRPC address HOST:PORT (env TOKENLEDGER_LISTEN; default 127.0.0.1:7443)");
ABSL_FLAG(std::string, database_url, "",
          "PostgreSQL URL, e.g. postgresql://user@127.0.0.1:5432/tokenledger "
          "(env TOKENLEDGER_DATABASE_URL)");
ABSL_FLAG(std::string, operator_key_file, "",
          "file holding the operator key (env TOKENLEDGER_OPERATOR_KEY holds the key itself)");
ABSL_FLAG(std::string, migrations_dir, "",
          "directory of NNNN_name.sql migrations (env TOKENLEDGER_MIGRATIONS_DIR; default: the "
          "source tree's migrations/)");
ABSL_FLAG(int64_t, writer_flush_ms, -1,
          "how long holds and expiries may wait for company in the group commit, in ms "
          "(env TOKENLEDGER_WRITER_FLUSH_MS; default 0 = commit at once)");
ABSL_FLAG(int64_t, write_queue_max, 200000,
          "writes queued for the group commit at most; past it calls fail RESOURCE_EXHAUSTED "
          "(env TOKENLEDGER_WRITE_QUEUE_MAX)");
ABSL_FLAG(int64_t, clock_offset_seconds, 0,
          "testing only: shift the daemon's clock by this many seconds (e.g. to cross a month)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate (chain) of the server; with --tls-key serves TLS only "
          "(env TOKENLEDGER_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert (env TOKENLEDGER_TLS_KEY)");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificate(s): every client must present a certificate signed by one "
          "(mutual TLS; env TOKENLEDGER_TLS_CLIENT_CA)");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn or error (env TOKENLEDGER_LOG_LEVEL)");

namespace {

// protobuf's own log lines go through spdlog. Its complaint about a request string that is not
// UTF-8 (one line per such request, which the API answers INVALID_ARGUMENT anyway) is debug
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

std::string FlagOrEnv(const std::string& flag, const char* env, const std::string& fallback) {
  if (!flag.empty()) return flag;
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return v;
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tokenledgerd: the tokenledger budget ledger daemon.\n"
      "  tokenledgerd --database-url URL [--listen 127.0.0.1:7443] [--operator-key-file F]");
  // Flags are documented with dashes (--database-url); abseil spells them with underscores.
  std::vector<std::string> args;
  std::vector<char*> fixed = tokenledger::UnderscoreFlagNames(argc, argv, args);
  absl::ParseCommandLine(static_cast<int>(fixed.size()), fixed.data());

  // Signals are taken by one thread with sigwait; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string level =
      FlagOrEnv(absl::GetFlag(FLAGS_log_level) == "info" ? "" : absl::GetFlag(FLAGS_log_level),
                "TOKENLEDGER_LOG_LEVEL", "info");
  spdlog::set_level(spdlog::level::from_str(level));
  google::protobuf::SetLogHandler(&ProtobufLog);

  tokenledger::ServerConfig config;
  config.listen = FlagOrEnv(absl::GetFlag(FLAGS_listen), "TOKENLEDGER_LISTEN", "127.0.0.1:7443");
  config.database_url =
      FlagOrEnv(absl::GetFlag(FLAGS_database_url), "TOKENLEDGER_DATABASE_URL", "");
  config.migrations_dir =
      FlagOrEnv(absl::GetFlag(FLAGS_migrations_dir), "TOKENLEDGER_MIGRATIONS_DIR", "");
  config.tls_cert_file = FlagOrEnv(absl::GetFlag(FLAGS_tls_cert), "TOKENLEDGER_TLS_CERT", "");
  config.tls_key_file = FlagOrEnv(absl::GetFlag(FLAGS_tls_key), "TOKENLEDGER_TLS_KEY", "");
  config.tls_client_ca_file =
      FlagOrEnv(absl::GetFlag(FLAGS_tls_client_ca), "TOKENLEDGER_TLS_CLIENT_CA", "");
  if (const std::string file = absl::GetFlag(FLAGS_operator_key_file); !file.empty()) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "tokenledgerd: cannot read --operator-key-file " << file << "\n";
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    config.operator_key = std::string(absl::StripAsciiWhitespace(ss.str()));
  } else if (const char* key = std::getenv("TOKENLEDGER_OPERATOR_KEY"); key != nullptr) {
    config.operator_key = std::string(absl::StripAsciiWhitespace(key));
  }
  if (!config.operator_key.empty() && config.operator_key.size() < 32) {
    std::cerr << "tokenledgerd: the operator key must be at least 32 characters\n";
    return 2;
  }
  config.clock_offset = absl::Seconds(absl::GetFlag(FLAGS_clock_offset_seconds));
  int64_t flush_ms = absl::GetFlag(FLAGS_writer_flush_ms);
  if (flush_ms < 0) {
    const std::string env = FlagOrEnv("", "TOKENLEDGER_WRITER_FLUSH_MS", "0");
    if (!absl::SimpleAtoi(env, &flush_ms) || flush_ms < 0 || flush_ms > 1000) {
      std::cerr << "tokenledgerd: TOKENLEDGER_WRITER_FLUSH_MS must be 0 to 1000\n";
      return 2;
    }
  }
  if (flush_ms > 1000) {
    std::cerr << "tokenledgerd: --writer-flush-ms must be 0 to 1000\n";
    return 2;
  }
  config.writer.deferred_flush_interval = absl::Milliseconds(flush_ms);
  int64_t queue_max = absl::GetFlag(FLAGS_write_queue_max);
  if (const char* env = std::getenv("TOKENLEDGER_WRITE_QUEUE_MAX");
      env != nullptr && queue_max == 200000 && !absl::SimpleAtoi(env, &queue_max)) {
    queue_max = -1;
  }
  if (queue_max < 1 || queue_max > 100'000'000) {
    std::cerr << "tokenledgerd: --write-queue-max must be 1 to 100000000\n";
    return 2;
  }
  config.writer.queue_mutations_max = static_cast<size_t>(queue_max);
  if (config.database_url.empty()) {
    std::cerr << "tokenledgerd: --database-url (or TOKENLEDGER_DATABASE_URL) is required\n";
    return 2;
  }

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
