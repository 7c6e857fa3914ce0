// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Time for the ledger. Every read of the current time goes through a Clock, so that tests can
// cross day and month boundaries with a ManualClock. Thread-safe.
#ifndef TOKENLEDGER_CLOCK_H_
#define TOKENLEDGER_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tokenledger {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  int64_t NowMicros() const { return absl::ToUnixMicros(Now()); }
};

// The real wall clock.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  static SystemClock* Default() {
    static SystemClock clock;
    return &clock;
  }
};

// The wall clock shifted by a fixed offset. For end-to-end tests that must cross a month boundary
// without changing the machine's clock (tokenledgerd --clock-offset-seconds).
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(absl::Duration offset) : offset_(offset) {}
  absl::Time Now() const override { return absl::Now() + offset_; }

 private:
  const absl::Duration offset_;
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start) : micros_(absl::ToUnixMicros(start)) {}
  absl::Time Now() const override { return absl::FromUnixMicros(micros_.load()); }
  void Set(absl::Time t) { micros_.store(absl::ToUnixMicros(t)); }
  void Advance(absl::Duration d) { micros_.fetch_add(absl::ToInt64Microseconds(d)); }

 private:
  std::atomic<int64_t> micros_;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_CLOCK_H_
