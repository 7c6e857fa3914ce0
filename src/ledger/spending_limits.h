// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Spending limits: whether an account may reserve or spend more (its budget and overdraft, its
// daily limit, its team's monthly cap, its model limits), the usage sums those limits count (per
// period and day of the tenant's calendar), and the checked and saturating arithmetic on amounts.
// The functions on a TenantState require its `mu`; the arithmetic is pure. The hot path calls the
// small ones for every Authorize: they are inline.
#ifndef TOKENLEDGER_LEDGER_SPENDING_LIMITS_H_
#define TOKENLEDGER_LEDGER_SPENDING_LIMITS_H_

#include <cstdint>
#include <limits>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ledger/calendar.h"
#include "ledger/tenant_state.h"
#include "tokenledger/types.h"

namespace tokenledger {

// Whether a + b + c fits an int64.
inline bool FitsAdd(int64_t a, int64_t b, int64_t c) {
  int64_t s;
  return CheckedAdd(a, b, s) && CheckedAdd(s, c, s);
}

inline int64_t SaturatedSub(int64_t a, int64_t b) {
  int64_t out;
  if (CheckedSub(a, b, out)) return out;
  return b > 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

inline int64_t SaturatedAdd(int64_t a, int64_t b) {
  int64_t out;
  if (CheckedAdd(a, b, out)) return out;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

// Whether `amount` more may be reserved or spent on `a` without passing its budget.
inline bool Affordable(const AccountState& a, int64_t amount) {
  const __int128 room = static_cast<__int128>(a.Available()) + a.policy.overdraft_limit;
  return room >= amount;
}

// The tenant's windows at `now_us`, from its state when they still cover `now_us`.
CalendarWindows CurrentWindows(const TenantState& t, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

// Starts the period `period_us` in a book of models: their period spend reads 0.
void RollModels(ModelBook& book, int64_t period_us);

// Moves the account's (and its team's) usage sums to the windows of `now_us`.
inline void Roll(TenantState& t, AccountState& a, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  if (now_us < t.windows.day_start_us || now_us >= t.windows.day_end_us) {
    t.windows = WindowsAt(t.tz, absl::FromUnixMicros(now_us));
  }
  if (a.window_period_us != t.windows.period_start_us) {
    a.window_period_us = t.windows.period_start_us;
    a.period_spent = 0;
  }
  if (a.window_day_us != t.windows.day_start_us) {
    a.window_day_us = t.windows.day_start_us;
    a.day_spent = 0;
  }
  if (!a.team_id.empty()) {
    auto tm = t.teams.find(a.team_id);
    if (tm != t.teams.end() && tm->second.window_period_us != t.windows.period_start_us) {
      tm->second.window_period_us = t.windows.period_start_us;
      tm->second.period_spent = 0;
    }
  }
  if (a.models != nullptr && a.models->window_period_us != t.windows.period_start_us) {
    RollModels(*a.models, t.windows.period_start_us);
  }
}

// Changes an account's open holds, and its team's.
inline void AddHeld(TenantState& t, AccountState& a, int64_t delta)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  a.held += delta;
  if (a.team_id.empty()) return;
  auto tm = t.teams.find(a.team_id);
  if (tm != t.teams.end()) tm->second.held += delta;
}

// Changes what an open hold of `model` holds against the account's limit of that model: a hold
// counts there when the account limits its model as it is placed (HoldState::model is then set).
inline void AddModelHeld(AccountState& a, const std::string& model, int64_t delta) {
  if (!model.empty()) a.Models().UsageOf(model).held += delta;
}

// The model whose limit a new hold of `model` counts against: `model` when the account limits
// it, else empty.
inline std::string LimitedModel(const AccountState& a, const std::string& model) {
  if (a.models == nullptr || model.empty() || a.models->LimitOf(model) == nullptr) return {};
  return model;
}

// Counts committed usage into the account's and its team's period and day sums, and into its
// model's period spend when `model` is named.
void CountUsage(TenantState& t, AccountState& a, int64_t amount, int64_t at_us, int64_t now_us,
                const std::string& model = {}) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

// Whether `amount` more on `model` passes the account's limit of that model (none: never).
inline bool PassesModelLimit(const AccountState& a, absl::string_view model, int64_t amount) {
  if (a.models == nullptr || model.empty()) return false;
  const ModelLimit* limit = a.models->LimitOf(model);
  if (limit == nullptr) return false;
  auto u = a.models->usage.find(model);
  if (u == a.models->usage.end()) return amount > limit->limit;
  const __int128 used =
      static_cast<__int128>(u->second.period_spent) + u->second.held + u->second.pending + amount;
  return used > limit->limit;
}

// Whether a new reservation of `amount` (for `model`) is allowed, and if not why.
inline DenyReason Decide(TenantState& t, AccountState& a, int64_t amount, int64_t now_us,
                         absl::string_view model = {}) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  if (a.status != AccountStatus::kActive) return DenyReason::kAccountSuspended;
  if (!Affordable(a, amount)) return DenyReason::kInsufficientBudget;
  Roll(t, a, now_us);
  if (a.has_policy && a.policy.daily_limit > 0) {
    const __int128 day = static_cast<__int128>(a.day_spent) + a.held + a.pending_debit + amount;
    if (day > a.policy.daily_limit) return DenyReason::kDailyLimit;
  }
  if (!a.team_id.empty()) {
    auto tm = t.teams.find(a.team_id);
    if (tm != t.teams.end() && tm->second.monthly_cap > 0) {
      const __int128 team =
          static_cast<__int128>(tm->second.period_spent) + tm->second.held + amount;
      if (team > tm->second.monthly_cap) return DenyReason::kTeamLimit;
    }
  }
  if (PassesModelLimit(a, model, amount)) return DenyReason::kModelLimit;
  return DenyReason::kNone;
}

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_SPENDING_LIMITS_H_
