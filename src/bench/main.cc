// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// tokenledger-bench's command line: the flags (the only place they are read) into a Config for a
// Bench (bench.h), and the internal modes scripts/bench.sh and the bench itself start it in
// (--print_free_port, --serve_floor).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/bench.h"
#include "bench/floor_server.h"
#include "bench/proc.h"
#include "util/flag_args.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7443", "the tokenledgerd to drive, HOST:PORT");
ABSL_FLAG(std::string, operator_key, "",
          "the daemon's operator key (else --operator_key_file, else env "
          "TOKENLEDGER_OPERATOR_KEY)");
ABSL_FLAG(std::string, operator_key_file, "", "file holding the operator key");
ABSL_FLAG(std::string, database_url, "",
          "the daemon's PostgreSQL URL (env TOKENLEDGER_DATABASE_URL): for the naive reference "
          "and the big tenant; without it those phases are skipped");
ABSL_FLAG(int, accounts, 10000, "accounts of the benchmark tenant");
ABSL_FLAG(double, duration, 5, "measured seconds per run");
ABSL_FLAG(double, warmup, 0.5, "seconds run before each measured window, not measured");
ABSL_FLAG(std::string, concurrency, "1,8,64", "calls in flight, a comma list");
ABSL_FLAG(int64_t, big_accounts, 1000000, "accounts of the start-up and memory phase (0 skips it)");
ABSL_FLAG(int64_t, big_closed_holds, 1000000,
          "holds closed in the last 30 minutes added to the big tenant for a second start (0 skips "
          "it)");
ABSL_FLAG(int64_t, reset_accounts, 100000,
          "accounts whose monthly reset a fresh daemon performs in the resets phase (0 skips it)");
ABSL_FLAG(std::string, tokenledgerd, "",
          "the daemon binary for the start-up phase (default: next to this binary)");
ABSL_FLAG(std::string, phases, "all",
          "comma list of: setup, debit (or writer), gateway, hot, naive, big, resets, floor, "
          "authorize, check; or all");
ABSL_FLAG(std::string, json, "", "also write the results as JSON to this file");
ABSL_FLAG(double, call_timeout, 30, "deadline of each call, seconds");
ABSL_FLAG(int, serve_floor, 0, "internal: serve the empty floor service on 127.0.0.1:PORT");
ABSL_FLAG(bool, print_free_port, false, "internal: print a free TCP port and exit");

namespace tokenledger::bench {
namespace {

std::string ReadKey(const std::string& flag, const std::string& file) {
  if (!flag.empty()) return flag;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      std::fprintf(stderr, "bench: cannot read %s\n", file.c_str());
      std::exit(2);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return std::string(absl::StripAsciiWhitespace(ss.str()));
  }
  if (const char* v = std::getenv("TOKENLEDGER_OPERATOR_KEY"); v != nullptr) {
    return std::string(absl::StripAsciiWhitespace(v));
  }
  return "";
}

// The --concurrency list, without repeats, in the order given; false (and a message): a bad one.
bool ParseConcurrency(const std::string& flag, std::vector<int>* out) {
  for (absl::string_view part : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    int n = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &n) || n < 1 || n > 4096) {
      std::fprintf(stderr, "tokenledger-bench: bad --concurrency entry '%s'\n",
                   std::string(part).c_str());
      return false;
    }
    if (std::find(out->begin(), out->end(), n) == out->end()) out->push_back(n);
  }
  if (out->empty()) {
    std::fprintf(stderr, "tokenledger-bench: --concurrency is empty\n");
    return false;
  }
  return true;
}

// The --phases list ("all", "writer" for debit), with setup added when a phase needs its
// tenant; false (and a message): an unknown phase.
bool ParsePhases(const std::string& flag, std::set<std::string>* phases) {
  const std::set<std::string> known(std::begin(kPhaseOrder), std::end(kPhaseOrder));
  for (absl::string_view part : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    std::string p = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    if (p == "all") {
      phases->insert(known.begin(), known.end());
    } else if (p == "writer") {
      phases->insert("debit");
    } else if (known.count(p)) {
      phases->insert(p);
    } else {
      std::fprintf(stderr, "tokenledger-bench: unknown phase '%s'\n", p.c_str());
      return false;
    }
  }
  for (const char* p : {"debit", "gateway", "hot", "authorize", "check"}) {
    if (phases->count(p)) phases->insert("setup");
  }
  return true;
}

// The Config the flags ask for; nullopt (and a message) when they do not make one.
std::optional<Config> ConfigFromFlags() {
  Config c;
  c.target = absl::GetFlag(FLAGS_target);
  c.operator_key =
      ReadKey(absl::GetFlag(FLAGS_operator_key), absl::GetFlag(FLAGS_operator_key_file));
  c.database_url = absl::GetFlag(FLAGS_database_url);
  if (c.database_url.empty()) {
    if (const char* v = std::getenv("TOKENLEDGER_DATABASE_URL"); v != nullptr) c.database_url = v;
  }
  c.accounts = absl::GetFlag(FLAGS_accounts);
  c.duration = absl::Seconds(absl::GetFlag(FLAGS_duration));
  c.warmup = absl::Seconds(std::max(0.0, absl::GetFlag(FLAGS_warmup)));
  c.call_timeout = absl::Seconds(absl::GetFlag(FLAGS_call_timeout));
  c.big_accounts = absl::GetFlag(FLAGS_big_accounts);
  c.big_closed_holds = absl::GetFlag(FLAGS_big_closed_holds);
  c.reset_accounts = absl::GetFlag(FLAGS_reset_accounts);
  if (c.accounts < 1 || absl::GetFlag(FLAGS_duration) <= 0 ||
      c.call_timeout <= absl::ZeroDuration()) {
    std::fprintf(stderr,
                 "tokenledger-bench: --accounts, --duration and --call_timeout must be "
                 "positive\n");
    return std::nullopt;
  }
  if (!ParseConcurrency(absl::GetFlag(FLAGS_concurrency), &c.concurrency)) return std::nullopt;
  c.tokenledgerd = absl::GetFlag(FLAGS_tokenledgerd);
  if (c.tokenledgerd.empty()) {
    std::string self = SelfExePath();
    c.tokenledgerd = self.substr(0, self.rfind('/') + 1) + "tokenledgerd";
  }
  if (!ParsePhases(absl::GetFlag(FLAGS_phases), &c.phases)) return std::nullopt;
  c.json = absl::GetFlag(FLAGS_json);
  return c;
}

}  // namespace
}  // namespace tokenledger::bench

int main(int argc, char** argv) {
  // As in tokenledgerd (see there): the load generator and the floor server are measured without
  // abseil's debug-build deadlock detector too.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "tokenledger-bench: load and reference figures of a running tokenledgerd.\n"
      "  tokenledger-bench --target 127.0.0.1:7443 --database_url URL "
      "[--duration 5] [--concurrency 1,8,64] [--phases all] [--json out.json]\n"
      "  The operator key comes from --operator_key, --operator_key_file or "
      "TOKENLEDGER_OPERATOR_KEY.");
  // Flags may be spelled with dashes too (--big-accounts); abseil wants underscores.
  std::vector<std::string> args;
  std::vector<char*> fixed = tokenledger::UnderscoreFlagNames(argc, argv, args);
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(fixed.size()), fixed.data());
  if (rest.size() > 1) {
    std::fprintf(stderr, "tokenledger-bench: unexpected argument '%s'\n", rest[1]);
    return 2;
  }
  using tokenledger::bench::Config;
  if (absl::GetFlag(FLAGS_print_free_port)) {
    std::printf("%d\n", tokenledger::bench::FreePort());
    return 0;
  }
  if (const int port = absl::GetFlag(FLAGS_serve_floor); port > 0) {
    return tokenledger::bench::ServeFloor(port);
  }

  tokenledger::bench::KillChildrenOnSignals();
  std::optional<Config> c = tokenledger::bench::ConfigFromFlags();
  if (!c.has_value()) return 2;
  tokenledger::bench::Bench bench(std::move(*c));
  return bench.Run();
}
