// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The closed-loop load machinery of tokenledger-bench: a log-linear latency histogram and a
// runner that keeps N operations in flight over gRPC's callback client API, spread over several
// channels (separate connections), for a bounded time or a bounded count.
//
// An operation is anything that ends with exactly one call of Slot::Done: one RPC, or a chain of
// RPCs (a gateway cycle: Authorize then Debit). Each of the N slots runs its operations one after
// the other, the next one started from the completion of the previous (no thread per slot).
#ifndef TOKENLEDGER_BENCH_LOAD_H_
#define TOKENLEDGER_BENCH_LOAD_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace tokenledger::bench {

using Clock = std::chrono::steady_clock;

// Latencies in nanoseconds, log-linear: exact below 128 ns, then 128 buckets per power of two,
// so a bucket is at most 0.78% wide and a percentile (the bucket's midpoint) within 0.4%.
// Not thread-safe: one per slot, merged at the end.
class Histogram {
 public:
  Histogram();
  void Add(int64_t ns);
  void Merge(const Histogram& other);
  uint64_t count() const { return count_; }
  double MeanMicros() const;
  // q in [0, 1]; 0 when empty.
  double PercentileMicros(double q) const;

 private:
  static constexpr int kSubBits = 7;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kMaxExponent = 40;  // 2^40 ns, about 18 minutes: values above clamp
  static constexpr int kBuckets = (kMaxExponent - kSubBits + 2) * kSub;
  static int Index(uint64_t ns);
  static double Midpoint(int index);

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  double sum_ns_ = 0;
};

// The figures of one run.
struct RunResult {
  std::string name;  // e.g. "Authorize"
  int concurrency = 0;
  // Operations started inside the measured window (after the warm-up).
  uint64_t ok = 0;
  uint64_t errors = 0;
  double seconds = 0;  // from the window's start to the last measured completion
  Histogram latency;
  // Every operation, warm-up included (what the server acknowledged).
  uint64_t total_ok = 0;
  uint64_t total_errors = 0;
  // Error kinds: a gRPC status code, or kDenied for an answer that was OK but not a success.
  std::map<int, uint64_t> error_codes;
  std::string first_error;

  double Rate() const { return seconds > 0 ? static_cast<double>(ok + errors) / seconds : 0; }
  double OkRate() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  std::string ErrorSummary() const;  // e.g. "UNAVAILABLE x3, DENIED x1"
};

inline constexpr int kDenied = -1;

class Runner;
class SlotOp;

// One of the N in-flight places. Its operations run one after the other, so nothing in it needs
// a lock: the completion of one operation starts the next.
class Slot {
 public:
  int index() const { return index_; }
  // Per run, 0, 1, 2, ... across all slots: the item an operation works on in count mode.
  int64_t ticket() const { return ticket_; }
  // Per slot: the number of the operation (for unique idempotency keys).
  uint64_t seq() const { return seq_; }
  std::mt19937_64& rng() { return rng_; }

  // Ends the current operation. `app_ok` false: the call succeeded but the answer was not the
  // expected one (e.g. Authorize DENIED). `detail` describes a failure (first one kept).
  void Done(const grpc::Status& status, bool app_ok = true, const std::string& detail = "");

 private:
  friend class Runner;
  // Starts operations until one does not complete inline (a trampoline: an RPC that fails at
  // once may call Done before Start returns, and recursing there could exhaust the stack).
  void Begin();

  Runner* runner_ = nullptr;
  int index_ = 0;
  int64_t ticket_ = 0;
  uint64_t seq_ = 0;
  Clock::time_point t0_;
  std::mt19937_64 rng_;
  Histogram hist_;
  uint64_t ok_ = 0, errors_ = 0, total_ok_ = 0, total_errors_ = 0;
  Clock::time_point last_done_{};
  std::map<int, uint64_t> codes_;
  SlotOp* op_ = nullptr;
};

// What a slot does: Start begins one operation and arranges for slot.Done to be called exactly
// once when it ends (from any thread). One SlotOp per slot: it may keep per-call state in
// members (request, response, ClientContext), since its operations never overlap.
class SlotOp {
 public:
  virtual ~SlotOp() = default;
  virtual void Start(Slot& slot) = 0;
};

using OpFactory =
    std::function<std::unique_ptr<SlotOp>(int slot, const std::shared_ptr<grpc::Channel>& ch)>;

struct RunOptions {
  std::string name;
  int concurrency = 1;
  absl::Duration warmup = absl::Milliseconds(500);  // operations started before are not measured
  absl::Duration duration = absl::Seconds(5);       // the measured window
  int64_t max_ops = 0;  // > 0: count mode, stop after this many operations (tickets)
  int per_channel = 8;  // in-flight operations per channel (connection)
  uint64_t seed = 1;
  // When set and it turns true, no further operation starts (a run ended by an event, not by
  // its duration): those in flight finish, and the run returns.
  const std::atomic<bool>* stop = nullptr;
};

// Channels to `target` that do not share a connection (each has its own subchannel pool).
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& target, int count);
// Waits until every channel is connected; false when one is not within `timeout`.
bool ConnectAll(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                absl::Duration timeout);

class Runner {
 public:
  // Runs to completion: every operation in flight at the end is waited for (their RPCs carry
  // deadlines, so this is bounded). Fails (error_codes[UNAVAILABLE]) when it cannot connect.
  static RunResult Run(const std::string& target, const RunOptions& options,
                       const OpFactory& factory);

 private:
  friend class Slot;
  // Whether `slot` may start another operation now; gives it its ticket.
  bool Claim(Slot& slot, Clock::time_point now);
  void Retire();
  void NoteError(const std::string& detail);

  Clock::time_point measure_start_;
  Clock::time_point deadline_;
  int64_t max_ops_ = 0;
  const std::atomic<bool>* stop_ = nullptr;
  std::atomic<int64_t> next_ticket_{0};
  std::atomic<int> live_{0};
  absl::Notification all_done_;
  absl::Mutex mu_;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

// "OK", "UNAVAILABLE", ..., or "DENIED" for kDenied.
std::string CodeName(int code);

}  // namespace tokenledger::bench

#endif  // TOKENLEDGER_BENCH_LOAD_H_
