// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The daemon's configuration loader: command line, environment, TOML file, defaults.
#include "server/config.h"

#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenledger {
namespace {

using ::testing::HasSubstr;

// Unique per process: ctest runs the test cases of this file at once, in processes of their own.
std::string WriteFile(const std::string& name, const std::string& content) {
  static int next = 0;
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/config_test_", getpid(), "_", next++, "_", name);
  std::ofstream(path) << content;
  return path;
}

absl::StatusOr<LoadedConfig> Load(const std::vector<std::string>& args,
                                  const Environment& env = {}) {
  return LoadConfig(args, env);
}

const std::string kDb = "postgresql://postgres@127.0.0.1:5432/tokenledger";

TEST(ConfigTest, DefaultsNeedOnlyADatabase) {
  auto c = Load({"--database-url", kDb});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->action, LoadedConfig::Action::kRun);
  const ServerConfig& s = c->server;
  EXPECT_EQ(s.database_url, kDb);
  EXPECT_EQ(s.listen, "127.0.0.1:7443");
  EXPECT_EQ(s.metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(s.log_level, "info");
  EXPECT_EQ(s.log_format, "text");
  EXPECT_EQ(s.writer.queue_mutations_max, 200000u);
  EXPECT_EQ(s.writer.deferred_flush_interval, absl::ZeroDuration());
  EXPECT_EQ(s.clock_offset, absl::ZeroDuration());
  EXPECT_EQ(s.lease_ttl, absl::Seconds(5));
  EXPECT_EQ(s.max_inflight_calls, 20000u);
  EXPECT_TRUE(s.operator_key.empty());
  EXPECT_TRUE(s.tls_cert_file.empty());
  EXPECT_TRUE(s.node_id.empty());
  EXPECT_TRUE(c->config_file.empty());
}

TEST(ConfigTest, FlagsTakeDashesOrUnderscoresAndEitherValueForm) {
  auto c = Load({"--database_url=" + kDb, "--metrics-listen", "", "--write_queue_max", "7",
                 "--lease-ttl-seconds=9", "--log-level=debug"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.database_url, kDb);
  EXPECT_EQ(c->server.metrics_listen, "");  // empty: no metrics endpoint
  EXPECT_EQ(c->server.writer.queue_mutations_max, 7u);
  EXPECT_EQ(c->server.lease_ttl, absl::Seconds(9));
  EXPECT_EQ(c->server.log_level, "debug");
  // The last of a repeated flag wins.
  c = Load({"--database-url", kDb, "--listen", "a:1", "--listen", "b:2"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.listen, "b:2");
}

TEST(ConfigTest, PrecedenceIsFlagThenEnvironmentThenFileThenDefault) {
  const std::string file = WriteFile("precedence.toml",
                                     "# settings\n"
                                     "database_url = \"postgresql://from-file/tl\"\n"
                                     "listen = \"file:1\"\n"
                                     "write-queue-max = 10\n"
                                     "max_inflight_calls = 11\n"
                                     "log_level = \"warn\"\n");
  const Environment env = {{"TOKENLEDGER_CONFIG", file},
                           {"TOKENLEDGER_LISTEN", "env:2"},
                           {"TOKENLEDGER_WRITE_QUEUE_MAX", "20"},
                           {"TOKENLEDGER_NOT_A_FLAG", "ignored"}};
  auto c = Load({"--write-queue-max", "30"}, env);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config_file, file);
  EXPECT_EQ(c->server.writer.queue_mutations_max, 30u);  // flag > environment > file
  EXPECT_EQ(c->server.listen, "env:2");                  // environment > file
  EXPECT_EQ(c->server.max_inflight_calls, 11u);          // file > default
  EXPECT_EQ(c->server.database_url, "postgresql://from-file/tl");
  EXPECT_EQ(c->server.log_level, "warn");
  EXPECT_EQ(c->server.lease_ttl, absl::Seconds(5));  // default

  // --config beats TOKENLEDGER_CONFIG.
  const std::string other = WriteFile("other.toml", "database_url = \"postgresql://other/tl\"\n");
  c = Load({"--config", other}, env);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config_file, other);
  EXPECT_EQ(c->server.database_url, "postgresql://other/tl");
  EXPECT_EQ(c->server.max_inflight_calls, 20000u);
}

TEST(ConfigTest, AVariableSetToTheEmptyStringCounts) {
  auto c = Load({"--database-url", kDb}, {{"TOKENLEDGER_METRICS_LISTEN", ""}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.metrics_listen, "");
}

// One sample value per flag, and where it lands in ServerConfig. A flag added to the table and
// not here fails the test below.
struct Sample {
  std::string text;
  bool integer = false;
  std::string expected;  // what `get` returns; `text` when empty
  std::function<std::string(const ServerConfig&)> get;
  std::vector<std::string> companions = {};  // flags this one needs
};

std::map<std::string, Sample> Samples() {
  const std::string key_file =
      WriteFile("operator.key", "  tlo_0123456789abcdef0123456789abcdef\n");
  const std::vector<std::string> pair = {"--tls-cert", "/c.pem", "--tls-key", "/k.pem"};
  return {
      {"listen", {"10.0.0.1:7000", false, "", [](auto& c) { return c.listen; }}},
      {"database-url", {"postgresql://x/y", false, "", [](auto& c) { return c.database_url; }}},
      {"operator-key-file",
       {key_file, false, "tlo_0123456789abcdef0123456789abcdef",
        [](auto& c) { return c.operator_key; }}},
      {"migrations-dir", {"/m", false, "", [](auto& c) { return c.migrations_dir; }}},
      {"writer-flush-ms",
       {"7", true, "",
        [](auto& c) {
          return absl::StrCat(absl::ToInt64Milliseconds(c.writer.deferred_flush_interval));
        }}},
      {"hold-journal-delay-ms",
       {"250", true, "",
        [](auto& c) {
          return absl::StrCat(absl::ToInt64Milliseconds(c.engine.hold_journal_delay));
        }}},
      {"write-queue-max",
       {"1234", true, "", [](auto& c) { return absl::StrCat(c.writer.queue_mutations_max); }}},
      {"clock-offset-seconds",
       {"-60", true, "",
        [](auto& c) { return absl::StrCat(absl::ToInt64Seconds(c.clock_offset)); }}},
      {"log-level", {"debug", false, "", [](auto& c) { return c.log_level; }}},
      {"log-format", {"json", false, "", [](auto& c) { return c.log_format; }}},
      {"metrics-listen", {"0.0.0.0:9999", false, "", [](auto& c) { return c.metrics_listen; }}},
      {"tls-cert",
       {"/cert.pem", false, "", [](auto& c) { return c.tls_cert_file; }, {"--tls-key", "/k.pem"}}},
      {"tls-key",
       {"/key.pem", false, "", [](auto& c) { return c.tls_key_file; }, {"--tls-cert", "/c.pem"}}},
      {"tls-client-ca", {"/ca.pem", false, "", [](auto& c) { return c.tls_client_ca_file; }, pair}},
      {"node-id", {"node-a", false, "", [](auto& c) { return c.node_id; }}},
      {"advertise-address",
       {"10.0.0.1:7443", false, "", [](auto& c) { return c.advertise_address; }}},
      {"lease-ttl-seconds",
       {"30", true, "", [](auto& c) { return absl::StrCat(absl::ToInt64Seconds(c.lease_ttl)); }}},
      {"max-inflight-calls",
       {"500", true, "", [](auto& c) { return absl::StrCat(c.max_inflight_calls); }}},
  };
}

std::string EnvName(const std::string& flag) {
  return absl::AsciiStrToUpper(
      absl::StrCat("TOKENLEDGER_", absl::StrReplaceAll(flag, {{"-", "_"}})));
}

TEST(ConfigTest, EveryFlagWorksFromTheCommandLineTheEnvironmentAndTheFile) {
  const auto samples = Samples();
  const std::vector<std::string> flags = FlagNames();
  std::set<std::string> names(flags.begin(), flags.end());
  names.erase("config");
  std::set<std::string> sampled;
  for (const auto& [name, s] : samples) sampled.insert(name);
  EXPECT_EQ(names, sampled) << "every flag needs a sample here";

  for (const auto& [name, s] : samples) {
    std::vector<std::string> base = s.companions;
    if (name != "database-url") base.insert(base.end(), {"--database-url", kDb});
    const std::string want = s.expected.empty() ? s.text : s.expected;
    const std::string value = s.integer ? s.text : absl::StrCat("\"", s.text, "\"");
    const std::string snake = absl::StrReplaceAll(name, {{"-", "_"}});

    std::vector<std::string> args = base;
    args.insert(args.end(), {"--" + name, s.text});
    auto by_flag = Load(args);
    ASSERT_TRUE(by_flag.ok()) << name << ": " << by_flag.status();
    EXPECT_EQ(s.get(by_flag->server), want) << "--" << name;

    auto by_env = Load(base, {{EnvName(name), s.text}});
    ASSERT_TRUE(by_env.ok()) << name << ": " << by_env.status();
    EXPECT_EQ(s.get(by_env->server), want) << EnvName(name);

    for (const std::string& key : {snake, name}) {
      args = base;
      args.insert(args.end(), {"--config", WriteFile("sample.toml", key + " = " + value + "\n")});
      auto by_file = Load(args);
      ASSERT_TRUE(by_file.ok()) << key << ": " << by_file.status();
      EXPECT_EQ(s.get(by_file->server), want) << "file key " << key;
    }
  }
}

struct BadCase {
  std::vector<std::string> args;
  Environment env;
  std::string file;  // TOML content given with --config, when not empty
  std::vector<std::string> named;
};

TEST(ConfigTest, EveryErrorNamesItsKey) {
  const std::string short_key = WriteFile("short.key", "tooshort\n");
  const std::vector<BadCase> cases = {
      {{"--write-queue-max", "0"}, {}, "", {"--write-queue-max", "from 1 to 100000000"}},
      {{"--write-queue-max", "lots"}, {}, "", {"--write-queue-max", "integer", "lots"}},
      {{},
       {{"TOKENLEDGER_LEASE_TTL_SECONDS", "301"}},
       "",
       {"TOKENLEDGER_LEASE_TTL_SECONDS", "300"}},
      {{}, {{"TOKENLEDGER_MAX_INFLIGHT_CALLS", "x"}}, "", {"TOKENLEDGER_MAX_INFLIGHT_CALLS"}},
      {{}, {{"TOKENLEDGER_WRITER_FLUSH_MS", "1001"}}, "", {"TOKENLEDGER_WRITER_FLUSH_MS"}},
      {{}, {{"TOKENLEDGER_LOG_LEVEL", "loud"}}, "", {"TOKENLEDGER_LOG_LEVEL", "debug"}},
      {{"--log-format", "xml"}, {}, "", {"--log-format", "text or json"}},
      {{"--metrics-listen", "localhost"}, {}, "", {"--metrics-listen", "HOST:PORT"}},
      {{"--metrics-listen", "127.0.0.1:70000"}, {}, "", {"--metrics-listen", "65535"}},
      {{"--node-id", "a b"}, {}, "", {"--node-id"}},
      {{"--no-such-flag", "1"}, {}, "", {"--no-such-flag"}},
      {{"--listen"}, {}, "", {"--listen", "needs a value"}},
      {{"stray"}, {}, "", {"'stray'"}},
      {{"--database-url", ""}, {}, "", {"--database-url", "empty"}},
      {{}, {}, "write_queue_max = \"many\"\n", {"sample.toml:1:1: write_queue_max", "integer"}},
      {{}, {}, "listen = 7443\n", {"listen", "must be a string"}},
      {{}, {}, "log_level = [\"info\"]\n", {"log_level", "must be a string"}},
      {{}, {}, "lease-ttl-seconds = 0\n", {"lease-ttl-seconds", "from 1 to 300"}},
      {{}, {}, "# ok\nlisten = \"a:1\"\ncolour = \"blue\"\n", {"sample.toml:3:1", "'colour'"}},
      {{}, {}, "listen = \"a:1\"\nnode_id = \n", {"sample.toml:2:", "TOML"}},
      {{}, {}, "node_id = \"a\"\nnode-id = \"b\"\n", {"node_id", "twice"}},
      {{}, {}, "[server]\nlisten = \"a:1\"\n", {"'server'"}},
      {{"--config", "/nonexistent/tl.toml"}, {}, "", {"--config", "cannot read"}},
      {{}, {{"TOKENLEDGER_CONFIG", "/nonexistent/tl.toml"}}, "", {"TOKENLEDGER_CONFIG"}},
      {{"--tls-cert", "/c.pem"}, {}, "", {"tls-cert", "tls-key"}},
      {{"--tls-key", "/k.pem"}, {}, "", {"tls-key", "tls-cert"}},
      {{"--tls-client-ca", "/ca.pem"}, {}, "", {"tls-client-ca"}},
      {{"--operator-key-file", short_key}, {}, "", {"--operator-key-file", "32"}},
      {{"--operator-key-file", "/nonexistent/key"}, {}, "", {"--operator-key-file", "cannot read"}},
      {{}, {{"TOKENLEDGER_OPERATOR_KEY", "short"}}, "", {"TOKENLEDGER_OPERATOR_KEY", "32"}},
      {{},
       {{"TOKENLEDGER_OPERATOR_KEY", std::string(40, 'k')},
        {"TOKENLEDGER_OPERATOR_KEY_FILE", short_key}},
       "",
       {"TOKENLEDGER_OPERATOR_KEY"}},
  };
  for (const BadCase& bad : cases) {
    std::vector<std::string> args = {"--database-url", kDb};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    if (!bad.file.empty())
      args.insert(args.end(), {"--config", WriteFile("sample.toml", bad.file)});
    auto c = Load(args, bad.env);
    ASSERT_FALSE(c.ok()) << "accepted: " << ::testing::PrintToString(bad.args) << bad.file;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    for (const std::string& n : bad.named) {
      EXPECT_THAT(std::string(c.status().message()), HasSubstr(n));
    }
  }
  // Without any database.
  auto c = Load({});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("database-url: required"));
}

TEST(ConfigTest, TheOperatorKeyComesFromItsFileOrTheEnvironment) {
  const std::string key_a = "tlo_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  const std::string key_b = "tlo_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  const std::string file_a = WriteFile("a.key", key_a + "\n");
  const std::string file_b = WriteFile("b.key", key_b);
  const std::string toml = WriteFile("key.toml", "operator_key_file = \"" + file_b + "\"\n");
  const Environment env_key = {{"TOKENLEDGER_OPERATOR_KEY", " " + key_b + "\n"}};

  auto c = Load({"--database-url", kDb, "--operator-key-file", file_a}, env_key);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.operator_key, key_a);  // the flag's file beats the environment's key
  c = Load({"--database-url", kDb}, env_key);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.operator_key, key_b);  // whitespace stripped
  c = Load({"--database-url", kDb, "--config", toml}, {{"TOKENLEDGER_OPERATOR_KEY", key_a}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.operator_key, key_a);  // the environment beats the file's key file
  c = Load({"--database-url", kDb, "--config", toml});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.operator_key, key_b);
}

TEST(ConfigTest, HelpAndVersion) {
  EXPECT_EQ(Load({"--help"})->action, LoadedConfig::Action::kHelp);
  EXPECT_EQ(Load({"-h"})->action, LoadedConfig::Action::kHelp);
  EXPECT_EQ(Load({"--version"})->action, LoadedConfig::Action::kVersion);
}

TEST(ConfigTest, HelpListsEveryFlagWithItsEnvironmentVariableAndDefault) {
  const std::string help = HelpText();
  for (const std::string& name : FlagNames()) {
    const size_t at = help.find(absl::StrCat("\n  --", name, " "));
    ASSERT_NE(at, std::string::npos) << name;
    // The flag's own entry names its variable and its default.
    const size_t next = help.find("\n  --", at + 1);
    const std::string entry = help.substr(at, next - at);
    EXPECT_THAT(entry, HasSubstr(absl::StrCat("env ", EnvName(name), ";"))) << name;
    EXPECT_THAT(entry, HasSubstr("default: ")) << name;
  }
  EXPECT_THAT(help, HasSubstr("TOKENLEDGER_OPERATOR_KEY holds"));
}

// README.md's flag table is the documentation of this table: it lists every flag and variable.
TEST(ConfigTest, TheReadmeDocumentsEveryFlag) {
  std::ifstream in(absl::StrCat(TOKENLEDGER_SOURCE_DIR, "/README.md"));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  ASSERT_FALSE(readme.empty());
  for (const std::string& name : FlagNames()) {
    EXPECT_NE(readme.find(absl::StrCat("| `--", name)), std::string::npos) << name;
    EXPECT_NE(readme.find(absl::StrCat("`", EnvName(name), "`")), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace tokenledger
