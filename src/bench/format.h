// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The text helpers of tokenledger-bench's report: figures for the printed tables ("-" for a
// figure not measured), JSON strings and numbers (null for one not measured), and facts about the
// machine the figures came from. Pure functions, safe from any thread; none fails (an unreadable
// /proc/loadavg gives "unknown").
#ifndef TOKENLEDGER_BENCH_FORMAT_H_
#define TOKENLEDGER_BENCH_FORMAT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tokenledger::bench {

// `v` with `decimals` decimals, "-" when NaN.
std::string Num(double v, int decimals = 0);
// `s` quoted and escaped as a JSON string.
std::string JsonString(absl::string_view s);
// `v` with 3 decimals, "null" when NaN or infinite.
std::string JsonNumber(double v);
// The 1, 5 and 15 minute load averages: this box is shared, and the figures move with them.
std::string LoadAverage();
// `bytes` random bytes in hex.
std::string RandomHex(int bytes);

}  // namespace tokenledger::bench

#endif  // TOKENLEDGER_BENCH_FORMAT_H_
