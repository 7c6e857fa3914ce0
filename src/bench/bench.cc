// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// tokenledger-bench: drives a running tokenledgerd over gRPC (closed loop, N calls in flight on
// several connections) and measures, in the same run, the references its targets are stated
// against (shared/BENCHMARKS.md): the gRPC floor (an empty callback-API server, this very
// binary with --serve_floor) and a naive PostgreSQL ledger on the same database. Then it starts
// fresh daemons to measure the memory per cached account and the start-up time with many
// accounts, and prints a summary of every figure against its target.
//
// Phases, in the order run (--phases selects some; setup is added when a phase needs it):
//   setup      a new tenant with admin, hr and gateway keys; --accounts funded accounts
//   debit      direct durable Debits at each --concurrency and 64, with the writer's figures
//   gateway    Authorize then Debit capturing that hold, at 64
//   hot        every Debit on one account at 64, then a no-lost-update check
//   naive      the naive PostgreSQL ledger, 8 and 64 clients
//   big        memory per account and start-up time with --big_accounts accounts, then start-up
//              again with --big_closed_holds holds closed in the last 30 minutes added
//   resets     a fresh daemon finding the monthly reset of --reset_accounts accounts due at
//              start: how long until all are committed, and Authorize@8 meanwhile vs after
//   floor      the gRPC floor at each --concurrency, each run next to Authorize's
//   authorize  Authorize at each --concurrency (last but Check: its holds expire 60 s later, and
//              the expiry sweep's writes would disturb the durable phases)
//   check      Check at each --concurrency
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load.h"
#include "bench/ops.h"
#include "bench/pgref.h"
#include "bench/proc.h"
#include "bench_floor.grpc.pb.h"
#include "server/flag_args.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

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

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kDebitConcurrency = 64;
constexpr int kGatewayConcurrency = 64;
constexpr int kHotConcurrency = 64;
constexpr int kNaiveThreads[] = {8, 64};
constexpr int64_t kGrant = 1'000'000'000'000;  // per account: never runs out here
const char* const kPhaseOrder[] = {"setup", "debit",  "gateway", "hot",       "naive",
                                   "big",   "resets", "floor",   "authorize", "check"};
// The resets phase: its accounts' policy, the Authorize load beside the resets, and its bounds.
constexpr int64_t kResetAllocation = 1'000'000;
constexpr int64_t kResetRolloverMax = 100'000;
constexpr int kResetLoadAccounts = 1000;
constexpr int kResetConcurrency = 8;
constexpr absl::Duration kResetTimeout = absl::Seconds(300);
constexpr absl::Duration kResetPoll = absl::Milliseconds(100);
constexpr double kResetTargetSeconds = 30;
constexpr double kResetTargetP99Micros = 1000;

// ---- the empty floor server (--serve_floor) ---------------------------------------------------

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

// ---- formatting -------------------------------------------------------------------------------

std::string Num(double v, int decimals = 0) {
  if (std::isnan(v)) return "-";
  return absl::StrFormat("%.*f", decimals, v);
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  if (std::isnan(v) || std::isinf(v)) return "null";
  return absl::StrFormat("%.3f", v);
}

// The 1, 5 and 15 minute load averages: this box is shared, and the figures move with them.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return absl::StrCat(one, " ", five, " ", fifteen);
}

std::string RandomHex(int bytes) {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < bytes; ++i) out += absl::StrFormat("%02x", rd() & 0xff);
  return out;
}

// ---- the benchmark ----------------------------------------------------------------------------

struct Config {
  std::string target;
  std::string operator_key;
  std::string database_url;
  int accounts = 10000;
  absl::Duration duration;
  absl::Duration warmup;
  std::vector<int> concurrency;
  int64_t big_accounts = 0;
  int64_t big_closed_holds = 0;
  int64_t reset_accounts = 0;
  std::string tokenledgerd;
  std::set<std::string> phases;
  std::string json;
  absl::Duration call_timeout;
};

// Writer figures between two GetServerStats.
struct WriterDelta {
  std::string run;
  double seconds = 0;
  uint64_t batches = 0;
  uint64_t mutations = 0;
  uint64_t commit_micros = 0;
  uint64_t failed = 0;
  uint64_t commit_micros_max = 0;  // since the daemon started
  double MeanBatch() const { return batches ? static_cast<double>(mutations) / batches : kNaN; }
  double MeanCommitMicros() const {
    return batches ? static_cast<double>(commit_micros) / batches : kNaN;
  }
};

struct SummaryRow {
  std::string figure, project, reference, ratio, target, status;
};

class Bench {
 public:
  explicit Bench(Config config) : c_(std::move(config)) {}
  int Run();

 private:
  bool Wants(const std::string& phase) const { return c_.phases.count(phase) > 0; }

  // After a bulk tenant is deleted: its dead rows vacuumed now, not by autovacuum during the
  // phases that follow.
  void Vacuum() {
    absl::StatusOr<double> took = VacuumLedgerTables(c_.database_url);
    if (took.ok()) {
      std::fprintf(stderr, "bench: vacuumed the ledger's tables in %.1f s\n", *took);
    } else {
      std::fprintf(stderr, "bench: %s\n", std::string(took.status().message()).c_str());
    }
  }
  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& key) const;
  std::optional<v1::GetServerStatsResponse> Stats(const std::string& target);
  // Leases `tenants` to a node that never runs, before the bench's own daemon serving them is
  // stopped: otherwise the daemon under test, which takes every lease it finds free, takes them
  // over and loads them (seconds of CPU) during the next runs. Their rows are deleted after.
  void Park(const std::vector<std::string>& tenants);
  // Waits (bounded) until the daemon's writer has nothing queued, so that one run's durable
  // work does not spill into the next one's window. `target` empty: the daemon under test.
  void Settle(const std::string& target = "");
  // Starts a tokenledgerd of its own on a free port, logging to LogPath(name), and waits until
  // it is SERVING. Returns the seconds from spawn to SERVING, NaN on failure (*error says why).
  // The daemon's "loaded ..." log lines go to *load_lines, prefixed with `name`.
  // The daemon's --node-id is "tokenledger-bench-<name>".
  double StartDaemon(ChildProcess& child, std::string* target, const std::string& name,
                     std::string* error, std::vector<std::string>* load_lines);
  std::string LogPath(const std::string& name) const {
    return absl::StrCat("/tmp/tokenledger-bench-", run_id_, "-", name, ".log");
  }
  // CreateTenant (timezone UTC) and one key per role, through the daemon under test, with
  // idempotency keys starting with `idem_prefix`. Keys come back in the order of `roles`.
  bool CreateTenantWithKeys(const std::string& tenant_id, const std::string& display_name,
                            const std::string& idem_prefix, const std::vector<std::string>& roles,
                            std::vector<std::string>* keys);
  RunResult Drive(const std::string& key, const std::string& label, int concurrency,
                  const OpFactory& factory, const std::string& target = "");
  void PrintHeader() const;
  void PrintRow(const std::string& label, const RunResult& r) const;
  void Record(const std::string& key, const std::string& label, const RunResult& r);
  WriterDelta Delta(const std::string& run, const v1::GetServerStatsResponse& a,
                    const v1::GetServerStatsResponse& b, double seconds) const;

  bool Setup();
  void DebitPhase();
  void GatewayPhase();
  void HotPhase();
  void NaivePhase();
  void BigPhase();
  void ResetsPhase();
  void FloorAndAuthorizePhase();
  void CheckPhase();
  void Summary();
  void WriteJson() const;

  const RunResult* Find(const std::string& key) const {
    auto it = results_.find(key);
    return it == results_.end() ? nullptr : &it->second;
  }

  Config c_;
  std::string run_id_;
  std::shared_ptr<grpc::Channel> control_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::BudgetService::Stub> budget_;
  std::string tenant_id_;
  std::string admin_key_, hr_key_, gateway_key_;
  OpEnv env_;
  bool stats_available_ = true;

  std::map<std::string, RunResult> results_;
  std::vector<std::pair<std::string, std::string>> order_;  // (key, label) as run
  std::vector<WriterDelta> writer_;
  HoldBatchesSize gateway_batches_at_end_, gateway_batches_after_;
  // hot account
  std::optional<bool> hot_pass_;
  int64_t hot_spent_delta_ = 0;
  uint64_t hot_acked_ = 0;
  // big
  struct Big {
    int64_t accounts = 0;
    double insert_seconds = kNaN, delete_seconds = kNaN;
    double base_start_seconds = kNaN, big_start_seconds = kNaN;
    double base_rss = kNaN, big_rss = kNaN;
    uint64_t base_cached = 0, big_cached = 0;
    // The same tenant with closed holds added, started again.
    int64_t closed_holds = 0;
    double closed_insert_seconds = kNaN, closed_start_seconds = kNaN, closed_rss = kNaN;
    uint64_t closed_cached = 0;
    std::vector<std::string> load_lines;  // from the daemons' logs
    double bytes_per_account = kNaN;
    std::string error;
  } big_;
  // resets
  struct Resets {
    int64_t accounts = 0;
    double insert_seconds = kNaN, delete_seconds = kNaN;
    double start_seconds = kNaN;  // spawn to SERVING
    double reset_seconds = kNaN;  // SERVING to all resets committed (periods rows polled)
    double log_seconds = kNaN;    // the daemon's log: "serving on" to "performed N ..."
    int64_t log_performed = -1;   // the sum of its "performed N period resets" lines
    int64_t committed = 0;        // periods rows of the current period at the end of polling
    bool timed_out = false;
    int polls = 0;
    double poll_ms_mean = kNaN, poll_ms_max = kNaN;
    std::optional<WriterDelta> writer;  // since the daemon started, until all were committed
    uint64_t during_holds = 0;          // Authorize calls acknowledged meanwhile
    std::vector<std::string> load_lines;
    std::string error;
  } resets_;
  std::vector<SummaryRow> summary_;
  std::vector<std::string> notes_;
};

std::unique_ptr<grpc::ClientContext> Bench::Ctx(const std::string& key) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!key.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", key));
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(c_.call_timeout));
  return ctx;
}

std::optional<v1::GetServerStatsResponse> Bench::Stats(const std::string& target) {
  std::shared_ptr<grpc::Channel> ch = target.empty() ? control_ : ProbeChannel(target);
  auto stub = v1::AdminService::NewStub(ch);
  v1::GetServerStatsRequest req;
  v1::GetServerStatsResponse resp;
  const grpc::Status s = stub->GetServerStats(Ctx(c_.operator_key).get(), req, &resp);
  if (!s.ok()) {
    if (target.empty() && stats_available_) {
      stats_available_ = false;
      std::fprintf(stderr, "bench: GetServerStats failed (%s: %s): no writer figures\n",
                   CodeName(s.error_code()).c_str(), s.error_message().c_str());
    }
    return std::nullopt;
  }
  return resp;
}

void Bench::Settle(const std::string& target) {
  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (absl::Now() < until) {
    auto s = Stats(target);
    if (!s.has_value()) {
      absl::SleepFor(absl::Milliseconds(300));
      return;
    }
    if (s->writer_queue_depth() == 0) return;
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::fprintf(stderr, "bench: the writer's queue did not drain in 60 s\n");
}

RunResult Bench::Drive(const std::string& key, const std::string& label, int concurrency,
                       const OpFactory& factory, const std::string& target) {
  RunOptions o;
  o.name = label;
  o.concurrency = concurrency;
  o.warmup = c_.warmup;
  o.duration = c_.duration;
  o.seed = std::hash<std::string>()(run_id_ + key);
  RunResult r = Runner::Run(target.empty() ? c_.target : target, o, factory);
  Record(key, label, r);
  return r;
}

void Bench::PrintHeader() const {
  std::printf("%-26s %9s %11s %9s %9s %9s %9s %8s\n", "run", "in-flight", "per second", "p50 us",
              "p90 us", "p99 us", "p99.9 us", "errors");
  std::fflush(stdout);
}

void Bench::PrintRow(const std::string& label, const RunResult& r) const {
  const Histogram& h = r.latency;
  std::printf("%-26s %9d %11s %9s %9s %9s %9s %8llu\n", label.c_str(), r.concurrency,
              Num(r.OkRate()).c_str(), Num(h.PercentileMicros(0.50)).c_str(),
              Num(h.PercentileMicros(0.90)).c_str(), Num(h.PercentileMicros(0.99)).c_str(),
              Num(h.PercentileMicros(0.999)).c_str(), static_cast<unsigned long long>(r.errors));
  if (r.total_errors > 0) {
    std::printf("%-26s   errors: %s; first: %s\n", "", r.ErrorSummary().c_str(),
                r.first_error.c_str());
  }
  std::fflush(stdout);
}

void Bench::Record(const std::string& key, const std::string& label, const RunResult& r) {
  results_[key] = r;
  order_.emplace_back(key, label);
  PrintRow(label, r);
}

WriterDelta Bench::Delta(const std::string& run, const v1::GetServerStatsResponse& a,
                         const v1::GetServerStatsResponse& b, double seconds) const {
  WriterDelta d;
  d.run = run;
  d.seconds = seconds;
  d.batches = b.writer_batches() - a.writer_batches();
  d.mutations = b.writer_mutations() - a.writer_mutations();
  d.commit_micros = b.writer_commit_micros_total() - a.writer_commit_micros_total();
  d.failed = b.writer_failed_batches() - a.writer_failed_batches();
  d.commit_micros_max = b.writer_commit_micros_max();
  return d;
}

// ---- phases -----------------------------------------------------------------------------------

bool Bench::CreateTenantWithKeys(const std::string& tenant_id, const std::string& display_name,
                                 const std::string& idem_prefix,
                                 const std::vector<std::string>& roles,
                                 std::vector<std::string>* keys) {
  {
    v1::CreateTenantRequest req;
    req.set_tenant_id(tenant_id);
    req.set_display_name(display_name);
    req.set_unit("usd_micros");
    req.set_timezone("UTC");
    req.set_idempotency_key(absl::StrCat(idem_prefix, "-tenant"));
    v1::CreateTenantResponse resp;
    const grpc::Status s = admin_->CreateTenant(Ctx(c_.operator_key).get(), req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "bench: CreateTenant failed: %s: %s\n", CodeName(s.error_code()).c_str(),
                   s.error_message().c_str());
      return false;
    }
  }
  keys->clear();
  for (const std::string& role : roles) {
    v1::CreateApiKeyRequest req;
    req.set_tenant_id(tenant_id);
    req.set_role(role);
    req.set_idempotency_key(absl::StrCat(idem_prefix, "-key-", role));
    v1::CreateApiKeyResponse resp;
    const grpc::Status s = admin_->CreateApiKey(Ctx(c_.operator_key).get(), req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "bench: CreateApiKey %s failed: %s: %s\n", role.c_str(),
                   CodeName(s.error_code()).c_str(), s.error_message().c_str());
      return false;
    }
    keys->push_back(resp.key());
  }
  return true;
}

std::string NodeId(const std::string& daemon_name) {
  return absl::StrCat("tokenledger-bench-", daemon_name);
}

void Bench::Park(const std::vector<std::string>& tenants) {
  if (absl::Status s = LeaseTenantsTo(c_.database_url, tenants, NodeId("parked")); !s.ok()) {
    std::fprintf(stderr, "bench: %s\n", std::string(s.message()).c_str());
  }
}

double Bench::StartDaemon(ChildProcess& child, std::string* target, const std::string& name,
                          std::string* error, std::vector<std::string>* load_lines) {
  *target = absl::StrCat("127.0.0.1:", FreePort());
  const std::string log = LogPath(name);
  const auto t0 = std::chrono::steady_clock::now();
  if (!child.Start({c_.tokenledgerd, "--listen", *target, "--database-url", c_.database_url,
                    "--metrics-listen", "", "--node-id", NodeId(name)},
                   {absl::StrCat("TOKENLEDGER_OPERATOR_KEY=", c_.operator_key)}, log, error)) {
    return kNaN;
  }
  auto channel = ProbeChannel(*target);
  const auto deadline = t0 + std::chrono::seconds(180);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!child.Alive()) {
      *error = absl::StrCat("tokenledgerd (", name, ") exited during start; log ", log);
      std::fprintf(stderr, "bench: %s:\n%s\n", error->c_str(), child.LogTail().c_str());
      return kNaN;
    }
    if (HealthServing(channel.get(), absl::Milliseconds(250))) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // The daemon's own account of its load ("loaded N tenants, M accounts ... in X ms").
      std::istringstream lines(child.LogTail(1 << 16));
      for (std::string line; std::getline(lines, line);) {
        if (line.find("] loaded ") != std::string::npos) {
          load_lines->push_back(absl::StrCat(name, ": ", line.substr(line.find("loaded "))));
        }
      }
      return seconds;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  *error = absl::StrCat("tokenledgerd (", name, ") not SERVING in 180 s; log ", log);
  return kNaN;
}

bool Bench::Setup() {
  std::fprintf(stderr, "bench: setup: tenant, keys and %d accounts...\n", c_.accounts);
  tenant_id_ = absl::StrCat("bench-", run_id_);
  std::vector<std::string> keys;
  if (!CreateTenantWithKeys(tenant_id_, "tokenledger-bench", run_id_, {"admin", "hr", "gateway"},
                            &keys)) {
    return false;
  }
  admin_key_ = keys[0];
  hr_key_ = keys[1];
  gateway_key_ = keys[2];
  env_.gateway_bearer = absl::StrCat("Bearer ", gateway_key_);
  env_.hr_bearer = absl::StrCat("Bearer ", hr_key_);

  RunOptions o;
  o.name = "setup";
  o.concurrency = 64;
  o.max_ops = static_cast<int64_t>(env_.accounts.size()) + 1;  // + the hot account
  o.duration = absl::Seconds(600);                             // the count ends it first
  RunResult r = Runner::Run(c_.target, o, SetupOps(&env_, "s"));
  Record("setup", "setup: account+grant", r);
  if (r.total_errors > 0 || r.total_ok != static_cast<uint64_t>(o.max_ops)) {
    std::fprintf(stderr, "bench: setup failed: %llu of %lld accounts set up; %s\n",
                 static_cast<unsigned long long>(r.total_ok), static_cast<long long>(o.max_ops),
                 r.first_error.c_str());
    return false;
  }
  std::printf("%-26s tenant %s: %d accounts + 1 hot account, each granted %lld\n", "",
              tenant_id_.c_str(), c_.accounts, static_cast<long long>(kGrant));
  return true;
}

void Bench::DebitPhase() {
  std::set<int> levels(c_.concurrency.begin(), c_.concurrency.end());
  levels.insert(kDebitConcurrency);
  for (int n : levels) {
    Settle();
    auto before = Stats("");
    const std::string key = absl::StrCat("debit@", n);
    RunResult r = Drive(key, absl::StrCat("Debit (durable)"), n,
                        DebitOps(&env_, absl::StrCat("d", n), /*hot=*/false));
    Settle();  // what the run queued is committed before the figures are read
    auto after = Stats("");
    if (before && after) writer_.push_back(Delta(key, *before, *after, r.seconds));
  }
}

void Bench::GatewayPhase() {
  Settle();
  auto before = Stats("");
  RunResult r = Drive("gateway@64", "gateway cycle (Auth+Debit)", kGatewayConcurrency,
                      GatewayCycleOps(&env_, "g"));
  Settle();
  auto after = Stats("");
  if (before && after) writer_.push_back(Delta("gateway@64", *before, *after, r.seconds));
  if (c_.database_url.empty()) return;
  // Every hold of the run was captured: once their segments are sealed and dropped (a sweep a
  // second), the store keeps no record of them but their closing rows.
  auto kept = [&](const char* when) {
    absl::StatusOr<HoldBatchesSize> size = HoldBatchesOf(c_.database_url, tenant_id_);
    if (!size.ok()) {
      notes_.push_back(absl::StrCat("gateway: ", size.status().message()));
      return HoldBatchesSize{-1, -1};
    }
    std::printf("%-26s %s: %lld rows, %lld bytes (the run captured %lld holds)\n",
                "  open-hold records", when, static_cast<long long>(size->rows),
                static_cast<long long>(size->bytes), static_cast<long long>(r.total_ok));
    return *size;
  };
  gateway_batches_at_end_ = kept("at the end of the run");
  absl::SleepFor(absl::Seconds(3));
  gateway_batches_after_ = kept("3 s later");
}

void Bench::HotPhase() {
  Settle();
  auto balance = [&](int64_t* spent) {
    v1::GetBalanceRequest req;
    req.set_account_id(env_.hot_account);
    v1::Balance resp;
    const grpc::Status s = budget_->GetBalance(Ctx(hr_key_).get(), req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "bench: GetBalance %s failed: %s: %s\n", env_.hot_account.c_str(),
                   CodeName(s.error_code()).c_str(), s.error_message().c_str());
      return false;
    }
    *spent = resp.spent();
    return true;
  };
  int64_t spent0 = 0, spent1 = 0;
  const bool got0 = balance(&spent0);
  auto before = Stats("");
  RunResult r = Drive("hot@64", "Debit, one hot account", kHotConcurrency,
                      DebitOps(&env_, "h", /*hot=*/true));
  Settle();
  auto after = Stats("");
  if (before && after) writer_.push_back(Delta("hot@64", *before, *after, r.seconds));
  const bool got1 = balance(&spent1);
  if (!got0 || !got1) {
    std::printf("%-26s no-lost-update check: could not read the balance: FAIL\n", "");
    hot_pass_ = false;
    return;
  }
  hot_acked_ = r.total_ok;
  hot_spent_delta_ = spent1 - spent0;
  hot_pass_ = hot_spent_delta_ == static_cast<int64_t>(hot_acked_);
  std::printf("%-26s no-lost-update check: %llu debits acknowledged, spent grew by %lld: %s\n", "",
              static_cast<unsigned long long>(hot_acked_), static_cast<long long>(hot_spent_delta_),
              *hot_pass_ ? "PASS" : "FAIL");
  if (!*hot_pass_ && r.total_errors > 0) {
    std::printf(
        "%-26s (%llu debits failed or timed out; one committed after its deadline would "
        "also show here)\n",
        "", static_cast<unsigned long long>(r.total_errors));
  }
  std::fflush(stdout);
}

void Bench::NaivePhase() {
  if (c_.database_url.empty()) {
    notes_.push_back("naive: skipped (no --database_url)");
    std::printf("%-26s skipped: no --database_url\n", "naive PostgreSQL");
    return;
  }
  Settle();
  std::fprintf(stderr, "bench: naive: creating bench_naive_accounts with %d rows...\n",
               c_.accounts);
  if (absl::Status s = NaiveCreate(c_.database_url, c_.accounts); !s.ok()) {
    std::printf("%-26s cannot create its tables: %s\n", "naive PostgreSQL",
                std::string(s.message()).c_str());
    (void)NaiveDrop(c_.database_url);
    return;
  }
  for (int threads : kNaiveThreads) {
    RunResult r = NaiveRun(c_.database_url, c_.accounts, threads, c_.warmup, c_.duration,
                           std::hash<std::string>()(run_id_) + static_cast<uint64_t>(threads));
    Record(absl::StrCat("naive@", threads), "naive PG debit (ref)", r);
  }
  if (absl::Status s = NaiveDrop(c_.database_url); !s.ok()) {
    std::fprintf(stderr, "bench: dropping the naive tables: %s\n",
                 std::string(s.message()).c_str());
  }
}

void Bench::BigPhase() {
  big_.accounts = c_.big_accounts;
  if (c_.big_accounts <= 0) {
    std::printf("%-26s skipped (--big_accounts 0)\n", "start-up and memory");
    return;
  }
  if (c_.database_url.empty()) {
    notes_.push_back("big: skipped (no --database_url)");
    std::printf("%-26s skipped: no --database_url\n", "start-up and memory");
    return;
  }
  if (access(c_.tokenledgerd.c_str(), X_OK) != 0) {
    big_.error = absl::StrCat("no executable tokenledgerd at ", c_.tokenledgerd);
    std::printf("%-26s skipped: %s (--tokenledgerd)\n", "start-up and memory", big_.error.c_str());
    return;
  }
  if (Wants("setup")) Settle();  // the daemon under test is idle while others start
  auto start_daemon = [&](ChildProcess& child, std::string* target, const std::string& name) {
    return StartDaemon(child, target, name, &big_.error, &big_.load_lines);
  };
  // Resident memory once it has settled a moment after start.
  auto rss = [&](ChildProcess& child, const std::string& target, uint64_t* cached) {
    absl::SleepFor(absl::Seconds(1));
    auto stats = Stats(target);
    if (stats.has_value()) {
      *cached = stats->cached_accounts();
      if (stats->resident_memory_bytes() > 0) {
        return static_cast<double>(stats->resident_memory_bytes());
      }
    }
    auto vm = VmRssBytes(child.pid());
    return vm.has_value() ? static_cast<double>(*vm) : kNaN;
  };

  std::fprintf(stderr, "bench: big: baseline daemon...\n");
  {
    ChildProcess base;
    std::string target;
    big_.base_start_seconds = start_daemon(base, &target, "base");
    if (!std::isnan(big_.base_start_seconds)) big_.base_rss = rss(base, target, &big_.base_cached);
    base.Stop();
  }
  if (std::isnan(big_.base_start_seconds)) {
    std::printf("%-26s baseline daemon failed: %s\n", "start-up and memory", big_.error.c_str());
    return;
  }
  const std::string big_tenant = absl::StrCat("bench-big-", run_id_);
  std::fprintf(stderr, "bench: big: inserting %lld accounts into PostgreSQL...\n",
               static_cast<long long>(c_.big_accounts));
  auto inserted = InsertBigTenant(c_.database_url, big_tenant, c_.big_accounts, NodeId("big"));
  if (!inserted.ok()) {
    big_.error = std::string(inserted.status().message());
    std::printf("%-26s %s\n", "start-up and memory", big_.error.c_str());
    (void)DeleteTenantRows(c_.database_url, big_tenant);
    return;
  }
  big_.insert_seconds = *inserted;
  std::fprintf(stderr, "bench: big: starting a daemon over them...\n");
  {
    ChildProcess big;
    std::string target;
    big_.big_start_seconds = start_daemon(big, &target, "big");
    if (!std::isnan(big_.big_start_seconds)) big_.big_rss = rss(big, target, &big_.big_cached);
    Park({big_tenant});
    big.Stop();
  }
  if (c_.big_closed_holds > 0 && big_.error.empty()) {
    std::fprintf(stderr, "bench: big: adding %lld closed holds and starting again...\n",
                 static_cast<long long>(c_.big_closed_holds));
    auto added = InsertClosedHolds(c_.database_url, big_tenant, c_.big_closed_holds);
    if (absl::Status s = LeaseTenantsTo(c_.database_url, {big_tenant}, NodeId("big")); !s.ok()) {
      added = s;
    }
    if (added.ok()) {
      big_.closed_holds = c_.big_closed_holds;
      big_.closed_insert_seconds = *added;
      ChildProcess again;
      std::string target;
      // The same node as before: it takes the big tenant's lease at once.
      big_.closed_start_seconds = start_daemon(again, &target, "big");
      if (!std::isnan(big_.closed_start_seconds)) {
        big_.closed_rss = rss(again, target, &big_.closed_cached);
      }
      Park({big_tenant});
      again.Stop();
    } else {
      big_.error = std::string(added.status().message());
    }
  }
  if (big_.error.empty()) {  // the daemons' logs are kept only when something went wrong
    for (const char* name : {"base", "big"}) std::remove(LogPath(name).c_str());
  }
  auto deleted = DeleteTenantRows(c_.database_url, big_tenant);
  if (deleted.ok()) {
    big_.delete_seconds = *deleted;
  } else {
    std::fprintf(stderr, "bench: %s\n", std::string(deleted.status().message()).c_str());
  }
  Vacuum();
  if (!std::isnan(big_.base_rss) && !std::isnan(big_.big_rss)) {
    big_.bytes_per_account = (big_.big_rss - big_.base_rss) / static_cast<double>(c_.big_accounts);
  }
  const double mib = 1024.0 * 1024.0;
  std::printf("%-26s %lld accounts bulk-inserted in %s s (tenant %s), deleted after in %s s\n",
              "start-up and memory", static_cast<long long>(c_.big_accounts),
              Num(big_.insert_seconds, 1).c_str(), big_tenant.c_str(),
              Num(big_.delete_seconds, 1).c_str());
  std::printf("%-26s baseline daemon: SERVING %s s after spawn, RSS %s MiB, %llu cached accounts\n",
              "", Num(big_.base_start_seconds, 3).c_str(), Num(big_.base_rss / mib, 1).c_str(),
              static_cast<unsigned long long>(big_.base_cached));
  std::printf("%-26s big daemon:      SERVING %s s after spawn, RSS %s MiB, %llu cached accounts\n",
              "", Num(big_.big_start_seconds, 3).c_str(), Num(big_.big_rss / mib, 1).c_str(),
              static_cast<unsigned long long>(big_.big_cached));
  if (big_.closed_holds > 0) {
    std::printf(
        "%-26s with %lld holds closed in the last 30 minutes (inserted in %s s): SERVING %s s "
        "after spawn, RSS %s MiB, %llu cached accounts\n",
        "", static_cast<long long>(big_.closed_holds), Num(big_.closed_insert_seconds, 1).c_str(),
        Num(big_.closed_start_seconds, 3).c_str(), Num(big_.closed_rss / mib, 1).c_str(),
        static_cast<unsigned long long>(big_.closed_cached));
  }
  for (const std::string& line : big_.load_lines) {
    std::printf("%-26s daemon log, %s\n", "", line.c_str());
  }
  std::printf("%-26s memory per cached account: %s bytes\n", "",
              Num(big_.bytes_per_account, 1).c_str());
  if (!big_.error.empty()) std::printf("%-26s error: %s\n", "", big_.error.c_str());
  std::fflush(stdout);
}

// The monthly reset of many accounts at once. A tenant whose every account has last month's
// reset behind it is bulk-inserted; a fresh daemon finds all their resets of this month due at
// start (the catch-up after downtime) and performs them through its group-commit writer. The
// figures: the seconds from SERVING until every reset is committed (its periods rows, polled),
// the writer meanwhile, and Authorize@8 meanwhile (on another tenant of that daemon, created
// beforehand through the daemon under test so that its setup does not compete with the resets)
// against Authorize@8 on the same daemon and accounts once the resets are done.
void Bench::ResetsPhase() {
  const char* const kLabel = "resets";
  const int64_t n = c_.reset_accounts;
  resets_.accounts = n;
  if (n <= 0) {
    std::printf("%-26s skipped (--reset_accounts 0)\n", kLabel);
    return;
  }
  if (c_.database_url.empty()) {
    notes_.push_back("resets: skipped (no --database_url)");
    std::printf("%-26s skipped: no --database_url\n", kLabel);
    return;
  }
  if (access(c_.tokenledgerd.c_str(), X_OK) != 0) {
    resets_.error = absl::StrCat("no executable tokenledgerd at ", c_.tokenledgerd);
    std::printf("%-26s skipped: %s (--tokenledgerd)\n", kLabel, resets_.error.c_str());
    return;
  }
  if (!ConnectAll({control_}, absl::Seconds(10))) {
    resets_.error = absl::StrCat("cannot connect to ", c_.target,
                                 " (the Authorize tenant is created through it)");
    std::printf("%-26s skipped: %s\n", kLabel, resets_.error.c_str());
    return;
  }
  if (Wants("setup")) Settle();  // the daemon under test is idle while the other one runs

  // This month and the previous one, in UTC (the tenant's timezone).
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::Time now = absl::Now();
  const absl::CivilMonth month = absl::ToCivilMonth(now, utc);
  const int64_t current_us = absl::ToUnixMicros(absl::FromCivil(month, utc));
  const int64_t previous_us = absl::ToUnixMicros(absl::FromCivil(month - 1, utc));
  if (absl::FromCivil(month + 1, utc) - now < kResetTimeout + absl::Minutes(10)) {
    notes_.push_back(
        "resets: run close to the end of a UTC month; a daemon past the boundary would perform "
        "two resets per account");
  }

  // 1. The tenant the Authorize load runs on: keys and funded accounts, through the daemon under
  // test (the daemon started below loads them from the database).
  const std::string load_tenant = absl::StrCat("bench-rsl-", run_id_);
  const std::string reset_tenant = absl::StrCat("bench-rs-", run_id_);
  auto cleanup = [&] {
    auto deleted = DeleteTenantRows(c_.database_url, reset_tenant);
    if (deleted.ok()) {
      resets_.delete_seconds = *deleted;
    } else {
      std::fprintf(stderr, "bench: %s\n", std::string(deleted.status().message()).c_str());
    }
    if (auto d = DeleteTenantRows(c_.database_url, load_tenant); !d.ok()) {
      std::fprintf(stderr, "bench: %s\n", std::string(d.status().message()).c_str());
    }
    Vacuum();
  };
  std::fprintf(stderr, "bench: resets: tenant %s with %d funded accounts for the load...\n",
               load_tenant.c_str(), kResetLoadAccounts);
  OpEnv env;
  env.run_id = run_id_;
  env.call_timeout = c_.call_timeout;
  env.grant_amount = kGrant;
  for (int i = 0; i < kResetLoadAccounts; ++i) env.accounts.push_back(absl::StrCat("acct-", i));
  {
    std::vector<std::string> keys;
    if (!CreateTenantWithKeys(load_tenant, "tokenledger-bench resets load",
                              absl::StrCat(run_id_, "-rsl"), {"hr", "gateway"}, &keys)) {
      resets_.error = "cannot create the Authorize tenant";
      std::printf("%-26s %s\n", kLabel, resets_.error.c_str());
      cleanup();
      return;
    }
    env.hr_bearer = absl::StrCat("Bearer ", keys[0]);
    env.gateway_bearer = absl::StrCat("Bearer ", keys[1]);
    RunOptions o;
    o.name = "resets setup";
    o.concurrency = 64;
    o.max_ops = kResetLoadAccounts;  // tickets beyond the accounts would set up the hot account
    o.duration = absl::Seconds(600);
    const RunResult r = Runner::Run(c_.target, o, SetupOps(&env, "rss"));
    if (r.total_errors > 0 || r.total_ok != static_cast<uint64_t>(kResetLoadAccounts)) {
      resets_.error = absl::StrCat("setting up the Authorize accounts: ", r.total_ok, " of ",
                                   kResetLoadAccounts, "; ", r.first_error);
      std::printf("%-26s %s\n", kLabel, resets_.error.c_str());
      cleanup();
      return;
    }
    Settle();
  }

  // 2. The tenant whose resets are due.
  std::fprintf(stderr, "bench: resets: inserting %lld accounts with a due reset...\n",
               static_cast<long long>(n));
  auto inserted = InsertResetTenant(c_.database_url, reset_tenant, n, previous_us, kResetAllocation,
                                    kResetRolloverMax, NodeId("resets"));
  // The load tenant was made through the daemon under test: it passes to the resets daemon.
  if (inserted.ok()) {
    if (absl::Status s = LeaseTenantsTo(c_.database_url, {load_tenant}, NodeId("resets"));
        !s.ok()) {
      inserted = s;
    }
  }
  if (!inserted.ok()) {
    resets_.error = std::string(inserted.status().message());
    std::printf("%-26s %s\n", kLabel, resets_.error.c_str());
    cleanup();
    return;
  }
  resets_.insert_seconds = *inserted;
  auto counter = PeriodCounter::Open(c_.database_url);
  if (!counter.ok()) {
    resets_.error = std::string(counter.status().message());
    std::printf("%-26s %s\n", kLabel, resets_.error.c_str());
    cleanup();
    return;
  }

  // 3. The daemon, the load from SERVING on, and the periods rows polled until all are there.
  std::fprintf(stderr, "bench: resets: starting a daemon that finds them due...\n");
  ChildProcess daemon;
  std::string target;
  resets_.start_seconds =
      StartDaemon(daemon, &target, "resets", &resets_.error, &resets_.load_lines);
  if (std::isnan(resets_.start_seconds)) {
    std::printf("%-26s daemon failed: %s\n", kLabel, resets_.error.c_str());
    Park({reset_tenant, load_tenant});
    daemon.Stop();
    cleanup();
    return;
  }
  const Clock::time_point serving = Clock::now();
  std::atomic<bool> stop{false};
  RunResult during;
  std::thread load([&] {
    RunOptions o;
    o.name = "Authorize during resets";
    o.concurrency = kResetConcurrency;
    o.warmup = absl::ZeroDuration();  // the resets start with the daemon: all of it is measured
    o.duration = kResetTimeout + absl::Seconds(10);  // `stop` ends it first
    o.seed = std::hash<std::string>()(run_id_ + "resets-during");
    o.stop = &stop;
    during = Runner::Run(target, o, AuthorizeOps(&env, "rd"));
  });
  double poll_ms_total = 0;
  resets_.poll_ms_max = 0;
  Clock::time_point next = serving;
  for (;;) {
    const Clock::time_point q0 = Clock::now();
    absl::StatusOr<int64_t> count = (*counter)->Count(reset_tenant, current_us);
    const Clock::time_point q1 = Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(q1 - q0).count();
    ++resets_.polls;
    poll_ms_total += ms;
    resets_.poll_ms_max = std::max(resets_.poll_ms_max, ms);
    if (!count.ok()) {
      resets_.error = std::string(count.status().message());
      break;
    }
    resets_.committed = *count;
    if (*count >= n) {  // committed before this query's snapshot, after the previous one's
      resets_.reset_seconds = std::chrono::duration<double>(q0 - serving).count();
      break;
    }
    if (!daemon.Alive()) {
      resets_.error = absl::StrCat("the daemon exited during the resets; log ", LogPath("resets"));
      break;
    }
    if (q1 - serving >= absl::ToChronoNanoseconds(kResetTimeout)) {
      resets_.timed_out = true;
      resets_.error = absl::StrCat("only ", *count, " of ", n, " resets committed after ",
                                   absl::FormatDuration(kResetTimeout));
      break;
    }
    next += std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(kResetPoll));
    if (next > q1) std::this_thread::sleep_until(next);
  }
  resets_.poll_ms_mean = poll_ms_total / resets_.polls;
  const std::optional<v1::GetServerStatsResponse> at_done = Stats(target);
  stop.store(true);
  load.join();
  Record("resets-authorize@8-during", "Authorize during resets", during);
  resets_.during_holds = during.total_ok;
  if (at_done.has_value()) {
    const double seconds = std::isnan(resets_.reset_seconds)
                               ? std::chrono::duration<double>(Clock::now() - serving).count()
                               : resets_.reset_seconds;
    resets_.writer = Delta("resets", v1::GetServerStatsResponse(), *at_done, seconds);
    writer_.push_back(*resets_.writer);
  }

  // 4. The reference: the same load on the same daemon, the resets done and committed.
  if (resets_.error.empty()) {
    Settle(target);
    Drive("resets-authorize@8-after", "Authorize after resets", kResetConcurrency,
          AuthorizeOps(&env, "ra"), target);
  }

  // The daemon's own account: "serving on ..." and "performed N period resets" (one line per
  // scheduler run that performed any), each stamped "[YYYY-MM-DD HH:MM:SS.mmm]".
  {
    auto stamp = [](const std::string& line, absl::Time* t) {
      const size_t end = line.find(']');
      if (line.empty() || line[0] != '[' || end == std::string::npos) return false;
      std::string err;
      return absl::ParseTime("%Y-%m-%d %H:%M:%E*S", line.substr(1, end - 1), absl::UTCTimeZone(), t,
                             &err);
    };
    std::optional<absl::Time> serving_at, performed_at;
    int64_t performed = 0;
    bool any = false;
    std::istringstream lines(daemon.LogTail(1 << 22));
    for (std::string line; std::getline(lines, line);) {
      absl::Time t;
      if (line.find("] serving on ") != std::string::npos && stamp(line, &t)) serving_at = t;
      const size_t at = line.find("] performed ");
      if (at != std::string::npos && line.find(" period resets") != std::string::npos) {
        absl::string_view rest = absl::string_view(line).substr(at + 12);
        int64_t k = 0;
        if (absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &k)) {
          performed += k;
          any = true;
          if (stamp(line, &t)) performed_at = t;
        }
      }
    }
    if (any) resets_.log_performed = performed;
    if (serving_at && performed_at && performed >= n) {
      resets_.log_seconds = absl::ToDoubleSeconds(*performed_at - *serving_at);
    }
  }
  Park({reset_tenant, load_tenant});
  const int stop_status = daemon.Stop();
  if (stop_status != 0 && resets_.error.empty()) {
    resets_.error = absl::StrCat("the daemon exited with status ", stop_status, " at stop; log ",
                                 LogPath("resets"));
  }
  if (resets_.error.empty()) std::remove(LogPath("resets").c_str());
  cleanup();

  // The report.
  const std::string month_name = absl::FormatCivilTime(month);
  std::printf(
      "%-26s %lld accounts with a policy and last month's reset done bulk-inserted in %s "
      "s (tenant %s)\n",
      kLabel, static_cast<long long>(n), Num(resets_.insert_seconds, 1).c_str(),
      reset_tenant.c_str());
  std::printf("%-26s daemon: SERVING %s s after spawn\n", "",
              Num(resets_.start_seconds, 3).c_str());
  for (const std::string& line : resets_.load_lines) {
    std::printf("%-26s daemon log, %s\n", "", line.c_str());
  }
  if (!std::isnan(resets_.reset_seconds)) {
    std::printf("%-26s all %lld resets of %s committed %s s after SERVING\n", "",
                static_cast<long long>(n), month_name.c_str(),
                Num(resets_.reset_seconds, 2).c_str());
  } else {
    std::printf("%-26s %lld of %lld resets of %s committed when polling ended\n", "",
                static_cast<long long>(resets_.committed), static_cast<long long>(n),
                month_name.c_str());
  }
  std::printf("%-26s (periods rows polled every %s ms: %d polls, query mean %s ms, max %s ms)\n",
              "", Num(absl::ToDoubleMilliseconds(kResetPoll)).c_str(), resets_.polls,
              Num(resets_.poll_ms_mean, 1).c_str(), Num(resets_.poll_ms_max, 1).c_str());
  if (resets_.log_performed >= 0) {
    std::printf(
        "%-26s daemon log: performed %lld period resets, the last %s s after \"serving on\"\n", "",
        static_cast<long long>(resets_.log_performed), Num(resets_.log_seconds, 3).c_str());
  } else {
    std::printf("%-26s daemon log: no \"performed N period resets\" line\n", "");
  }
  if (resets_.writer.has_value()) {
    const WriterDelta& d = *resets_.writer;
    std::printf(
        "%-26s writer, daemon start until then: %llu batches, %llu mutations (%lld resets "
        "+ %lld others, mostly Authorize holds), mean batch %s, mean commit %s us, max "
        "commit %llu us, %llu failed\n",
        "", static_cast<unsigned long long>(d.batches),
        static_cast<unsigned long long>(d.mutations), static_cast<long long>(n),
        static_cast<long long>(d.mutations) - static_cast<long long>(n),
        Num(d.MeanBatch(), 1).c_str(), Num(d.MeanCommitMicros()).c_str(),
        static_cast<unsigned long long>(d.commit_micros_max),
        static_cast<unsigned long long>(d.failed));
  }
  if (const RunResult* after = Find("resets-authorize@8-after"); after != nullptr) {
    const Histogram& a = after->latency;
    const Histogram& b = during.latency;
    auto x = [](double p, double q) {
      return q > 0 ? absl::StrCat(Num(p / q, 2), "x") : std::string("-");
    };
    std::printf(
        "%-26s Authorize@8 during vs after: %s/s vs %s/s (%s), p50 %s vs %s us, p99 %s vs %s us "
        "(%s), p99.9 %s vs %s us; %llu calls during\n",
        "", Num(during.OkRate()).c_str(), Num(after->OkRate()).c_str(),
        x(during.OkRate(), after->OkRate()).c_str(), Num(b.PercentileMicros(0.5)).c_str(),
        Num(a.PercentileMicros(0.5)).c_str(), Num(b.PercentileMicros(0.99)).c_str(),
        Num(a.PercentileMicros(0.99)).c_str(),
        x(b.PercentileMicros(0.99), a.PercentileMicros(0.99)).c_str(),
        Num(b.PercentileMicros(0.999)).c_str(), Num(a.PercentileMicros(0.999)).c_str(),
        static_cast<unsigned long long>(b.count()));
  }
  std::printf("%-26s tenants %s and %s deleted after, the resets one in %s s\n", "",
              reset_tenant.c_str(), load_tenant.c_str(), Num(resets_.delete_seconds, 1).c_str());
  if (!resets_.error.empty()) std::printf("%-26s error: %s\n", "", resets_.error.c_str());
  std::fflush(stdout);
}

// The floor and Authorize, interleaved per concurrency (floor@1, Authorize@1, floor@8, ...): on a
// shared box the background load drifts, and a ratio is only fair between neighbours in time.
void Bench::FloorAndAuthorizePhase() {
  ChildProcess floor;
  std::string floor_target;
  const std::string log = absl::StrCat("/tmp/tokenledger-bench-", run_id_, "-floor.log");
  if (Wants("floor")) {
    const int port = FreePort();
    floor_target = absl::StrCat("127.0.0.1:", port);
    std::string error;
    if (!floor.Start({SelfExePath(), "--serve_floor", absl::StrCat(port)}, {}, log, &error)) {
      std::printf("%-26s cannot start: %s\n", "gRPC floor", error.c_str());
      floor_target.clear();
    } else if (!ProbeChannel(floor_target)
                    ->WaitForConnected(std::chrono::system_clock::now() +
                                       std::chrono::seconds(10))) {
      std::printf("%-26s not listening after 10 s; log %s\n", "gRPC floor", log.c_str());
      floor.Stop();
      floor_target.clear();
    }
  }
  // The floor's calls carry an authorization header like the daemon's (HPACK sends it once per
  // connection, then as an index: it costs next to nothing, but the comparison stays even).
  OpEnv floor_env = env_;
  if (floor_env.gateway_bearer.empty()) floor_env.gateway_bearer = "Bearer " + std::string(68, 'x');
  if (floor_env.accounts.empty()) floor_env.accounts = {"acct-0"};
  for (int n : c_.concurrency) {
    if (Wants("authorize")) Settle();  // the previous Authorize's holds are committed first
    if (!floor_target.empty()) {
      Drive(absl::StrCat("floor@", n), "gRPC floor (ref)", n, FloorOps(&floor_env), floor_target);
    }
    if (Wants("authorize")) {
      auto before = Stats("");
      const std::string key = absl::StrCat("authorize@", n);
      RunResult r = Drive(key, "Authorize", n, AuthorizeOps(&env_, absl::StrCat("a", n)));
      Settle();  // its holds are journaled too
      auto after = Stats("");
      if (before && after) writer_.push_back(Delta(key, *before, *after, r.seconds));
    }
  }
  if (floor.Alive()) {
    floor.Stop(absl::Seconds(5));
    std::remove(log.c_str());
  }
}

void Bench::CheckPhase() {
  for (int n : c_.concurrency) {
    Settle();
    Drive(absl::StrCat("check@", n), "Check", n, CheckOps(&env_));
  }
}

// ---- summary ----------------------------------------------------------------------------------

void Bench::Summary() {
  auto rate = [&](const std::string& key) {
    const RunResult* r = Find(key);
    return r ? r->OkRate() : kNaN;
  };
  auto p99 = [&](const std::string& key) {
    const RunResult* r = Find(key);
    return r && r->latency.count() > 0 ? r->latency.PercentileMicros(0.99) : kNaN;
  };
  // nullopt: a reference the target needs was not measured.
  auto status = [](double project, std::optional<bool> ok) -> std::string {
    if (std::isnan(project) || !ok.has_value()) return "n/a";
    return *ok ? "MET" : "NOT MET";
  };
  auto given = [](double reference, bool ok) -> std::optional<bool> {
    if (std::isnan(reference)) return std::nullopt;
    return ok;
  };
  auto ratio = [](double a, double b) {
    return std::isnan(a) || std::isnan(b) || b == 0 ? std::string("-")
                                                    : absl::StrCat(Num(a / b, 2), "x");
  };
  auto add = [&](std::string figure, double project, std::string unit, double reference,
                 std::string ref_label, std::string target, std::optional<bool> ok) {
    summary_.push_back(SummaryRow{
        std::move(figure), std::isnan(project) ? "-" : absl::StrCat(Num(project), " ", unit),
        std::isnan(reference) ? "-" : absl::StrCat(Num(reference), " ", ref_label),
        ratio(project, reference), std::move(target), status(project, ok)});
  };

  const double az8 = rate("authorize@8"), fl8 = rate("floor@8");
  add("Authorize@8 throughput", az8, "/s", fl8, "/s floor@8", ">= 0.80x floor",
      given(fl8, az8 >= 0.8 * fl8));
  add("Authorize@8 p99", p99("authorize@8"), "us", p99("floor@8"), "us floor@8", "< 1000 us",
      p99("authorize@8") < 1000);
  const double fl1p99 = p99("floor@1");
  add("Authorize@1 p99", p99("authorize@1"), "us", fl1p99, "us floor@1",
      std::isnan(fl1p99) ? "<= floor p99 + 100 us"
                         : absl::StrCat("<= ", Num(fl1p99 + 100), " us (floor + 100)"),
      given(fl1p99, p99("authorize@1") <= fl1p99 + 100));
  const double d64 = rate("debit@64"), n64 = rate("naive@64");
  add("Debit@64 throughput", d64, "/s", n64, "/s naive@64", ">= 25000/s", d64 >= 25000);
  add("Debit@64 vs naive@64", d64, "/s", n64, "/s naive@64", ">= 4.00x naive",
      given(n64, d64 >= 4 * n64));
  add("Debit@64 p99", p99("debit@64"), "us", p99("naive@64"), "us naive@64", "< 15000 us",
      p99("debit@64") < 15000);
  const double gw = rate("gateway@64");
  add("gateway cycle@64", gw, "cycles/s", n64, "/s naive@64", ">= 10000/s", gw >= 10000);
  const double hot = rate("hot@64");
  add("hot account Debit@64", hot, "/s", d64, "/s Debit@64", ">= 0.50x Debit@64, no lost update",
      given(d64, hot >= 0.5 * d64 && hot_pass_.value_or(false)));
  add("memory per cached account", big_.bytes_per_account, "B", kNaN, "", "<= 256 B",
      big_.bytes_per_account <= 256);
  add(absl::StrCat("start with ", c_.big_accounts, " accounts"), big_.big_start_seconds, "s",
      big_.base_start_seconds, "s baseline", "<= 5 s (at 1000000)", big_.big_start_seconds <= 5);
  if (big_.closed_holds > 0) {
    add(absl::StrCat("start, + ", big_.closed_holds, " closed holds"), big_.closed_start_seconds,
        "s", big_.big_start_seconds, "s without", "<= 5 s", big_.closed_start_seconds <= 5);
  }
  {
    SummaryRow row{absl::StrCat("reset ", c_.reset_accounts, " accounts"), "-",  "-", "-",
                   absl::StrCat("<= ", Num(kResetTargetSeconds), " s"),    "n/a"};
    if (!std::isnan(resets_.reset_seconds)) {
      row.project = absl::StrCat(Num(resets_.reset_seconds, 2), " s");
      row.status = resets_.reset_seconds <= kResetTargetSeconds ? "MET" : "NOT MET";
    } else if (resets_.timed_out) {
      row.project = absl::StrCat("> ", Num(absl::ToDoubleSeconds(kResetTimeout)), " s");
      row.status = absl::StrCat("NOT MET (", resets_.committed, " done)");
    }
    summary_.push_back(std::move(row));
  }
  // A call refused meanwhile (e.g. RESOURCE_EXHAUSTED: the writer's queue full) is no answer
  // in time either: the target needs none.
  const double rs_p99 = p99("resets-authorize@8-during");
  const RunResult* rs_during = Find("resets-authorize@8-during");
  const uint64_t rs_errors = rs_during != nullptr ? rs_during->errors : 0;
  add("Authorize@8 p99 during resets", rs_p99, "us", p99("resets-authorize@8-after"),
      "us after resets", absl::StrCat("< ", Num(kResetTargetP99Micros), " us, no errors"),
      rs_p99 < kResetTargetP99Micros && rs_errors == 0);
  if (rs_errors > 0) summary_.back().status += absl::StrCat(" (", rs_errors, " errors)");
  // Seconds with decimals.
  for (SummaryRow& row : summary_) {
    if (absl::StartsWith(row.figure, "start, +") && !std::isnan(big_.closed_start_seconds)) {
      row.project = absl::StrCat(Num(big_.closed_start_seconds, 2), " s");
      row.reference = absl::StrCat(Num(big_.big_start_seconds, 2), " s without");
    }
    if (absl::StartsWith(row.figure, "start with") && !std::isnan(big_.big_start_seconds)) {
      row.project = absl::StrCat(Num(big_.big_start_seconds, 2), " s");
      row.reference = absl::StrCat(Num(big_.base_start_seconds, 2), " s baseline");
      if (c_.big_accounts < 1000000) row.status += " (fewer than 1M accounts)";
    }
    if (absl::StartsWith(row.figure, "memory") && !std::isnan(big_.bytes_per_account)) {
      row.project = absl::StrCat(Num(big_.bytes_per_account, 1), " B");
    }
  }

  std::printf("\n== writer (group commit) during each writing run: GetServerStats deltas ==\n");
  if (writer_.empty()) {
    std::printf("(none: GetServerStats unavailable or no writing run)\n");
  } else {
    std::printf("%-14s %9s %10s %11s %15s %10s %7s %12s\n", "run", "batches", "mutations",
                "mean batch", "mean commit us", "commits/s", "failed", "max commit us");
    for (const WriterDelta& d : writer_) {
      std::printf("%-14s %9llu %10llu %11s %15s %10s %7llu %12llu\n", d.run.c_str(),
                  static_cast<unsigned long long>(d.batches),
                  static_cast<unsigned long long>(d.mutations), Num(d.MeanBatch(), 1).c_str(),
                  Num(d.MeanCommitMicros()).c_str(),
                  Num(d.seconds > 0 ? static_cast<double>(d.batches) / d.seconds : kNaN).c_str(),
                  static_cast<unsigned long long>(d.failed),
                  static_cast<unsigned long long>(d.commit_micros_max));
    }
    std::printf(
        "(batches and mutations include the warm-up and the drain after the window; "
        "max commit is since the daemon started; resets: from its daemon's start until all "
        "resets were committed)\n");
  }

  std::printf("\n== summary: project vs reference measured in this run ==\n");
  std::printf("%-30s %-18s %-24s %-8s %-36s %s\n", "figure", "project", "reference", "ratio",
              "target", "status");
  for (const SummaryRow& row : summary_) {
    std::printf("%-30s %-18s %-24s %-8s %-36s %s\n", row.figure.c_str(), row.project.c_str(),
                row.reference.c_str(), row.ratio.c_str(), row.target.c_str(), row.status.c_str());
  }
  for (const std::string& note : notes_) std::printf("note: %s\n", note.c_str());
  std::printf("load average at end: %s\n", LoadAverage().c_str());
  std::fflush(stdout);
}

void Bench::WriteJson() const {
  std::string j = "{\n";
  absl::StrAppend(&j, "  \"run_id\": ", JsonString(run_id_), ",\n");
  absl::StrAppend(&j, "  \"target\": ", JsonString(c_.target), ",\n");
  absl::StrAppend(&j, "  \"accounts\": ", c_.accounts, ",\n");
  absl::StrAppend(&j, "  \"duration_seconds\": ", JsonNumber(absl::ToDoubleSeconds(c_.duration)),
                  ",\n");
  absl::StrAppend(&j, "  \"runs\": [");
  bool first = true;
  for (const auto& [key, label] : order_) {
    const RunResult& r = results_.at(key);
    const Histogram& h = r.latency;
    absl::StrAppend(
        &j, first ? "\n" : ",\n", "    {\"key\": ", JsonString(key),
        ", \"label\": ", JsonString(label), ", \"concurrency\": ", r.concurrency,
        ", \"ok\": ", r.ok, ", \"errors\": ", r.errors, ", \"seconds\": ", JsonNumber(r.seconds),
        ", \"per_second\": ", JsonNumber(r.OkRate()), ", \"mean_us\": ", JsonNumber(h.MeanMicros()),
        ", \"p50_us\": ", JsonNumber(h.PercentileMicros(0.5)),
        ", \"p90_us\": ", JsonNumber(h.PercentileMicros(0.9)),
        ", \"p99_us\": ", JsonNumber(h.PercentileMicros(0.99)),
        ", \"p999_us\": ", JsonNumber(h.PercentileMicros(0.999)), ", \"total_ok\": ", r.total_ok,
        ", \"total_errors\": ", r.total_errors,
        ", \"error_summary\": ", JsonString(r.ErrorSummary()), "}");
    first = false;
  }
  absl::StrAppend(&j, "\n  ],\n  \"writer\": [");
  first = true;
  for (const WriterDelta& d : writer_) {
    absl::StrAppend(&j, first ? "\n" : ",\n", "    {\"run\": ", JsonString(d.run),
                    ", \"batches\": ", d.batches, ", \"mutations\": ", d.mutations,
                    ", \"mean_batch_size\": ", JsonNumber(d.MeanBatch()),
                    ", \"mean_commit_us\": ", JsonNumber(d.MeanCommitMicros()),
                    ", \"failed_batches\": ", d.failed, "}");
    first = false;
  }
  absl::StrAppend(&j, "\n  ],\n");
  if (hot_pass_.has_value()) {
    absl::StrAppend(&j, "  \"hot_account\": {\"acknowledged\": ", hot_acked_,
                    ", \"spent_delta\": ", hot_spent_delta_,
                    ", \"pass\": ", *hot_pass_ ? "true" : "false", "},\n");
  }
  absl::StrAppend(&j,
                  "  \"gateway_hold_batches\": {\"rows_at_end\": ", gateway_batches_at_end_.rows,
                  ", \"bytes_at_end\": ", gateway_batches_at_end_.bytes,
                  ", \"rows_3s_later\": ", gateway_batches_after_.rows,
                  ", \"bytes_3s_later\": ", gateway_batches_after_.bytes, "},\n");
  absl::StrAppend(&j, "  \"big\": {\"accounts\": ", big_.accounts,
                  ", \"insert_seconds\": ", JsonNumber(big_.insert_seconds),
                  ", \"baseline_start_seconds\": ", JsonNumber(big_.base_start_seconds),
                  ", \"start_seconds\": ", JsonNumber(big_.big_start_seconds),
                  ", \"baseline_rss_bytes\": ", JsonNumber(big_.base_rss),
                  ", \"rss_bytes\": ", JsonNumber(big_.big_rss),
                  ", \"bytes_per_account\": ", JsonNumber(big_.bytes_per_account),
                  ", \"closed_holds\": ", big_.closed_holds,
                  ", \"closed_holds_start_seconds\": ", JsonNumber(big_.closed_start_seconds),
                  ", \"closed_holds_rss_bytes\": ", JsonNumber(big_.closed_rss),
                  ", \"error\": ", JsonString(big_.error), "},\n");
  absl::StrAppend(
      &j, "  \"resets\": {\"accounts\": ", resets_.accounts,
      ", \"insert_seconds\": ", JsonNumber(resets_.insert_seconds),
      ", \"start_seconds\": ", JsonNumber(resets_.start_seconds),
      ", \"reset_seconds\": ", JsonNumber(resets_.reset_seconds),
      ", \"reset_seconds_daemon_log\": ", JsonNumber(resets_.log_seconds),
      ", \"performed_daemon_log\": ", resets_.log_performed, ", \"committed\": ", resets_.committed,
      ", \"timed_out\": ", resets_.timed_out ? "true" : "false", ", \"polls\": ", resets_.polls,
      ", \"poll_ms_mean\": ", JsonNumber(resets_.poll_ms_mean),
      ", \"writer_batches\": ", resets_.writer ? resets_.writer->batches : 0,
      ", \"writer_mutations\": ", resets_.writer ? resets_.writer->mutations : 0,
      ", \"writer_mean_batch_size\": ",
      JsonNumber(resets_.writer ? resets_.writer->MeanBatch() : kNaN),
      ", \"writer_mean_commit_us\": ",
      JsonNumber(resets_.writer ? resets_.writer->MeanCommitMicros() : kNaN),
      ", \"writer_max_commit_us\": ", resets_.writer ? resets_.writer->commit_micros_max : 0,
      ", \"error\": ", JsonString(resets_.error), "},\n");
  absl::StrAppend(&j, "  \"summary\": [");
  first = true;
  for (const SummaryRow& row : summary_) {
    absl::StrAppend(
        &j, first ? "\n" : ",\n", "    {\"figure\": ", JsonString(row.figure),
        ", \"project\": ", JsonString(row.project), ", \"reference\": ", JsonString(row.reference),
        ", \"ratio\": ", JsonString(row.ratio), ", \"target\": ", JsonString(row.target),
        ", \"status\": ", JsonString(row.status), "}");
    first = false;
  }
  absl::StrAppend(&j, "\n  ]\n}\n");
  std::ofstream out(c_.json);
  out << j;
  if (!out) {
    std::fprintf(stderr, "bench: cannot write %s\n", c_.json.c_str());
  } else {
    std::fprintf(stderr, "bench: wrote %s\n", c_.json.c_str());
  }
}

int Bench::Run() {
  run_id_ = absl::StrCat(absl::ToUnixSeconds(absl::Now()) % 100000000, RandomHex(3));
  control_ = MakeChannels(c_.target, 1)[0];
  admin_ = v1::AdminService::NewStub(control_);
  budget_ = v1::BudgetService::NewStub(control_);
  env_.run_id = run_id_;
  env_.call_timeout = c_.call_timeout;
  env_.grant_amount = kGrant;
  for (int i = 0; i < c_.accounts; ++i) env_.accounts.push_back(absl::StrCat("acct-", i));
  env_.hot_account = "hot-account";

  std::printf(
      "tokenledger-bench: target %s, run %s, %d accounts, %s s per run after %s s "
      "warm-up, concurrency %s\n",
      c_.target.c_str(), run_id_.c_str(), c_.accounts,
      Num(absl::ToDoubleSeconds(c_.duration), 1).c_str(),
      Num(absl::ToDoubleSeconds(c_.warmup), 1).c_str(), absl::StrJoin(c_.concurrency, ",").c_str());
  std::vector<std::string> phases;
  for (const char* p : kPhaseOrder) {
    if (!Wants(p)) continue;
    if (std::string(p) == "authorize" && Wants("floor")) {
      phases.back() = "floor+authorize (interleaved)";
    } else {
      phases.push_back(p);
    }
  }
  std::printf("phases, in this order: %s\n", absl::StrJoin(phases, ", ").c_str());
  std::printf("load average at start: %s (%u CPUs)\n\n", LoadAverage().c_str(),
              std::thread::hardware_concurrency());

  if (Wants("setup") && !ConnectAll({control_}, absl::Seconds(10))) {
    std::fprintf(stderr, "bench: cannot connect to %s\n", c_.target.c_str());
    return 1;
  }
  if (Wants("setup") || Wants("big") || Wants("resets")) {
    if (c_.operator_key.empty()) {
      std::fprintf(stderr,
                   "bench: an operator key is needed (--operator_key, --operator_key_file or "
                   "TOKENLEDGER_OPERATOR_KEY)\n");
      return 1;
    }
  }
  PrintHeader();
  if (Wants("setup") && !Setup()) return 1;
  if (Wants("debit")) DebitPhase();
  if (Wants("gateway")) GatewayPhase();
  if (Wants("hot")) HotPhase();
  if (Wants("naive")) NaivePhase();
  if (Wants("big")) BigPhase();
  if (Wants("resets")) ResetsPhase();
  if (Wants("floor") || Wants("authorize")) FloorAndAuthorizePhase();
  if (Wants("check")) CheckPhase();
  Summary();
  if (!c_.json.empty()) WriteJson();
  if (hot_pass_.has_value() && !*hot_pass_) return 3;
  return 0;
}

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
  Config c;
  c.target = absl::GetFlag(FLAGS_target);
  c.operator_key = tokenledger::bench::ReadKey(absl::GetFlag(FLAGS_operator_key),
                                               absl::GetFlag(FLAGS_operator_key_file));
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
    return 2;
  }
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',', absl::SkipWhitespace())) {
    int n = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &n) || n < 1 || n > 4096) {
      std::fprintf(stderr, "tokenledger-bench: bad --concurrency entry '%s'\n",
                   std::string(part).c_str());
      return 2;
    }
    if (std::find(c.concurrency.begin(), c.concurrency.end(), n) == c.concurrency.end()) {
      c.concurrency.push_back(n);
    }
  }
  if (c.concurrency.empty()) {
    std::fprintf(stderr, "tokenledger-bench: --concurrency is empty\n");
    return 2;
  }
  c.tokenledgerd = absl::GetFlag(FLAGS_tokenledgerd);
  if (c.tokenledgerd.empty()) {
    std::string self = tokenledger::bench::SelfExePath();
    c.tokenledgerd = self.substr(0, self.rfind('/') + 1) + "tokenledgerd";
  }
  const std::set<std::string> known(std::begin(tokenledger::bench::kPhaseOrder),
                                    std::end(tokenledger::bench::kPhaseOrder));
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_phases), ',', absl::SkipWhitespace())) {
    std::string p = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    if (p == "all") {
      c.phases.insert(known.begin(), known.end());
    } else if (p == "writer") {
      c.phases.insert("debit");
    } else if (known.count(p)) {
      c.phases.insert(p);
    } else {
      std::fprintf(stderr, "tokenledger-bench: unknown phase '%s'\n", p.c_str());
      return 2;
    }
  }
  for (const char* p : {"debit", "gateway", "hot", "authorize", "check"}) {
    if (c.phases.count(p)) c.phases.insert("setup");
  }
  c.json = absl::GetFlag(FLAGS_json);
  tokenledger::bench::Bench bench(std::move(c));
  return bench.Run();
}
