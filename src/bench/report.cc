// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The report of tokenledger-bench: each figure against its target and the reference measured in
// the same run (the summary table and the writer's table), and the same figures as a JSON file
// (--json; scripts and the benchmark documentation read its fields).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/bench.h"
#include "bench/format.h"

namespace tokenledger::bench {
namespace {

// nullopt: a reference the target needs was not measured.
std::string Status(double project, std::optional<bool> ok) {
  if (std::isnan(project) || !ok.has_value()) return "n/a";
  return *ok ? "MET" : "NOT MET";
}

std::optional<bool> Given(double reference, bool ok) {
  if (std::isnan(reference)) return std::nullopt;
  return ok;
}

std::string Ratio(double a, double b) {
  return std::isnan(a) || std::isnan(b) || b == 0 ? std::string("-")
                                                  : absl::StrCat(Num(a / b, 2), "x");
}

}  // namespace

void Bench::Summary() {
  SummarizeThroughput();
  SummarizePricing();
  SummarizeStartUp();
  SummarizeResets();
  SecondsWithDecimals();
  PrintWriterTable();
  PrintSummaryTable();
}

double Bench::RateOf(const std::string& key) const {
  const RunResult* r = Find(key);
  return r ? r->OkRate() : kNaN;
}

double Bench::P99Of(const std::string& key) const {
  const RunResult* r = Find(key);
  return r && r->latency.count() > 0 ? r->latency.PercentileMicros(0.99) : kNaN;
}

void Bench::AddRow(std::string figure, double project, const std::string& unit, double reference,
                   const std::string& ref_label, std::string target, std::optional<bool> ok) {
  summary_.push_back(SummaryRow{
      std::move(figure), std::isnan(project) ? "-" : absl::StrCat(Num(project), " ", unit),
      std::isnan(reference) ? "-" : absl::StrCat(Num(reference), " ", ref_label),
      Ratio(project, reference), std::move(target), Status(project, ok)});
}

void Bench::SummarizeThroughput() {
  const double az8 = RateOf("authorize@8"), fl8 = RateOf("floor@8");
  AddRow("Authorize@8 throughput", az8, "/s", fl8, "/s floor@8", ">= 0.80x floor",
         Given(fl8, az8 >= 0.8 * fl8));
  AddRow("Authorize@8 p99", P99Of("authorize@8"), "us", P99Of("floor@8"), "us floor@8", "< 1000 us",
         P99Of("authorize@8") < 1000);
  const double fl1p99 = P99Of("floor@1");
  AddRow("Authorize@1 p99", P99Of("authorize@1"), "us", fl1p99, "us floor@1",
         std::isnan(fl1p99) ? "<= floor p99 + 100 us"
                            : absl::StrCat("<= ", Num(fl1p99 + 100), " us (floor + 100)"),
         Given(fl1p99, P99Of("authorize@1") <= fl1p99 + 100));
  const double d64 = RateOf("debit@64"), n64 = RateOf("naive@64");
  AddRow("Debit@64 throughput", d64, "/s", n64, "/s naive@64", ">= 25000/s", d64 >= 25000);
  AddRow("Debit@64 vs naive@64", d64, "/s", n64, "/s naive@64", ">= 4.00x naive",
         Given(n64, d64 >= 4 * n64));
  AddRow("Debit@64 p99", P99Of("debit@64"), "us", P99Of("naive@64"), "us naive@64", "< 15000 us",
         P99Of("debit@64") < 15000);
  const double gw = RateOf("gateway@64");
  AddRow("gateway cycle@64", gw, "cycles/s", n64, "/s naive@64", ">= 10000/s", gw >= 10000);
  const double hot = RateOf("hot@64");
  AddRow("hot account Debit@64", hot, "/s", d64, "/s Debit@64", ">= 0.50x Debit@64, no lost update",
         Given(d64, hot >= 0.5 * d64 && hot_pass_.value_or(false)));
}

// Each priced run against the amount run just before it at the same concurrency: the price
// lookup and the token arithmetic on the hot path must cost no more than the noise between two
// neighbouring runs.
void Bench::SummarizePricing() {
  for (const char* rpc : {"debit", "authorize"}) {
    for (int n : {8, 64}) {
      const std::string plain = absl::StrCat(rpc, "@", n);
      const std::string priced = absl::StrCat(rpc, "-priced@", n);
      if (Find(priced) == nullptr) continue;
      const std::string name =
          absl::StrCat(rpc[0] == 'd' ? "priced Debit@" : "priced Authorize@", n);
      const double p = RateOf(priced), a = RateOf(plain);
      AddRow(name, p, "/s", a, absl::StrCat("/s ", plain), ">= 0.90x amount (noise)",
             Given(a, p >= 0.9 * a));
    }
  }
}

void Bench::SummarizeStartUp() {
  AddRow("memory per cached account", big_.bytes_per_account, "B", kNaN, "", "<= 256 B",
         big_.bytes_per_account <= 256);
  AddRow(absl::StrCat("start with ", c_.big_accounts, " accounts"), big_.big_start_seconds, "s",
         big_.base_start_seconds, "s baseline", "<= 5 s (at 1000000)", big_.big_start_seconds <= 5);
  if (big_.closed_holds > 0) {
    AddRow(absl::StrCat("start, + ", big_.closed_holds, " closed holds"), big_.closed_start_seconds,
           "s", big_.big_start_seconds, "s without", "<= 5 s", big_.closed_start_seconds <= 5);
  }
}

void Bench::SummarizeResets() {
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
  // A call refused meanwhile (e.g. RESOURCE_EXHAUSTED: the writer's queue full) is no answer
  // in time either: the target needs none.
  const double rs_p99 = P99Of("resets-authorize@8-during");
  const RunResult* rs_during = Find("resets-authorize@8-during");
  const uint64_t rs_errors = rs_during != nullptr ? rs_during->errors : 0;
  AddRow("Authorize@8 p99 during resets", rs_p99, "us", P99Of("resets-authorize@8-after"),
         "us after resets", absl::StrCat("< ", Num(kResetTargetP99Micros), " us, no errors"),
         rs_p99 < kResetTargetP99Micros && rs_errors == 0);
  if (rs_errors > 0) summary_.back().status += absl::StrCat(" (", rs_errors, " errors)");
}

// Seconds with decimals.
void Bench::SecondsWithDecimals() {
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
}

void Bench::PrintWriterTable() const {
  std::printf("\n== writer (group commit) during each writing run: GetServerStats deltas ==\n");
  if (writer_.empty()) {
    std::printf("(none: GetServerStats unavailable or no writing run)\n");
  } else {
    std::printf("%-19s %9s %10s %11s %15s %10s %7s %12s\n", "run", "batches", "mutations",
                "mean batch", "mean commit us", "commits/s", "failed", "max commit us");
    for (const WriterDelta& d : writer_) {
      std::printf("%-19s %9llu %10llu %11s %15s %10s %7llu %12llu\n", d.run.c_str(),
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
}

void Bench::PrintSummaryTable() const {
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
  absl::StrAppend(&j, JsonRuns());
  absl::StrAppend(&j, "\n  ],\n  \"writer\": [");
  absl::StrAppend(&j, JsonWriter());
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
  absl::StrAppend(&j, JsonBig(), JsonResets());
  absl::StrAppend(&j, "  \"summary\": [");
  absl::StrAppend(&j, JsonSummary());
  absl::StrAppend(&j, "\n  ]\n}\n");
  std::ofstream out(c_.json);
  out << j;
  if (!out) {
    std::fprintf(stderr, "bench: cannot write %s\n", c_.json.c_str());
  } else {
    std::fprintf(stderr, "bench: wrote %s\n", c_.json.c_str());
  }
}

// The "runs" array's items, each on a line of its own.
std::string Bench::JsonRuns() const {
  std::string j;
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
  return j;
}

// The "writer" array's items, each on a line of its own.
std::string Bench::JsonWriter() const {
  std::string j;
  bool first = true;
  for (const WriterDelta& d : writer_) {
    absl::StrAppend(&j, first ? "\n" : ",\n", "    {\"run\": ", JsonString(d.run),
                    ", \"batches\": ", d.batches, ", \"mutations\": ", d.mutations,
                    ", \"mean_batch_size\": ", JsonNumber(d.MeanBatch()),
                    ", \"mean_commit_us\": ", JsonNumber(d.MeanCommitMicros()),
                    ", \"failed_batches\": ", d.failed, "}");
    first = false;
  }
  return j;
}

std::string Bench::JsonBig() const {
  std::string j;
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
  return j;
}

std::string Bench::JsonResets() const {
  std::string j;
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
  return j;
}

// The "summary" array's items, each on a line of its own.
std::string Bench::JsonSummary() const {
  std::string j;
  bool first = true;
  for (const SummaryRow& row : summary_) {
    absl::StrAppend(
        &j, first ? "\n" : ",\n", "    {\"figure\": ", JsonString(row.figure),
        ", \"project\": ", JsonString(row.project), ", \"reference\": ", JsonString(row.reference),
        ", \"ratio\": ", JsonString(row.ratio), ", \"target\": ", JsonString(row.target),
        ", \"status\": ", JsonString(row.status), "}");
    first = false;
  }
  return j;
}

}  // namespace tokenledger::bench
