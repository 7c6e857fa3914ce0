// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Figures of the running process (Linux /proc), as metrics.
#ifndef TOKENLEDGER_OBS_PROCESS_H_
#define TOKENLEDGER_OBS_PROCESS_H_

#include <cstdint>
#include <string_view>

#include "obs/metrics.h"

namespace tokenledger::obs {

// Resident set size in bytes (0 when /proc cannot be read).
uint64_t ResidentMemoryBytes();

// tokenledger_process_resident_memory_bytes, tokenledger_process_cpu_seconds_total,
// tokenledger_process_start_time_seconds, tokenledger_build_info{version}.
void RegisterProcessMetrics(Registry& registry, std::string_view version);

}  // namespace tokenledger::obs

#endif  // TOKENLEDGER_OBS_PROCESS_H_
