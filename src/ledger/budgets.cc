// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/budgets.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "ledger/errors.h"
#include "ledger/ids.h"
#include "ledger/spending_limits.h"
#include "types/validate.h"

namespace tokenledger {
namespace {

absl::Status ValidateAccount(const AccountRecord& account, const IdemArgs& idem) {
  absl::Status v = ValidateId("account_id", account.account_id);
  if (v.ok()) v = ValidateText("display_name", account.display_name);
  if (v.ok()) v = ValidateOptionalId("team_id", account.team_id);
  if (v.ok() && account.policy) v = ValidatePolicy(*account.policy);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  return v;
}

// Moves the account to team `team_id`: its usage and holds move with it.
void MoveToTeam(TenantState& ts, AccountState& a, const std::string& team_id, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
  auto old_team = ts.teams.find(a.team_id);
  if (old_team != ts.teams.end()) {
    old_team->second.period_spent -= a.period_spent;
    old_team->second.held -= a.held;
  }
  a.team_id = team_id;
  auto new_team = ts.teams.find(a.team_id);
  if (new_team != ts.teams.end()) {
    Roll(ts, a, now_us);
    new_team->second.period_spent += a.period_spent;
    new_team->second.held += a.held;
  }
}

// Reserves (sign +1) or gives back (-1) what a credit in flight holds on both accounts.
void ReserveCredit(TenantState& ts, const TransferRecord& tr, int sign)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
  ts.accounts.at(tr.credit_account_id).pending_credit += sign * tr.amount;
  ts.accounts.at(tr.debit_account_id).pending_debit += sign * tr.amount;
}

}  // namespace

absl::StatusOr<std::optional<TransferRecord>> Budgets::FirstAllocation(
    TenantState& t, const AccountRecord& account, const AccountState* existing, int64_t period,
    int64_t now_us, Mutation& m) const {
  const int64_t allocation = account.policy->monthly_allocation;
  m.periods.push_back(
      PeriodRecord{account.tenant_id, account.account_id, period, 0, 0, allocation, now_us});
  if (allocation <= 0) return std::nullopt;
  const AccountState& funding = t.accounts.at(kFundingAccount);
  const PostedTotals mine = existing == nullptr ? PostedTotals{} : existing->posted;
  if (!FitsAdd(mine.credits, existing == nullptr ? 0 : existing->pending_credit, allocation) ||
      !FitsAdd(funding.posted.debits, funding.pending_debit, allocation)) {
    return Overflow("policy.monthly_allocation");
  }
  TransferRecord grant{.tenant_id = account.tenant_id,
                       .transfer_id = NewId("t_"),
                       .debit_account_id = std::string(kFundingAccount),
                       .credit_account_id = account.account_id,
                       .amount = allocation,
                       .kind = TransferKind::kResetGrant,
                       .created_at_us = now_us,
                       .memo = "monthly allocation (policy set mid-period)"};
  m.transfers.push_back(grant);
  return grant;
}

void Budgets::UpsertAccount(const std::string& tenant, AccountRecord account, const IdemArgs& idem,
                            ResultCallback done) {
  if (absl::Status v = ValidateAccount(account, idem); !v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return std::move(done)(TenantNotFound());
  TenantState& t = *owner;
  account.tenant_id = tenant;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  if (AnswerFromIdempotency(t, idem, done, later)) return;
  if (!account.team_id.empty() && !t.teams.contains(account.team_id)) {
    return later.Answer(std::move(done), absl::NotFoundError(absl::StrCat(
                                             "team_id: team '", account.team_id, "' not found")));
  }
  auto found = t.accounts.find(account.account_id);
  const AccountState* existing = found == t.accounts.end() ? nullptr : &found->second;
  if (static_cast<int>(account.status) == 0) {  // unspecified: keep the current status
    account.status = existing == nullptr ? AccountStatus::kActive : existing->status;
  }
  const int64_t now = cx_.clock->NowMicros();
  account.created_at_us = now;
  Mutation m;
  m.account = account;
  OpResult result{.id = account.account_id, .flag = existing == nullptr};
  // An account that gets a policy mid-period receives the period's allocation at once, in the
  // same transaction (and only once per period: the period row guards it).
  const int64_t period = CurrentWindows(t, now).period_start_us;
  std::optional<TransferRecord> first_grant;
  if (account.policy && account.status != AccountStatus::kClosed &&
      (existing == nullptr || (!existing->has_policy && existing->last_reset_us < period))) {
    auto grant = FirstAllocation(t, account, existing, period, now, m);
    if (!grant.ok()) return later.Answer(std::move(done), grant.status());
    first_grant = *std::move(grant);
  }
  const bool granted_period = !m.periods.empty();
  auto apply = [clock = cx_.clock, account, first_grant, granted_period, period](TenantState& ts)
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
                     AccountState& a = ts.accounts[account.account_id];
                     const int64_t now_us = clock->NowMicros();
                     Roll(ts, a, now_us);
                     if (a.team_id != account.team_id) MoveToTeam(ts, a, account.team_id, now_us);
                     a.SetPolicy(account.policy);
                     a.status = account.status;
                     if (granted_period) a.last_reset_us = std::max(a.last_reset_us, period);
                     if (first_grant) ApplyPostedTransfer(ts.accounts, *first_grant);
                   };
  SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), nullptr, std::move(done),
               later);
}

void Budgets::UpsertTeam(const std::string& tenant, TeamRecord team, const IdemArgs& idem,
                         ResultCallback done) {
  absl::Status v = ValidateId("team_id", team.team_id);
  if (v.ok()) v = ValidateText("display_name", team.display_name);
  if (v.ok()) v = ValidateAmount("monthly_cap", team.monthly_cap, /*allow_zero=*/true);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return std::move(done)(TenantNotFound());
  TenantState& t = *owner;
  team.tenant_id = tenant;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  if (AnswerFromIdempotency(t, idem, done, later)) return;
  Mutation m;
  m.team = team;
  OpResult result{.id = team.team_id, .flag = !t.teams.contains(team.team_id)};
  auto apply = [team](TenantState& ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
    TeamState& tm = ts.teams[team.team_id];  // keeps the members' usage and holds
    tm.display_name = team.display_name;
    tm.monthly_cap = team.monthly_cap;
  };
  SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), nullptr, std::move(done),
               later);
}

void Budgets::Credit(const std::string& tenant, const std::string& account_id, int64_t amount,
                     TransferKind kind, absl::string_view source, const std::string& memo,
                     const IdemArgs& idem, ResultCallback done) {
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return std::move(done)(TenantNotFound());
  TenantState& t = *owner;
  DeferredAnswers later;  // given after the lock is released
  absl::MutexLock lock(&t.mu);
  if (AnswerFromIdempotency(t, idem, done, later)) return;
  auto acct = t.accounts.find(account_id);
  if (acct == t.accounts.end()) return later.Answer(std::move(done), AccountNotFound(account_id));
  if (acct->second.status == AccountStatus::kClosed) {
    return later.Answer(std::move(done), AccountClosed());
  }
  AccountState& src = t.accounts.at(source);
  if (!FitsAdd(acct->second.posted.credits, acct->second.pending_credit, amount) ||
      !FitsAdd(acct->second.posted.granted, acct->second.pending_credit, amount) ||
      !FitsAdd(src.posted.debits, src.pending_debit, amount)) {
    return later.Answer(std::move(done), Overflow("amount"));
  }
  TransferRecord tr{.tenant_id = tenant,
                    .transfer_id = NewId("t_"),
                    .debit_account_id = std::string(source),
                    .credit_account_id = account_id,
                    .amount = amount,
                    .kind = kind,
                    .created_at_us = cx_.clock->NowMicros(),
                    .memo = memo,
                    .idempotency_key = idem.key};
  OpResult result{.id = tr.transfer_id,
                  .amount = amount,
                  .available = SaturatedAdd(acct->second.Available(), amount)};
  Mutation m;
  m.transfers.push_back(tr);
  auto apply = [tr](TenantState& ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) {
    ReserveCredit(ts, tr, -1);
    ApplyPostedTransfer(ts.accounts, tr);
  };
  auto undo = [tr](TenantState& ts)
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(ts.mu) { ReserveCredit(ts, tr, -1); };
  if (SubmitLocked(cx_, t, idem, result, std::move(m), std::move(apply), std::move(undo),
                   std::move(done), later)) {
    ReserveCredit(t, tr, +1);
  }
}

void Budgets::Grant(const std::string& tenant, const std::string& account_id, int64_t amount,
                    const std::string& memo, const IdemArgs& idem, ResultCallback done) {
  absl::Status v = ValidateId("account_id", account_id);
  if (v.ok()) v = ValidateAmount("amount", amount);
  if (v.ok()) v = ValidateText("memo", memo);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  Credit(tenant, account_id, amount, TransferKind::kGrant, kFundingAccount, memo, idem,
         std::move(done));
}

void Budgets::Adjust(const std::string& tenant, const std::string& account_id, int64_t amount_delta,
                     const std::string& memo, const IdemArgs& idem, ResultCallback done) {
  absl::Status v = ValidateId("account_id", account_id);
  if (v.ok() && amount_delta == 0) v = absl::InvalidArgumentError("amount_delta: must not be 0");
  if (v.ok() && (amount_delta > kAmountMax || amount_delta < -kAmountMax)) {
    v = absl::InvalidArgumentError("amount_delta: magnitude larger than 2^62");
  }
  if (v.ok()) v = ValidateText("memo", memo);
  if (v.ok()) v = ValidateIdempotencyKey(idem.key);
  if (!v.ok()) return std::move(done)(v);
  if (amount_delta > 0) {
    return Credit(tenant, account_id, amount_delta, TransferKind::kAdjustment, kAdjustmentsAccount,
                  memo, idem, std::move(done));
  }
  DebitArgs args{.account_id = account_id, .amount = -amount_delta};
  holds_.Spend(tenant, args, TransferKind::kAdjustment, kAdjustmentsAccount, memo, idem,
               std::move(done));
}

absl::StatusOr<BalanceView> Budgets::GetBalance(const std::string& tenant,
                                                const std::string& account_id) const {
  if (auto v = ValidateId("account_id", account_id); !v.ok()) return v;
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return TenantNotFound();
  TenantState& t = *owner;
  absl::MutexLock lock(&t.mu);
  auto it = t.accounts.find(account_id);
  if (it == t.accounts.end()) return AccountNotFound(account_id);
  const AccountState& a = it->second;
  const CalendarWindows w = CurrentWindows(t, cx_.clock->NowMicros());
  BalanceView view{.account_id = account_id,
                   .posted = a.posted,
                   .held = a.held,
                   .pending_debit = a.pending_debit,
                   .available = a.Available(),
                   .status = a.status,
                   .unit = t.record.unit,
                   .period_start_us = w.period_start_us,
                   .period_end_us = w.period_end_us,
                   .period_spent = a.window_period_us == w.period_start_us ? a.period_spent : 0,
                   .day_spent = a.window_day_us == w.day_start_us ? a.day_spent : 0};
  if (a.models != nullptr && a.models->window_period_us == w.period_start_us) {
    for (const auto& [model, usage] : a.models->usage) {
      if (usage.period_spent > 0) view.model_spent.emplace_back(model, usage.period_spent);
    }
    std::sort(view.model_spent.begin(), view.model_spent.end());
  }
  return view;
}

absl::StatusOr<AccountRecord> Budgets::GetAccount(const std::string& tenant,
                                                  const std::string& account_id) const {
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(tenant);
  if (!owner) return TenantNotFound();
  TenantState& t = *owner;
  absl::MutexLock lock(&t.mu);
  auto it = t.accounts.find(account_id);
  if (it == t.accounts.end()) return AccountNotFound(account_id);
  AccountRecord r{.tenant_id = tenant,
                  .account_id = account_id,
                  .team_id = it->second.team_id,
                  .status = it->second.status};
  r.policy = it->second.GetPolicy();
  return r;
}

absl::StatusOr<std::vector<TransferRecord>> Budgets::ListTransfers(
    const TransferQuery& query) const {
  if (auto v = ValidateId("account_id", query.account_id); !v.ok()) return v;
  std::shared_ptr<TenantState> owner = cx_.tenants.Find(query.tenant_id);
  if (!owner) return TenantNotFound();
  {
    TenantState& t = *owner;
    absl::MutexLock lock(&t.mu);
    if (!t.accounts.contains(query.account_id)) return AccountNotFound(query.account_id);
  }
  return cx_.reader->ListTransfers(query);
}

}  // namespace tokenledger
