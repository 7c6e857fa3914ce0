// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The CLI's command line: argv into flags (set through absl, cli/flags.h) and positional
// arguments, the typed arguments of the commands, and the exit codes. Every parse error is
// printed as a usage error ("tokenledger: <why>") on stderr, and the caller exits kExitUsage.
// Not thread-safe (the CLI is single-threaded): parsing sets absl's global flags.
#ifndef TOKENLEDGER_CLI_ARGS_H_
#define TOKENLEDGER_CLI_ARGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"
#include "tokenledger/v1/common.pb.h"

namespace tokenledger::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitNotServing = 1;
inline constexpr int kExitRpcError = 2;
inline constexpr int kExitUsage = 64;

// A command's positional arguments (after the command's one or two words).
using Args = std::vector<std::string>;

// Prints "tokenledger: <message>" and the hint to run help; returns kExitUsage.
int UsageError(absl::string_view message);

// Parses argv into flags (set through absl) and positional arguments. Accepts --flag-name and
// --flag_name, "--flag value" and "--flag=value", flags anywhere, and negative numbers as
// positional arguments; a list flag given twice holds both values. Returns false (after printing
// why) on a bad flag.
bool ParseArgs(int argc, char** argv, std::vector<std::string>* positional, bool* want_help);

// An integer argument named `what`; false (after printing why) when `text` is not one.
bool ParseAmount(absl::string_view text, absl::string_view what, int64_t* out);
// --metadata k=v,... into `out`; false (after printing why) on a pair without a key or '='.
bool ParseMetadata(google::protobuf::Map<std::string, std::string>* out);
// --model-limit MODEL=AMOUNT,... into `out`; false (after printing why) on a bad pair.
bool ParseModelLimits(google::protobuf::Map<std::string, int64_t>* out);
// --status as the proto's enum (unset: ACCOUNT_STATUS_UNSPECIFIED); false when unknown.
bool ParseStatus(v1::AccountStatus* out);

}  // namespace tokenledger::cli

#endif  // TOKENLEDGER_CLI_ARGS_H_
