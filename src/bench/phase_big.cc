// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The start-up and memory phase of tokenledger-bench: a baseline daemon, then one over a tenant
// of --big_accounts accounts bulk-inserted into PostgreSQL (memory per cached account, seconds to
// SERVING), then the same again with --big_closed_holds holds closed in the last 30 minutes.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench.h"
#include "bench/format.h"

namespace tokenledger::bench {

void Bench::BigPhase() {
  big_.accounts = c_.big_accounts;
  if (!BigCanRun()) return;
  if (Wants("setup")) Settle();  // the daemon under test is idle while others start

  std::fprintf(stderr, "bench: big: baseline daemon...\n");
  big_.base_start_seconds = BigStart("base", "", &big_.base_rss, &big_.base_cached);
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
  big_.big_start_seconds = BigStart("big", big_tenant, &big_.big_rss, &big_.big_cached);
  if (c_.big_closed_holds > 0 && big_.error.empty()) BigRestartWithClosedHolds(big_tenant);
  BigCleanUp(big_tenant);
  BigPrint(big_tenant);
}

bool Bench::BigCanRun() {
  if (c_.big_accounts <= 0) {
    std::printf("%-26s skipped (--big_accounts 0)\n", "start-up and memory");
    return false;
  }
  if (c_.database_url.empty()) {
    notes_.push_back("big: skipped (no --database_url)");
    std::printf("%-26s skipped: no --database_url\n", "start-up and memory");
    return false;
  }
  return DaemonBinaryUsable("start-up and memory", &big_.error);
}

double Bench::BigStart(const std::string& name, const std::string& park, double* rss,
                       uint64_t* cached) {
  ChildProcess child;
  std::string target;
  const double seconds = StartDaemon(child, &target, name, &big_.error, &big_.load_lines);
  if (!std::isnan(seconds)) *rss = BigRss(child, target, cached);
  if (!park.empty()) Park({park});
  child.Stop();
  return seconds;
}

double Bench::BigRss(ChildProcess& child, const std::string& target, uint64_t* cached) {
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
}

void Bench::BigRestartWithClosedHolds(const std::string& big_tenant) {
  std::fprintf(stderr, "bench: big: adding %lld closed holds and starting again...\n",
               static_cast<long long>(c_.big_closed_holds));
  auto added = InsertClosedHolds(c_.database_url, big_tenant, c_.big_closed_holds);
  if (absl::Status s = LeaseTenantsTo(c_.database_url, {big_tenant}, NodeId("big")); !s.ok()) {
    added = s;
  }
  if (!added.ok()) {
    big_.error = std::string(added.status().message());
    return;
  }
  big_.closed_holds = c_.big_closed_holds;
  big_.closed_insert_seconds = *added;
  // The same node as before: it takes the big tenant's lease at once.
  big_.closed_start_seconds = BigStart("big", big_tenant, &big_.closed_rss, &big_.closed_cached);
}

void Bench::BigCleanUp(const std::string& big_tenant) {
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
}

void Bench::BigPrint(const std::string& big_tenant) const {
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

}  // namespace tokenledger::bench
