// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "ledger/calendar.h"

#include "absl/time/civil_time.h"

namespace tokenledger {

CalendarWindows WindowsAt(const absl::TimeZone& tz, absl::Time at) {
  const absl::CivilSecond cs = absl::ToCivilSecond(at, tz);
  const absl::CivilMonth month(cs);
  const absl::CivilDay day(cs);
  return CalendarWindows{absl::ToUnixMicros(absl::FromCivil(month, tz)),
                         absl::ToUnixMicros(absl::FromCivil(month + 1, tz)),
                         absl::ToUnixMicros(absl::FromCivil(day, tz)),
                         absl::ToUnixMicros(absl::FromCivil(day + 1, tz))};
}

}  // namespace tokenledger
