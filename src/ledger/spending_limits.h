// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Spending limits: whether an account may reserve or spend more (its budget and overdraft, its
// daily limit, its team's monthly cap), the usage sums those limits count (per period and day of
// the tenant's calendar), and the checked and saturating arithmetic on amounts. The functions on
// a TenantState require its `mu`; the arithmetic is pure. The hot path calls the small ones for
// every Authorize: they are inline.
#ifndef TOKENLEDGER_LEDGER_SPENDING_LIMITS_H_
#define TOKENLEDGER_LEDGER_SPENDING_LIMITS_H_

#include <cstdint>
#include <limits>

#include "absl/base/thread_annotations.h"
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
}

// Changes an account's open holds, and its team's.
inline void AddHeld(TenantState& t, AccountState& a, int64_t delta)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
  a.held += delta;
  if (a.team_id.empty()) return;
  auto tm = t.teams.find(a.team_id);
  if (tm != t.teams.end()) tm->second.held += delta;
}

// Counts committed usage into the account's and its team's period and day sums.
void CountUsage(TenantState& t, AccountState& a, int64_t amount, int64_t at_us, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu);

// Whether a new reservation of `amount` is allowed, and if not why.
inline DenyReason Decide(TenantState& t, AccountState& a, int64_t amount, int64_t now_us)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.mu) {
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
  return DenyReason::kNone;
}

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_SPENDING_LIMITS_H_
