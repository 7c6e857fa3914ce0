// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The flags of the tokenledger CLI: the global ones (connection, output, idempotency) and the
// commands' (defined in flags.cc, with their help). Read them with absl::GetFlag after
// cli::ParseArgs (cli/args.h) has set them; a command reads only the flags it documents.
#ifndef TOKENLEDGER_CLI_FLAGS_H_
#define TOKENLEDGER_CLI_FLAGS_H_
#define TOKENLEDGER_CLI_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, key);
ABSL_DECLARE_FLAG(std::string, target);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(double, timeout);
ABSL_DECLARE_FLAG(bool, tls);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, idempotency_key);
ABSL_DECLARE_FLAG(std::string, display_name);
ABSL_DECLARE_FLAG(std::string, unit);
ABSL_DECLARE_FLAG(std::string, timezone);
ABSL_DECLARE_FLAG(std::string, tenant);
ABSL_DECLARE_FLAG(std::string, team);
ABSL_DECLARE_FLAG(std::optional<int64_t>, monthly_allocation);
ABSL_DECLARE_FLAG(std::optional<int64_t>, rollover_max);
ABSL_DECLARE_FLAG(std::optional<int64_t>, daily_limit);
ABSL_DECLARE_FLAG(std::optional<int64_t>, overdraft_limit);
ABSL_DECLARE_FLAG(std::string, status);
ABSL_DECLARE_FLAG(int64_t, monthly_cap);
ABSL_DECLARE_FLAG(std::string, memo);
ABSL_DECLARE_FLAG(int64_t, ttl);
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::vector<std::string>, metadata);
ABSL_DECLARE_FLAG(std::string, hold);
ABSL_DECLARE_FLAG(std::string, request_id);
ABSL_DECLARE_FLAG(int32_t, limit);
ABSL_DECLARE_FLAG(std::string, page_token);
ABSL_DECLARE_FLAG(int64_t, since);
ABSL_DECLARE_FLAG(int64_t, until);
ABSL_DECLARE_FLAG(bool, fix);
ABSL_DECLARE_FLAG(int64_t, as_of);
ABSL_DECLARE_FLAG(std::vector<std::string>, model_limit);
ABSL_DECLARE_FLAG(std::optional<int64_t>, input_per_million);
ABSL_DECLARE_FLAG(std::optional<int64_t>, output_per_million);
ABSL_DECLARE_FLAG(std::optional<int64_t>, cached_input_per_million);
ABSL_DECLARE_FLAG(int64_t, effective_at);
ABSL_DECLARE_FLAG(std::optional<int64_t>, input_tokens);
ABSL_DECLARE_FLAG(std::optional<int64_t>, output_tokens);
ABSL_DECLARE_FLAG(std::optional<int64_t>, cached_input_tokens);
ABSL_DECLARE_FLAG(std::optional<int64_t>, max_output_tokens);
ABSL_DECLARE_FLAG(int64_t, occurred_at);

#endif  // TOKENLEDGER_CLI_FLAGS_H_
