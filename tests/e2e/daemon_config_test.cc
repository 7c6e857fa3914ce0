// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The real tokenledgerd binary and its configuration: --help, bad configuration exits 2 naming
// the key, a config file and the environment reach the daemon, a taken metrics port stops it.
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenledger::testing {
namespace {

using ::testing::HasSubstr;

// Runs tokenledgerd with `env` (NAME=value words) and `args`; returns the exit code.
int RunDaemon(const std::string& env, const std::string& args, std::string* output) {
  return RunCommand(absl::StrCat("env ", env, " ", TOKENLEDGERD_PATH, " ", args), output);
}

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", Unique(name));
  std::ofstream(path) << content;
  return path;
}

TEST(DaemonConfigTest, HelpNamesEveryFlagItsVariableAndDefault) {
  std::string out;
  ASSERT_EQ(RunDaemon("", "--help", &out), 0) << out;
  for (const char* flag :
       {"config", "listen", "database-url", "operator-key-file", "migrations-dir",
        "writer-flush-ms", "write-queue-max", "clock-offset-seconds", "log-level", "log-format",
        "metrics-listen", "tls-cert", "tls-key", "tls-client-ca", "node-id", "advertise-address",
        "lease-ttl-seconds", "max-inflight-calls"}) {
    const std::string env = absl::AsciiStrToUpper(
        absl::StrReplaceAll(absl::StrCat("TOKENLEDGER_", flag), {{"-", "_"}}));
    EXPECT_THAT(out, HasSubstr(absl::StrCat("--", flag, " "))) << flag;
    EXPECT_THAT(out, HasSubstr(absl::StrCat("env ", env, "; default: "))) << flag;
  }
  ASSERT_EQ(RunDaemon("", "--version", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("tokenledgerd "));
}

TEST(DaemonConfigTest, BadConfigurationExitsTwoNamingTheKey) {
  const std::string db = "--database-url postgresql://nobody@127.0.0.1:1/none";
  const std::string unknown = WriteFile("unknown.toml", "listen = \"127.0.0.1:0\"\n\ncolour = 1\n");
  const std::string broken = WriteFile("broken.toml", "listen = \"127.0.0.1:0\"\nlisten =\n");
  const std::string typed = WriteFile("typed.toml", "max_inflight_calls = \"many\"\n");
  struct Case {
    std::string env, args;
    std::vector<std::string> named;
  };
  const std::vector<Case> cases = {
      {"", db + " --write-queue-max 0", {"--write-queue-max", "from 1 to 100000000"}},
      {"TOKENLEDGER_LEASE_TTL_SECONDS=301", db, {"TOKENLEDGER_LEASE_TTL_SECONDS"}},
      {"TOKENLEDGER_WRITER_FLUSH_MS=soon", db, {"TOKENLEDGER_WRITER_FLUSH_MS", "soon"}},
      {"", db + " --no-such-flag 1", {"--no-such-flag"}},
      {"", db + " --log-level loud", {"--log-level"}},
      {"", db + " --metrics-listen nowhere", {"--metrics-listen"}},
      {"", db + " --tls-cert /c.pem", {"tls-cert", "tls-key"}},
      {"", db + " --config " + unknown, {unknown + ":3:1", "'colour'"}},
      {"", db + " --config " + broken, {broken + ":2:"}},
      {"TOKENLEDGER_CONFIG=" + typed, db, {typed + ":1:1: max_inflight_calls", "integer"}},
      {"", "", {"database-url", "required"}},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_EQ(RunDaemon(c.env, c.args, &out), 2) << c.env << " " << c.args << "\n" << out;
    for (const std::string& n : c.named) {
      EXPECT_THAT(out, HasSubstr(n)) << c.env << " " << c.args;
    }
  }
}

TEST(DaemonConfigTest, TheConfigFileAndTheEnvironmentReachTheDaemon) {
  // The file asks for JSON lines; the environment for debug (every call logged); the harness's
  // own flags (listen, database, metrics) beat anything in the file.
  Daemon d;
  d.extra_args = {"--config", WriteFile("daemon.toml",
                                        "log-format = \"json\"\n"
                                        "log_level = \"warn\"\n"
                                        "metrics_listen = \"127.0.0.1:1\"\n"
                                        "write_queue_max = 1000\n")};
  d.extra_env = {{"TOKENLEDGER_LOG_LEVEL", "debug"}};
  d.Start();
  MakeTenant(d);
  EXPECT_EQ(HttpGet(d.metrics_port(), "/readyz").status, 200);
  ASSERT_EQ(d.Terminate(), 0);
  const std::string log = d.ReadLog();
  EXPECT_THAT(log, HasSubstr(R"("level":"debug","msg":"call")"));
  EXPECT_THAT(log, HasSubstr(R"("method":"CreateTenant")"));
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "{\"ts\":\"")) << line;
  }
}

// A second daemon on the ports of a running one fails to start (exit 1) rather than sharing them
// (gRPC and httplib would both set SO_REUSEPORT and split the traffic).
TEST(DaemonConfigTest, TakenPortsStopTheStart) {
  Daemon first;
  first.Start();
  const std::string db = absl::StrCat("--database-url ", TestDatabaseUrl());
  std::string out;
  EXPECT_EQ(RunDaemon("",
                      absl::StrCat(db, " --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:",
                                   first.metrics_port()),
                      &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("(metrics)"));
  EXPECT_EQ(
      RunDaemon("", absl::StrCat(db, " --listen ", first.target(), " --metrics-listen ''"), &out),
      1)
      << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat("cannot listen on ", first.target())));
  EXPECT_EQ(first.Terminate(), 0);
}

}  // namespace
}  // namespace tokenledger::testing
