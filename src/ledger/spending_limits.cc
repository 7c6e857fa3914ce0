// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/spending_limits.h"

#include "absl/container/flat_hash_map.h"

namespace tokenledger {

CalendarWindows CurrentWindows(const TenantState& t, int64_t now_us) {
  if (now_us >= t.windows.day_start_us && now_us < t.windows.day_end_us) return t.windows;
  return WindowsAt(t.tz, absl::FromUnixMicros(now_us));
}

void RollModels(ModelBook& book, int64_t period_us) {
  book.window_period_us = period_us;
  // Models with nothing held or in flight leave the book: a new period starts it small.
  absl::erase_if(book.usage, [](auto& entry) {
    entry.second.period_spent = 0;
    return entry.second.held == 0 && entry.second.pending == 0;
  });
}

void CountUsage(TenantState& t, AccountState& a, int64_t amount, int64_t at_us, int64_t now_us,
                const std::string& model) {
  Roll(t, a, now_us);
  if (at_us >= a.window_period_us) {
    a.period_spent = SaturatedAdd(a.period_spent, amount);
    if (!model.empty()) {
      ModelBook& book = a.Models();
      if (book.window_period_us != a.window_period_us) RollModels(book, a.window_period_us);
      ModelUsage& u = book.UsageOf(model);
      u.period_spent = SaturatedAdd(u.period_spent, amount);
    }
    auto tm = a.team_id.empty() ? t.teams.end() : t.teams.find(a.team_id);
    if (tm != t.teams.end()) {
      tm->second.period_spent = SaturatedAdd(tm->second.period_spent, amount);
    }
  }
  if (at_us >= a.window_day_us) a.day_spent = SaturatedAdd(a.day_spent, amount);
}

}  // namespace tokenledger
