// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// A tenant's calendar: the period (calendar month) and day containing an instant, in the
// tenant's time zone, by abseil's civil time (never hand-rolled month arithmetic). Pure
// functions; thread-safe.
#ifndef TOKENLEDGER_LEDGER_CALENDAR_H_
#define TOKENLEDGER_LEDGER_CALENDAR_H_

#include <cstdint>

#include "absl/time/time.h"

namespace tokenledger {

// The tenant's current calendar period (month) and day, in its time zone.
struct CalendarWindows {
  int64_t period_start_us = 0;
  int64_t period_end_us = 0;
  int64_t day_start_us = 0;
  int64_t day_end_us = 0;
};

// The calendar month and day containing `at` in `tz`.
CalendarWindows WindowsAt(const absl::TimeZone& tz, absl::Time at);

}  // namespace tokenledger

#endif  // TOKENLEDGER_LEDGER_CALENDAR_H_
