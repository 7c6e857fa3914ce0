// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The resets phase of tokenledger-bench: the monthly reset of many accounts at once. A tenant
// whose every account has last month's reset behind it is bulk-inserted; a fresh daemon finds all
// their resets of this month due at start (the catch-up after downtime) and performs them through
// its group-commit writer. The figures: the seconds from SERVING until every reset is committed
// (its periods rows, polled), the writer meanwhile, and Authorize@8 meanwhile (on another tenant
// of that daemon, created beforehand through the daemon under test so that its setup does not
// compete with the resets) against Authorize@8 on the same daemon and accounts once the resets
// are done.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench.h"
#include "bench/format.h"

namespace tokenledger::bench {
namespace {

constexpr const char* kLabel = "resets";
// The accounts' policy, the Authorize load beside the resets, and how often the periods rows are
// counted.
constexpr int64_t kResetAllocation = 1'000'000;
constexpr int64_t kResetRolloverMax = 100'000;
constexpr int kResetLoadAccounts = 1000;
constexpr int kResetConcurrency = 8;
constexpr absl::Duration kResetPoll = absl::Milliseconds(100);

// The time stamp "[YYYY-MM-DD HH:MM:SS.mmm]" that starts a line of the daemon's log.
bool LogStamp(const std::string& line, absl::Time* t) {
  const size_t end = line.find(']');
  if (line.empty() || line[0] != '[' || end == std::string::npos) return false;
  std::string err;
  return absl::ParseTime("%Y-%m-%d %H:%M:%E*S", line.substr(1, end - 1), absl::UTCTimeZone(), t,
                         &err);
}

}  // namespace

struct Bench::ResetsRun {
  int64_t n = 0;  // accounts whose reset is due
  absl::CivilMonth month;
  int64_t current_us = 0;   // this month's start, UTC
  int64_t previous_us = 0;  // the previous month's start, UTC
  std::string load_tenant;  // the Authorize load's
  std::string reset_tenant;
  OpEnv env;  // the Authorize load's
  std::unique_ptr<PeriodCounter> counter;
  ChildProcess daemon;
  std::string target;
  Clock::time_point serving;
  RunResult during;  // Authorize while the resets were performed
};

void Bench::ResetsPhase() {
  resets_.accounts = c_.reset_accounts;
  if (!ResetsCanRun()) return;
  if (Wants("setup")) Settle();  // the daemon under test is idle while the other one runs

  ResetsRun run;
  run.n = c_.reset_accounts;
  ResetsPlan(run);
  // 1. The tenant the Authorize load runs on; 2. the tenant whose resets are due.
  if (!ResetsMakeLoadTenant(run) || !ResetsInsertDueTenant(run)) {
    ResetsCleanUp(run);
    return;
  }
  // 3. The daemon, the load from SERVING on, and the periods rows polled until all are there.
  std::fprintf(stderr, "bench: resets: starting a daemon that finds them due...\n");
  if (!ResetsStartDaemon(run)) {
    ResetsCleanUp(run);
    return;
  }
  ResetsMeasure(run);
  // 4. The reference: the same load on the same daemon, the resets done and committed.
  if (resets_.error.empty()) {
    Settle(run.target);
    Drive("resets-authorize@8-after", "Authorize after resets", kResetConcurrency,
          AuthorizeOps(&run.env, "ra"), run.target);
  }
  ResetsReadDaemonLog(run);
  ResetsStopDaemon(run);
  ResetsCleanUp(run);
  ResetsPrint(run);
}

bool Bench::ResetsCanRun() {
  if (c_.reset_accounts <= 0) {
    std::printf("%-26s skipped (--reset_accounts 0)\n", kLabel);
    return false;
  }
  if (c_.database_url.empty()) {
    notes_.push_back("resets: skipped (no --database_url)");
    std::printf("%-26s skipped: no --database_url\n", kLabel);
    return false;
  }
  if (!DaemonBinaryUsable(kLabel, &resets_.error)) return false;
  if (!ConnectAll({control_}, absl::Seconds(10))) {
    resets_.error = absl::StrCat("cannot connect to ", c_.target,
                                 " (the Authorize tenant is created through it)");
    std::printf("%-26s skipped: %s\n", kLabel, resets_.error.c_str());
    return false;
  }
  return true;
}

// This month and the previous one, in UTC (the tenant's timezone), and the tenants' names.
void Bench::ResetsPlan(ResetsRun& run) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::Time now = absl::Now();
  run.month = absl::ToCivilMonth(now, utc);
  run.current_us = absl::ToUnixMicros(absl::FromCivil(run.month, utc));
  run.previous_us = absl::ToUnixMicros(absl::FromCivil(run.month - 1, utc));
  if (absl::FromCivil(run.month + 1, utc) - now < kResetTimeout + absl::Minutes(10)) {
    notes_.push_back(
        "resets: run close to the end of a UTC month; a daemon past the boundary would perform "
        "two resets per account");
  }
  run.load_tenant = absl::StrCat("bench-rsl-", run_id_);
  run.reset_tenant = absl::StrCat("bench-rs-", run_id_);
}

// Keys and funded accounts, through the daemon under test (the daemon started later loads them
// from the database).
bool Bench::ResetsMakeLoadTenant(ResetsRun& run) {
  std::fprintf(stderr, "bench: resets: tenant %s with %d funded accounts for the load...\n",
               run.load_tenant.c_str(), kResetLoadAccounts);
  OpEnv& env = run.env;
  env.run_id = run_id_;
  env.call_timeout = c_.call_timeout;
  env.grant_amount = kGrant;
  for (int i = 0; i < kResetLoadAccounts; ++i) env.accounts.push_back(absl::StrCat("acct-", i));
  std::vector<std::string> keys;
  if (!CreateTenantWithKeys(run.load_tenant, "tokenledger-bench resets load",
                            absl::StrCat(run_id_, "-rsl"), {"hr", "gateway"}, &keys)) {
    resets_.error = "cannot create the Authorize tenant";
    std::printf("%-26s %s\n", kLabel, resets_.error.c_str());
    return false;
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
    return false;
  }
  Settle();
  return true;
}

bool Bench::ResetsInsertDueTenant(ResetsRun& run) {
  std::fprintf(stderr, "bench: resets: inserting %lld accounts with a due reset...\n",
               static_cast<long long>(run.n));
  auto inserted = InsertResetTenant(c_.database_url, run.reset_tenant, run.n, run.previous_us,
                                    kResetAllocation, kResetRolloverMax, NodeId("resets"));
  // The load tenant was made through the daemon under test: it passes to the resets daemon.
  if (inserted.ok()) {
    if (absl::Status s = LeaseTenantsTo(c_.database_url, {run.load_tenant}, NodeId("resets"));
        !s.ok()) {
      inserted = s;
    }
  }
  if (!inserted.ok()) {
    resets_.error = std::string(inserted.status().message());
    std::printf("%-26s %s\n", kLabel, resets_.error.c_str());
    return false;
  }
  resets_.insert_seconds = *inserted;
  auto counter = PeriodCounter::Open(c_.database_url);
  if (!counter.ok()) {
    resets_.error = std::string(counter.status().message());
    std::printf("%-26s %s\n", kLabel, resets_.error.c_str());
    return false;
  }
  run.counter = std::move(*counter);
  return true;
}

bool Bench::ResetsStartDaemon(ResetsRun& run) {
  resets_.start_seconds =
      StartDaemon(run.daemon, &run.target, "resets", &resets_.error, &resets_.load_lines);
  if (!std::isnan(resets_.start_seconds)) return true;
  std::printf("%-26s daemon failed: %s\n", kLabel, resets_.error.c_str());
  Park({run.reset_tenant, run.load_tenant});
  run.daemon.Stop();
  return false;
}

// Authorize@8 on the daemon from SERVING on, until every reset is committed.
void Bench::ResetsMeasure(ResetsRun& run) {
  run.serving = Clock::now();
  std::atomic<bool> stop{false};
  std::thread load([&] {
    RunOptions o;
    o.name = "Authorize during resets";
    o.concurrency = kResetConcurrency;
    o.warmup = absl::ZeroDuration();  // the resets start with the daemon: all of it is measured
    o.duration = kResetTimeout + absl::Seconds(10);  // `stop` ends it first
    o.seed = std::hash<std::string>()(run_id_ + "resets-during");
    o.stop = &stop;
    run.during = Runner::Run(run.target, o, AuthorizeOps(&run.env, "rd"));
  });
  ResetsPoll(run);
  const std::optional<v1::GetServerStatsResponse> at_done = Stats(run.target);
  stop.store(true);
  load.join();
  Record("resets-authorize@8-during", "Authorize during resets", run.during);
  resets_.during_holds = run.during.total_ok;
  if (at_done.has_value()) {
    const double seconds = std::isnan(resets_.reset_seconds)
                               ? std::chrono::duration<double>(Clock::now() - run.serving).count()
                               : resets_.reset_seconds;
    resets_.writer = Delta("resets", v1::GetServerStatsResponse(), *at_done, seconds);
    writer_.push_back(*resets_.writer);
  }
}

// Counts the periods rows of this month every kResetPoll until all n are there, the daemon is
// gone, or kResetTimeout has passed since SERVING.
void Bench::ResetsPoll(ResetsRun& run) {
  double poll_ms_total = 0;
  resets_.poll_ms_max = 0;
  Clock::time_point next = run.serving;
  for (;;) {
    const Clock::time_point q0 = Clock::now();
    absl::StatusOr<int64_t> count = run.counter->Count(run.reset_tenant, run.current_us);
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
    if (*count >= run.n) {  // committed before this query's snapshot, after the previous one's
      resets_.reset_seconds = std::chrono::duration<double>(q0 - run.serving).count();
      break;
    }
    if (!run.daemon.Alive()) {
      resets_.error = absl::StrCat("the daemon exited during the resets; log ", LogPath("resets"));
      break;
    }
    if (q1 - run.serving >= absl::ToChronoNanoseconds(kResetTimeout)) {
      resets_.timed_out = true;
      resets_.error = absl::StrCat("only ", *count, " of ", run.n, " resets committed after ",
                                   absl::FormatDuration(kResetTimeout));
      break;
    }
    next += std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(kResetPoll));
    if (next > q1) std::this_thread::sleep_until(next);
  }
  resets_.poll_ms_mean = poll_ms_total / resets_.polls;
}

// The daemon's own account: "serving on ..." and "performed N period resets" (one line per
// scheduler run that performed any), each stamped "[YYYY-MM-DD HH:MM:SS.mmm]".
void Bench::ResetsReadDaemonLog(const ResetsRun& run) {
  std::optional<absl::Time> serving_at, performed_at;
  int64_t performed = 0;
  bool any = false;
  std::istringstream lines(run.daemon.LogTail(1 << 22));
  for (std::string line; std::getline(lines, line);) {
    absl::Time t;
    if (line.find("] serving on ") != std::string::npos && LogStamp(line, &t)) serving_at = t;
    const size_t at = line.find("] performed ");
    if (at != std::string::npos && line.find(" period resets") != std::string::npos) {
      absl::string_view rest = absl::string_view(line).substr(at + 12);
      int64_t k = 0;
      if (absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &k)) {
        performed += k;
        any = true;
        if (LogStamp(line, &t)) performed_at = t;
      }
    }
  }
  if (any) resets_.log_performed = performed;
  if (serving_at && performed_at && performed >= run.n) {
    resets_.log_seconds = absl::ToDoubleSeconds(*performed_at - *serving_at);
  }
}

void Bench::ResetsStopDaemon(ResetsRun& run) {
  Park({run.reset_tenant, run.load_tenant});
  const int stop_status = run.daemon.Stop();
  if (stop_status != 0 && resets_.error.empty()) {
    resets_.error = absl::StrCat("the daemon exited with status ", stop_status, " at stop; log ",
                                 LogPath("resets"));
  }
  if (resets_.error.empty()) std::remove(LogPath("resets").c_str());
}

void Bench::ResetsCleanUp(const ResetsRun& run) {
  auto deleted = DeleteTenantRows(c_.database_url, run.reset_tenant);
  if (deleted.ok()) {
    resets_.delete_seconds = *deleted;
  } else {
    std::fprintf(stderr, "bench: %s\n", std::string(deleted.status().message()).c_str());
  }
  if (auto d = DeleteTenantRows(c_.database_url, run.load_tenant); !d.ok()) {
    std::fprintf(stderr, "bench: %s\n", std::string(d.status().message()).c_str());
  }
  Vacuum();
}

void Bench::ResetsPrint(const ResetsRun& run) const {
  const int64_t n = run.n;
  const std::string month_name = absl::FormatCivilTime(run.month);
  std::printf(
      "%-26s %lld accounts with a policy and last month's reset done bulk-inserted in %s "
      "s (tenant %s)\n",
      kLabel, static_cast<long long>(n), Num(resets_.insert_seconds, 1).c_str(),
      run.reset_tenant.c_str());
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
  ResetsPrintWriter(run);
  ResetsPrintDuringVsAfter(run);
  std::printf("%-26s tenants %s and %s deleted after, the resets one in %s s\n", "",
              run.reset_tenant.c_str(), run.load_tenant.c_str(),
              Num(resets_.delete_seconds, 1).c_str());
  if (!resets_.error.empty()) std::printf("%-26s error: %s\n", "", resets_.error.c_str());
  std::fflush(stdout);
}

void Bench::ResetsPrintWriter(const ResetsRun& run) const {
  if (!resets_.writer.has_value()) return;
  const WriterDelta& d = *resets_.writer;
  std::printf(
      "%-26s writer, daemon start until then: %llu batches, %llu mutations (%lld resets "
      "+ %lld others, mostly Authorize holds), mean batch %s, mean commit %s us, max "
      "commit %llu us, %llu failed\n",
      "", static_cast<unsigned long long>(d.batches), static_cast<unsigned long long>(d.mutations),
      static_cast<long long>(run.n),
      static_cast<long long>(d.mutations) - static_cast<long long>(run.n),
      Num(d.MeanBatch(), 1).c_str(), Num(d.MeanCommitMicros()).c_str(),
      static_cast<unsigned long long>(d.commit_micros_max),
      static_cast<unsigned long long>(d.failed));
}

void Bench::ResetsPrintDuringVsAfter(const ResetsRun& run) const {
  const RunResult* after = Find("resets-authorize@8-after");
  if (after == nullptr) return;
  const RunResult& during = run.during;
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

}  // namespace tokenledger::bench
