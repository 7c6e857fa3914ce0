// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "obs/process.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "absl/time/clock.h"

namespace tokenledger::obs {

uint64_t ResidentMemoryBytes() {
  uint64_t bytes = 0;
  // Pages in the second field of statm.
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long size = 0, resident = 0;
    if (std::fscanf(f, "%lu %lu", &size, &resident) == 2) {
      bytes = static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    }
    std::fclose(f);
  }
  return bytes;
}

namespace {

double CpuSeconds() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  const auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

}  // namespace

void RegisterProcessMetrics(Registry& registry, std::string_view version) {
  registry.AddCallbackGauge("tokenledger_process_resident_memory_bytes",
                            "Resident memory of the daemon in bytes.",
                            [] { return static_cast<double>(ResidentMemoryBytes()); });
  registry.AddCallbackCounter("tokenledger_process_cpu_seconds_total",
                              "User and system CPU time of the daemon in seconds.", CpuSeconds);
  const double start = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  registry.AddCallbackGauge("tokenledger_process_start_time_seconds",
                            "When the daemon started, in seconds since the Unix epoch.",
                            [start] { return start; });
  registry.AddGauge("tokenledger_build_info", "Always 1; the labels name the build.", {"version"})
      .WithLabels({version})
      .Set(1);
}

}  // namespace tokenledger::obs
