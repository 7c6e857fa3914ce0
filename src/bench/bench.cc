// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The run of tokenledger-bench (the phases in their order) and what every phase shares: calls to
// the daemon under test, waiting for its writer to settle, starting daemons of its own, and
// recording and printing each run's figures.
#include "bench/bench.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/format.h"

namespace tokenledger::bench {

std::string NodeId(const std::string& daemon_name) {
  return absl::StrCat("tokenledger-bench-", daemon_name);
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

  PrintBanner();
  if (!CheckPrerequisites()) return 1;
  PrintHeader();
  if (Wants("setup") && !Setup()) return 1;
  RunPhases();
  Summary();
  if (!c_.json.empty()) WriteJson();
  if (hot_pass_.has_value() && !*hot_pass_) return 3;
  return 0;
}

void Bench::PrintBanner() const {
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
}

bool Bench::CheckPrerequisites() const {
  if (Wants("setup") && !ConnectAll({control_}, absl::Seconds(10))) {
    std::fprintf(stderr, "bench: cannot connect to %s\n", c_.target.c_str());
    return false;
  }
  if (Wants("setup") || Wants("big") || Wants("resets")) {
    if (c_.operator_key.empty()) {
      std::fprintf(stderr,
                   "bench: an operator key is needed (--operator_key, --operator_key_file or "
                   "TOKENLEDGER_OPERATOR_KEY)\n");
      return false;
    }
  }
  return true;
}

// Setup (run first by Run: the others need its tenant) aside, in the order of kPhaseOrder.
void Bench::RunPhases() {
  if (Wants("debit")) DebitPhase();
  if (Wants("gateway")) GatewayPhase();
  if (Wants("hot")) HotPhase();
  if (Wants("naive")) NaivePhase();
  if (Wants("big")) BigPhase();
  if (Wants("resets")) ResetsPhase();
  if (Wants("floor") || Wants("authorize")) FloorAndAuthorizePhase();
  if (Wants("check")) CheckPhase();
}

void Bench::Vacuum() {
  absl::StatusOr<double> took = VacuumLedgerTables(c_.database_url);
  if (took.ok()) {
    std::fprintf(stderr, "bench: vacuumed the ledger's tables in %.1f s\n", *took);
  } else {
    std::fprintf(stderr, "bench: %s\n", std::string(took.status().message()).c_str());
  }
}

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

bool Bench::DaemonBinaryUsable(const char* label, std::string* error) const {
  if (access(c_.tokenledgerd.c_str(), X_OK) == 0) return true;
  *error = absl::StrCat("no executable tokenledgerd at ", c_.tokenledgerd);
  std::printf("%-26s skipped: %s (--tokenledgerd)\n", label, error->c_str());
  return false;
}

}  // namespace tokenledger::bench
