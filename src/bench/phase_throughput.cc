// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The throughput phases of tokenledger-bench, all on the tenant that setup makes through the
// daemon under test: direct Debits (by amount, then priced from tokens), the gateway cycle, one
// hot account, the naive PostgreSQL ledger beside them, the gRPC floor next to Authorize (by
// amount, then a priced estimate), and Check.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench.h"

namespace tokenledger::bench {
namespace {

constexpr int kDebitConcurrency = 64;
constexpr int kGatewayConcurrency = 64;
constexpr int kHotConcurrency = 64;
constexpr int kNaiveThreads[] = {8, 64};

}  // namespace

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
  SetUpPrice();
  return true;
}

void Bench::SetUpPrice() {
  v1::SetPriceRequest req;
  req.set_model(priced_model_);
  req.set_input_per_million(kPriceInputPerMillion);
  req.set_output_per_million(kPriceOutputPerMillion);
  req.set_cached_input_per_million(kPriceCachedInputPerMillion);
  req.set_idempotency_key(absl::StrCat(run_id_, "-price"));
  v1::SetPriceResponse resp;
  const grpc::Status s = admin_->SetPrice(Ctx(admin_key_).get(), req, &resp);
  if (!s.ok()) {
    notes_.push_back(absl::StrCat("priced runs skipped: SetPrice failed: ",
                                  CodeName(s.error_code()), ": ", s.error_message()));
    std::printf("%-26s SetPrice failed (%s): no priced runs\n", "",
                CodeName(s.error_code()).c_str());
    return;
  }
  env_.model = priced_model_;
  std::printf(
      "%-26s model %s priced %lld/%lld/%lld per 1M input/output/cached tokens: a priced Debit "
      "(%lld/%lld/%lld tokens) charges %lld, a priced Authorize (%lld in, %lld out at most) holds "
      "%lld\n",
      "", priced_model_.c_str(), static_cast<long long>(kPriceInputPerMillion),
      static_cast<long long>(kPriceOutputPerMillion),
      static_cast<long long>(kPriceCachedInputPerMillion),
      static_cast<long long>(kDebitInputTokens), static_cast<long long>(kDebitOutputTokens),
      static_cast<long long>(kDebitCachedInputTokens), static_cast<long long>(kPricedDebitAmount),
      static_cast<long long>(kEstimateInputTokens),
      static_cast<long long>(kEstimateMaxOutputTokens),
      static_cast<long long>(kPricedEstimateAmount));
}

RunResult Bench::DriveWriting(const std::string& key, const std::string& label, int concurrency,
                              const OpFactory& factory) {
  Settle();
  auto before = Stats("");
  RunResult r = Drive(key, label, concurrency, factory);
  Settle();  // what the run queued is committed before the figures are read
  auto after = Stats("");
  if (before && after) writer_.push_back(Delta(key, *before, *after, r.seconds));
  return r;
}

void Bench::DebitPhase() {
  std::set<int> levels(c_.concurrency.begin(), c_.concurrency.end());
  levels.insert(kDebitConcurrency);
  // Each priced run right after the amount run at its concurrency: a ratio is only fair between
  // neighbours in time.
  for (int n : levels) {
    DriveWriting(absl::StrCat("debit@", n), "Debit (durable)", n,
                 DebitOps(&env_, absl::StrCat("d", n), /*hot=*/false));
    if (env_.model.empty()) continue;
    DriveWriting(absl::StrCat("debit-priced@", n), "Debit, priced tokens", n,
                 PricedDebitOps(&env_, absl::StrCat("dp", n)));
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
  gateway_batches_at_end_ = GatewayHoldRecords("at the end of the run", r.total_ok);
  absl::SleepFor(absl::Seconds(3));
  gateway_batches_after_ = GatewayHoldRecords("3 s later", r.total_ok);
}

HoldBatchesSize Bench::GatewayHoldRecords(const char* when, uint64_t captured) {
  absl::StatusOr<HoldBatchesSize> size = HoldBatchesOf(c_.database_url, tenant_id_);
  if (!size.ok()) {
    notes_.push_back(absl::StrCat("gateway: ", size.status().message()));
    return HoldBatchesSize{-1, -1};
  }
  std::printf("%-26s %s: %lld rows, %lld bytes (the run captured %lld holds)\n",
              "  open-hold records", when, static_cast<long long>(size->rows),
              static_cast<long long>(size->bytes), static_cast<long long>(captured));
  return *size;
}

void Bench::HotPhase() {
  Settle();
  int64_t spent0 = 0, spent1 = 0;
  const bool got0 = HotSpent(&spent0);
  auto before = Stats("");
  RunResult r = Drive("hot@64", "Debit, one hot account", kHotConcurrency,
                      DebitOps(&env_, "h", /*hot=*/true));
  Settle();
  auto after = Stats("");
  if (before && after) writer_.push_back(Delta("hot@64", *before, *after, r.seconds));
  const bool got1 = HotSpent(&spent1);
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

bool Bench::HotSpent(int64_t* spent) {
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

std::string Bench::StartFloor(ChildProcess& floor, const std::string& log) {
  if (!Wants("floor")) return "";
  const int port = FreePort();
  const std::string floor_target = absl::StrCat("127.0.0.1:", port);
  std::string error;
  if (!floor.Start({SelfExePath(), "--serve_floor", absl::StrCat(port)}, {}, log, &error)) {
    std::printf("%-26s cannot start: %s\n", "gRPC floor", error.c_str());
    return "";
  }
  if (!ProbeChannel(floor_target)
           ->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::printf("%-26s not listening after 10 s; log %s\n", "gRPC floor", log.c_str());
    floor.Stop();
    return "";
  }
  return floor_target;
}

// The floor and Authorize, interleaved per concurrency (floor@1, Authorize@1, floor@8, ...): on a
// shared box the background load drifts, and a ratio is only fair between neighbours in time.
void Bench::FloorAndAuthorizePhase() {
  ChildProcess floor;
  const std::string log = absl::StrCat("/tmp/tokenledger-bench-", run_id_, "-floor.log");
  const std::string floor_target = StartFloor(floor, log);
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
    if (Wants("authorize")) {  // settled after each run: the holds are journaled too
      DriveWriting(absl::StrCat("authorize@", n), "Authorize", n,
                   AuthorizeOps(&env_, absl::StrCat("a", n)));
      if (env_.model.empty()) continue;
      DriveWriting(absl::StrCat("authorize-priced@", n), "Authorize, priced estimate", n,
                   PricedAuthorizeOps(&env_, absl::StrCat("ap", n)));
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

}  // namespace tokenledger::bench
