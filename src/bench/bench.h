// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// tokenledger-bench: drives a running tokenledgerd over gRPC (closed loop, N calls in flight on
// several connections) and measures, in the same run, the references its targets are stated
// against (docs/benchmarks.md): the gRPC floor (an empty callback-API server, this very
// binary with --serve_floor) and a naive PostgreSQL ledger on the same database. Then it starts
// fresh daemons to measure the memory per cached account and the start-up time with many
// accounts, and prints a summary of every figure against its target.
//
// Phases, in the order run (--phases selects some; setup is added when a phase needs it):
//   setup      a new tenant with admin, hr and gateway keys; --accounts funded accounts; the
//              price of one model (SetPrice with the admin key) for the priced runs
//   debit      direct durable Debits at each --concurrency and 64, with the writer's figures,
//              each followed by the same with token usage priced by the ledger instead of an
//              amount (back to back: their ratio is the pricing's cost)
//   gateway    Authorize then Debit capturing that hold, at 64
//   hot        every Debit on one account at 64, then a no-lost-update check
//   naive      the naive PostgreSQL ledger, 8 and 64 clients
//   big        memory per account and start-up time with --big_accounts accounts, then start-up
//              again with --big_closed_holds holds closed in the last 30 minutes added
//   resets     a fresh daemon finding the monthly reset of --reset_accounts accounts due at
//              start: how long until all are committed, and Authorize@8 meanwhile vs after
//   floor      the gRPC floor at each --concurrency, each run next to Authorize's
//   authorize  Authorize at each --concurrency, each followed by Authorize with a priced estimate
//              (last but Check: its holds expire 60 s later, and the expiry sweep's writes would
//              disturb the durable phases)
//   check      Check at each --concurrency
//
// Where each part lives: bench.cc (the run's order and the helpers every phase shares),
// phase_throughput.cc (setup, debit, gateway, hot, naive, floor+authorize, check), phase_big.cc
// (start-up and memory with many accounts), phase_resets.cc (the monthly resets), report.cc (the
// summary against the targets and the JSON file), main.cc (flags into a Config).
//
// Thread-safety: a Bench is used by one thread (main); the load it drives runs on gRPC's threads
// and the resets phase's load thread, which only hand back RunResults. Errors are printed (a
// phase that cannot run says why and the run goes on); Run's exit status tells the caller.
#ifndef TOKENLEDGER_BENCH_BENCH_H_
#define TOKENLEDGER_BENCH_BENCH_H_

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/load.h"
#include "bench/ops.h"
#include "bench/pgref.h"
#include "bench/proc.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

namespace tokenledger::bench {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr int64_t kGrant = 1'000'000'000'000;  // per account: never runs out here
inline constexpr const char* kPhaseOrder[] = {"setup", "debit",  "gateway", "hot",       "naive",
                                              "big",   "resets", "floor",   "authorize", "check"};
// The resets phase's bounds and targets (the summary reads them too).
inline constexpr absl::Duration kResetTimeout = absl::Seconds(300);
inline constexpr double kResetTargetSeconds = 30;
inline constexpr double kResetTargetP99Micros = 1000;

// What the flags ask for (main.cc fills it).
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

// The --node-id of a daemon the bench starts ("tokenledger-bench-<name>").
std::string NodeId(const std::string& daemon_name);

class Bench {
 public:
  explicit Bench(Config config) : c_(std::move(config)) {}
  // Runs the phases asked for, prints the summary, writes the JSON file when asked. Returns the
  // exit status: 0, 1 when it cannot start, 3 when the hot account lost an update.
  int Run();

 private:
  // The figures of the start-up and memory phase.
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
  };
  // The figures of the resets phase.
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
  };
  // The working state of one resets phase (phase_resets.cc).
  struct ResetsRun;

  bool Wants(const std::string& phase) const { return c_.phases.count(phase) > 0; }

  // ---- shared by the phases (bench.cc) ----
  void PrintBanner() const;
  // The operator key and the connection the phases asked for need; false: cannot run.
  bool CheckPrerequisites() const;
  void RunPhases();
  // After a bulk tenant is deleted: its dead rows vacuumed now, not by autovacuum during the
  // phases that follow.
  void Vacuum();
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
  // Whether c_.tokenledgerd is executable; else *error and a "skipped" line under `label`.
  bool DaemonBinaryUsable(const char* label, std::string* error) const;
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

  // ---- the throughput phases (phase_throughput.cc) ----
  bool Setup();
  // Prices env_.model for the priced runs (SetPrice, admin key); on failure they are skipped.
  void SetUpPrice();
  // Settles, drives `factory` as run `key`, settles again and records the writer's figures.
  RunResult DriveWriting(const std::string& key, const std::string& label, int concurrency,
                         const OpFactory& factory);
  void DebitPhase();
  void GatewayPhase();
  // The size of the gateway tenant's open-hold records, printed with `when`.
  HoldBatchesSize GatewayHoldRecords(const char* when, uint64_t captured);
  void HotPhase();
  // The hot account's spent, through GetBalance; false when it cannot be read.
  bool HotSpent(int64_t* spent);
  void NaivePhase();
  // Starts the floor server (when asked for) and returns its target, empty when there is none.
  std::string StartFloor(ChildProcess& floor, const std::string& log);
  void FloorAndAuthorizePhase();
  void CheckPhase();

  // ---- start-up and memory (phase_big.cc) ----
  void BigPhase();
  bool BigCanRun();
  // Starts daemon `name`, reads its memory, parks `park` (when not empty) and stops it. Returns
  // the seconds to SERVING (NaN on failure; *rss and *cached are then left alone).
  double BigStart(const std::string& name, const std::string& park, double* rss, uint64_t* cached);
  // Resident memory once it has settled a moment after start.
  double BigRss(ChildProcess& child, const std::string& target, uint64_t* cached);
  void BigRestartWithClosedHolds(const std::string& big_tenant);
  void BigCleanUp(const std::string& big_tenant);
  void BigPrint(const std::string& big_tenant) const;

  // ---- the monthly resets (phase_resets.cc) ----
  void ResetsPhase();
  bool ResetsCanRun();
  void ResetsPlan(ResetsRun& run);
  bool ResetsMakeLoadTenant(ResetsRun& run);
  bool ResetsInsertDueTenant(ResetsRun& run);
  bool ResetsStartDaemon(ResetsRun& run);
  void ResetsMeasure(ResetsRun& run);
  void ResetsPoll(ResetsRun& run);
  void ResetsReadDaemonLog(const ResetsRun& run);
  void ResetsStopDaemon(ResetsRun& run);
  void ResetsCleanUp(const ResetsRun& run);
  void ResetsPrint(const ResetsRun& run) const;
  void ResetsPrintWriter(const ResetsRun& run) const;
  void ResetsPrintDuringVsAfter(const ResetsRun& run) const;

  // ---- the report (report.cc) ----
  void Summary();
  double RateOf(const std::string& key) const;
  double P99Of(const std::string& key) const;
  // One summary row; `ok` nullopt: a reference the target needs was not measured.
  void AddRow(std::string figure, double project, const std::string& unit, double reference,
              const std::string& ref_label, std::string target, std::optional<bool> ok);
  void SummarizeThroughput();
  void SummarizePricing();
  void SummarizeStartUp();
  void SummarizeResets();
  void SecondsWithDecimals();
  void PrintWriterTable() const;
  void PrintSummaryTable() const;
  void WriteJson() const;
  std::string JsonRuns() const;
  std::string JsonWriter() const;
  std::string JsonBig() const;
  std::string JsonResets() const;
  std::string JsonSummary() const;

  const RunResult* Find(const std::string& key) const {
    auto it = results_.find(key);
    return it == results_.end() ? nullptr : &it->second;
  }

  Config c_;
  std::string run_id_;
  std::shared_ptr<grpc::Channel> control_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::BudgetService::Stub> budget_;
  // The priced runs' model (setup prices it; env_.model is set once it is).
  const std::string priced_model_ = "bench-model";
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
  Big big_;
  Resets resets_;
  std::vector<SummaryRow> summary_;
  std::vector<std::string> notes_;
};

}  // namespace tokenledger::bench

#endif  // TOKENLEDGER_BENCH_BENCH_H_
