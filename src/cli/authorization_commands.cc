// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The commands of AuthorizationService: authorize, debit, release, check. Each takes an
// <amount>, or instead token counts that the server prices (--input-tokens with
// --output-tokens for a debit, --max-output-tokens for an estimate): not both, not neither.
#include <cstdint>
#include <iostream>
#include <optional>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace tokenledger::cli {

namespace {

// The token flags of a debit as its usage; nullopt when none is given (unset ones are 0).
std::optional<v1::TokenUsage> UsageFromFlags() {
  const auto input = absl::GetFlag(FLAGS_input_tokens);
  const auto output = absl::GetFlag(FLAGS_output_tokens);
  const auto cached = absl::GetFlag(FLAGS_cached_input_tokens);
  if (!input && !output && !cached) return std::nullopt;
  v1::TokenUsage usage;
  usage.set_input_tokens(input.value_or(0));
  usage.set_output_tokens(output.value_or(0));
  usage.set_cached_input_tokens(cached.value_or(0));
  return usage;
}

// The token flags of an authorize or check as its estimate; nullopt when none is given.
std::optional<v1::UsageEstimate> EstimateFromFlags() {
  const auto input = absl::GetFlag(FLAGS_input_tokens);
  const auto max_output = absl::GetFlag(FLAGS_max_output_tokens);
  if (!input && !max_output) return std::nullopt;
  v1::UsageEstimate estimate;
  estimate.set_input_tokens(input.value_or(0));
  estimate.set_max_output_tokens(max_output.value_or(0));
  return estimate;
}

// False (after a usage error) when `command` got a token flag of the other form: a debit reports
// what was used, an estimate says what may be.
bool NoFlagOfTheOtherForm(absl::string_view command, bool estimate) {
  if (estimate &&
      (absl::GetFlag(FLAGS_output_tokens) || absl::GetFlag(FLAGS_cached_input_tokens))) {
    UsageError(absl::StrCat(command, " estimates with --input-tokens and --max-output-tokens"));
    return false;
  }
  if (!estimate && absl::GetFlag(FLAGS_max_output_tokens)) {
    UsageError(absl::StrCat(command,
                            " reports --input-tokens, --output-tokens and "
                            "--cached-input-tokens (--max-output-tokens is an estimate's)"));
    return false;
  }
  return true;
}

// The <amount> of args[1], or token flags (`tokens`): exactly one of them. False (after a usage
// error naming `usage`) otherwise.
bool AmountOrTokens(const Args& args, bool tokens, absl::string_view usage, int64_t* amount) {
  if (args.size() == 2 && tokens) {
    UsageError("give an <amount> or token counts, not both");
    return false;
  }
  if (args.size() == 2) return ParseAmount(args[1], "amount", amount);
  if (args.size() == 1 && tokens) return true;
  UsageError(usage);
  return false;
}

}  // namespace

int RunAuthorize(Client& client, const Args& args) {
  const std::optional<v1::UsageEstimate> estimate = EstimateFromFlags();
  int64_t amount = 0;
  if (!NoFlagOfTheOtherForm("authorize", /*estimate=*/true) ||
      !AmountOrTokens(args, estimate.has_value(),
                      "usage: authorize <account_id> (<amount> | --input-tokens N "
                      "--max-output-tokens N) [--model M] [--ttl S]",
                      &amount)) {
    return kExitUsage;
  }
  v1::AuthorizeRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  if (estimate) *req.mutable_estimate() = *estimate;
  req.set_hold_ttl_seconds(absl::GetFlag(FLAGS_ttl));
  req.set_model(absl::GetFlag(FLAGS_model));
  if (!ParseMetadata(req.mutable_metadata())) return kExitUsage;
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Authz().get(), &v1::AuthorizationService::Stub::Authorize, req);
}

int RunDebit(Client& client, const Args& args) {
  const std::optional<v1::TokenUsage> usage = UsageFromFlags();
  int64_t amount = 0;
  if (!NoFlagOfTheOtherForm("debit", /*estimate=*/false) ||
      !AmountOrTokens(args, usage.has_value(),
                      "usage: debit <account_id> (<amount> | --input-tokens N --output-tokens N "
                      "[--cached-input-tokens N]) [--model M] [--hold H]",
                      &amount)) {
    return kExitUsage;
  }
  v1::DebitRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  if (usage) *req.mutable_usage() = *usage;
  req.set_occurred_at(absl::GetFlag(FLAGS_occurred_at));
  req.set_hold_id(absl::GetFlag(FLAGS_hold));
  req.set_request_id(absl::GetFlag(FLAGS_request_id));
  req.set_model(absl::GetFlag(FLAGS_model));
  if (!ParseMetadata(req.mutable_metadata())) return kExitUsage;
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Authz().get(), &v1::AuthorizationService::Stub::Debit, req);
}

int RunRelease(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: release <hold_id>");
  v1::ReleaseRequest req;
  req.set_hold_id(args[0]);
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Authz().get(), &v1::AuthorizationService::Stub::Release, req);
}

int RunCheck(Client& client, const Args& args) {
  const std::optional<v1::UsageEstimate> estimate = EstimateFromFlags();
  int64_t amount = 0;
  if (!NoFlagOfTheOtherForm("check", /*estimate=*/true) ||
      !AmountOrTokens(args, estimate.has_value(),
                      "usage: check <account_id> (<amount> | --input-tokens N "
                      "--max-output-tokens N) [--model M]",
                      &amount)) {
    return kExitUsage;
  }
  v1::CheckRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  if (estimate) *req.mutable_estimate() = *estimate;
  req.set_model(absl::GetFlag(FLAGS_model));
  return client.Call(client.Authz().get(), &v1::AuthorizationService::Stub::Check, req);
}

}  // namespace tokenledger::cli
