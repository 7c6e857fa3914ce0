// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The commands of BudgetService: accounts, teams, grants and adjustments, balances and
// transfers.
#include <cstdint>
#include <iostream>

#include "absl/flags/flag.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace tokenledger::cli {

int RunAccountUpsert(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: account upsert <account_id> [flags]");
  v1::UpsertAccountRequest req;
  req.set_account_id(args[0]);
  req.set_display_name(absl::GetFlag(FLAGS_display_name));
  req.set_team_id(absl::GetFlag(FLAGS_team));
  const auto allocation = absl::GetFlag(FLAGS_monthly_allocation);
  const auto rollover = absl::GetFlag(FLAGS_rollover_max);
  const auto daily = absl::GetFlag(FLAGS_daily_limit);
  const auto overdraft = absl::GetFlag(FLAGS_overdraft_limit);
  const bool model_limits = !absl::GetFlag(FLAGS_model_limit).empty();
  if (allocation || rollover || daily || overdraft || model_limits) {
    v1::Policy* policy = req.mutable_policy();
    policy->set_monthly_allocation(allocation.value_or(0));
    policy->set_rollover_max(rollover.value_or(0));
    policy->set_daily_limit(daily.value_or(0));
    policy->set_overdraft_limit(overdraft.value_or(0));
    if (!ParseModelLimits(policy->mutable_model_limits())) return kExitUsage;
  }
  v1::AccountStatus status;
  if (!ParseStatus(&status)) return kExitUsage;
  req.set_status(status);
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Budget().get(), &v1::BudgetService::Stub::UpsertAccount, req);
}

int RunTeamUpsert(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: team upsert <team_id> [--monthly-cap N]");
  v1::UpsertTeamRequest req;
  req.set_team_id(args[0]);
  req.set_display_name(absl::GetFlag(FLAGS_display_name));
  req.set_monthly_cap(absl::GetFlag(FLAGS_monthly_cap));
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Budget().get(), &v1::BudgetService::Stub::UpsertTeam, req);
}

int RunGrant(Client& client, const Args& args) {
  int64_t amount = 0;
  if (args.size() != 2) return UsageError("usage: grant <account_id> <amount> [--memo M]");
  if (!ParseAmount(args[1], "amount", &amount)) return kExitUsage;
  v1::GrantRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  req.set_memo(absl::GetFlag(FLAGS_memo));
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Budget().get(), &v1::BudgetService::Stub::Grant, req);
}

int RunAdjust(Client& client, const Args& args) {
  int64_t delta = 0;
  if (args.size() != 2) return UsageError("usage: adjust <account_id> <amount_delta> [--memo M]");
  if (!ParseAmount(args[1], "amount_delta", &delta)) return kExitUsage;
  v1::AdjustRequest req;
  req.set_account_id(args[0]);
  req.set_amount_delta(delta);
  req.set_memo(absl::GetFlag(FLAGS_memo));
  req.set_idempotency_key(client.IdempotencyKey());
  return client.Call(client.Budget().get(), &v1::BudgetService::Stub::Adjust, req);
}

int RunBalance(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: balance <account_id>");
  v1::GetBalanceRequest req;
  req.set_account_id(args[0]);
  return client.Call(client.Budget().get(), &v1::BudgetService::Stub::GetBalance, req);
}

int RunTransfers(Client& client, const Args& args) {
  if (args.size() != 1) return UsageError("usage: transfers <account_id> [--limit N]");
  v1::ListTransfersRequest req;
  req.set_account_id(args[0]);
  req.set_page_size(absl::GetFlag(FLAGS_limit));
  req.set_page_token(absl::GetFlag(FLAGS_page_token));
  req.set_since(absl::GetFlag(FLAGS_since));
  req.set_until(absl::GetFlag(FLAGS_until));
  return client.Call(client.Budget().get(), &v1::BudgetService::Stub::ListTransfers, req);
}

}  // namespace tokenledger::cli
