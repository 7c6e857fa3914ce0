// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "cli/flags.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"

// Global flags.
ABSL_FLAG(std::string, key, "", "API key (default: env TOKENLEDGER_KEY)");
ABSL_FLAG(std::string, target, "",
          "tokenledgerd address host:port (default: env TOKENLEDGER_TARGET or 127.0.0.1:7443)");
ABSL_FLAG(bool, json, false, "print one JSON object per command instead of a table");
ABSL_FLAG(double, timeout, 10, "deadline of each RPC, in seconds");
ABSL_FLAG(bool, tls, false, "connect with TLS (system roots) instead of plaintext");
ABSL_FLAG(std::string, tls_ca, "", "TLS: PEM CA certificate(s) that the server's must chain to");
ABSL_FLAG(std::string, tls_cert, "", "mutual TLS: PEM client certificate (with --tls-key)");
ABSL_FLAG(std::string, tls_key, "", "mutual TLS: PEM private key of --tls-cert");
ABSL_FLAG(std::string, idempotency_key, "",
          "idempotency key of a mutating command (default: a random one, printed)");

// Command flags.
ABSL_FLAG(std::string, display_name, "", "display name (tenant create, account/team upsert)");
ABSL_FLAG(std::string, unit, "", "tenant unit: usd_micros (default) or tokens");
ABSL_FLAG(std::string, timezone, "", "tenant IANA time zone, e.g. Europe/Paris (default UTC)");
ABSL_FLAG(std::string, tenant, "", "tenant of a new key (operator keys must name one)");
ABSL_FLAG(std::string, team, "", "team of the account");
ABSL_FLAG(std::optional<int64_t>, monthly_allocation, std::nullopt, "policy: monthly allocation");
ABSL_FLAG(std::optional<int64_t>, rollover_max, std::nullopt, "policy: most carried over");
ABSL_FLAG(std::optional<int64_t>, daily_limit, std::nullopt, "policy: daily limit (0 = none)");
ABSL_FLAG(std::optional<int64_t>, overdraft_limit, std::nullopt, "policy: overdraft limit");
ABSL_FLAG(std::string, status, "", "account status: active, suspended or closed");
ABSL_FLAG(int64_t, monthly_cap, 0, "team monthly cap (0 = none)");
ABSL_FLAG(std::string, memo, "", "memo of a grant or adjustment");
ABSL_FLAG(int64_t, ttl, 0, "hold TTL in seconds (server default 600, at most 86400)");
ABSL_FLAG(std::string, model, "",
          "model of a hold, debit or check (it prices their tokens); price list: its history");
ABSL_FLAG(std::vector<std::string>, metadata, {}, "metadata k=v,k2=v2 of a hold or debit");
ABSL_FLAG(std::string, hold, "", "hold id that a debit captures");
ABSL_FLAG(std::string, request_id, "", "caller's request id recorded with a debit");
ABSL_FLAG(int32_t, limit, 0, "page size of transfers (server default 100, at most 1000)");
ABSL_FLAG(std::string, page_token, "", "next_page_token of the previous page");
ABSL_FLAG(int64_t, since, 0, "transfers at or after this unix time in microseconds");
ABSL_FLAG(int64_t, until, 0, "transfers before this unix time in microseconds");
ABSL_FLAG(bool, fix, false, "reconcile: repair the cache and stored balances");
ABSL_FLAG(int64_t, as_of, 0, "resets run, price list: unix time in microseconds (0 = now)");
ABSL_FLAG(std::vector<std::string>, model_limit, {},
          "policy: MODEL=AMOUNT, a model's monthly limit (repeatable, or comma-separated)");
ABSL_FLAG(std::optional<int64_t>, input_per_million, std::nullopt,
          "price set: price of 1,000,000 input tokens");
ABSL_FLAG(std::optional<int64_t>, output_per_million, std::nullopt,
          "price set: price of 1,000,000 output tokens");
ABSL_FLAG(std::optional<int64_t>, cached_input_per_million, std::nullopt,
          "price set: price of 1,000,000 cached input tokens (default 0)");
ABSL_FLAG(int64_t, effective_at, 0, "price set: in force from this unix time in us (0 = now)");
ABSL_FLAG(std::optional<int64_t>, input_tokens, std::nullopt,
          "debit: input tokens used; authorize, check: input tokens of the estimate");
ABSL_FLAG(std::optional<int64_t>, output_tokens, std::nullopt, "debit: output tokens used");
ABSL_FLAG(std::optional<int64_t>, cached_input_tokens, std::nullopt,
          "debit: cached input tokens used");
ABSL_FLAG(std::optional<int64_t>, max_output_tokens, std::nullopt,
          "authorize, check: most output tokens of the estimate");
ABSL_FLAG(int64_t, occurred_at, 0,
          "debit: when the usage happened, unix time in us (0 = now); prices it");
