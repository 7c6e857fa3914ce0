// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "bench/load.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/status_names.h"

namespace tokenledger::bench {

// ---- Histogram -----------------------------------------------------------------------------

Histogram::Histogram() : buckets_(kBuckets, 0) {}

int Histogram::Index(uint64_t ns) {
  if (ns < static_cast<uint64_t>(kSub)) return static_cast<int>(ns);
  const int e = 63 - __builtin_clzll(ns);  // >= kSubBits
  if (e > kMaxExponent) return kBuckets - 1;
  const int sub = static_cast<int>(ns >> (e - kSubBits)) - kSub;
  return (e - kSubBits + 1) * kSub + sub;
}

double Histogram::Midpoint(int index) {
  if (index < kSub) return index;
  const int block = index / kSub;  // >= 1
  const int sub = index % kSub;
  const double width = std::ldexp(1.0, block - 1);
  return (kSub + sub) * width + width / 2;
}

void Histogram::Add(int64_t ns) {
  const uint64_t v = ns < 0 ? 0 : static_cast<uint64_t>(ns);
  ++buckets_[Index(v)];
  ++count_;
  sum_ns_ += static_cast<double>(v);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
}

double Histogram::MeanMicros() const {
  return count_ == 0 ? 0 : sum_ns_ / static_cast<double>(count_) / 1000.0;
}

double Histogram::PercentileMicros(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return Midpoint(i) / 1000.0;
  }
  return Midpoint(kBuckets - 1) / 1000.0;
}

// ---- names ---------------------------------------------------------------------------------

std::string CodeName(int code) {
  if (code == kDenied) return "DENIED";
  if (code >= 0 && code < kGrpcCodeCount) return kGrpcCodeNames[code];
  return absl::StrCat("CODE_", code);
}

std::string RunResult::ErrorSummary() const {
  std::vector<std::string> parts;
  for (const auto& [code, n] : error_codes) parts.push_back(absl::StrCat(CodeName(code), " x", n));
  return absl::StrJoin(parts, ", ");
}

// ---- channels ------------------------------------------------------------------------------

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& target, int count) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // A private subchannel pool: channels with equal arguments would otherwise share one
    // connection, and the load would go through one HTTP/2 connection whatever `count` is.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    out.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  return out;
}

bool ConnectAll(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                absl::Duration timeout) {
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
  for (const auto& ch : channels) {
    if (!ch->WaitForConnected(deadline)) return false;
  }
  return true;
}

// ---- Slot and Runner -----------------------------------------------------------------------

namespace {
// The slot whose Start runs on this thread, and whether it completed inline (see Slot::Begin).
thread_local Slot* tl_starting = nullptr;
thread_local bool tl_restart = false;
}  // namespace

void Slot::Begin() {
  Slot* const outer = tl_starting;
  for (;;) {
    t0_ = Clock::now();
    ++seq_;
    tl_starting = this;
    tl_restart = false;
    op_->Start(*this);
    // Past this point another thread may already be running this slot's next operation: only
    // thread-locals are read here.
    const bool again = tl_restart;
    tl_starting = outer;
    tl_restart = false;
    if (!again) return;
  }
}

void Slot::Done(const grpc::Status& status, bool app_ok, const std::string& detail) {
  const Clock::time_point now = Clock::now();
  const bool good = status.ok() && app_ok;
  if (good) {
    ++total_ok_;
  } else {
    ++total_errors_;
    ++codes_[status.ok() ? kDenied : static_cast<int>(status.error_code())];
    runner_->NoteError(!detail.empty() ? detail
                                       : absl::StrCat(CodeName(status.error_code()), ": ",
                                                      status.error_message()));
  }
  if (t0_ >= runner_->measure_start_) {
    hist_.Add(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0_).count());
    if (good) {
      ++ok_;
    } else {
      ++errors_;
    }
    last_done_ = now;
  }
  if (!runner_->Claim(*this, now)) {
    runner_->Retire();
    return;
  }
  if (tl_starting == this) {  // completed inside Start: let Begin's loop start the next one
    tl_restart = true;
    return;
  }
  Begin();
}

bool Runner::Claim(Slot& slot, Clock::time_point now) {
  if (now >= deadline_) return false;
  if (stop_ != nullptr && stop_->load(std::memory_order_relaxed)) return false;
  if (max_ops_ > 0) {
    const int64_t t = next_ticket_.fetch_add(1, std::memory_order_relaxed);
    if (t >= max_ops_) return false;
    slot.ticket_ = t;
  }
  return true;
}

void Runner::Retire() {
  if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) all_done_.Notify();
}

void Runner::NoteError(const std::string& detail) {
  absl::MutexLock lock(&mu_);
  if (first_error_.empty()) first_error_ = detail;
}

RunResult Runner::Run(const std::string& target, const RunOptions& options,
                      const OpFactory& factory) {
  RunResult result;
  result.name = options.name;
  result.concurrency = options.concurrency;
  const int n = std::max(1, options.concurrency);
  const int per = std::max(1, options.per_channel);
  const int channel_count = (n + per - 1) / per;
  auto channels = MakeChannels(target, channel_count);
  if (!ConnectAll(channels, absl::Seconds(10))) {
    result.errors = result.total_errors = 1;
    result.error_codes[static_cast<int>(grpc::StatusCode::UNAVAILABLE)] = 1;
    result.first_error = absl::StrCat("cannot connect to ", target);
    return result;
  }

  Runner runner;
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<std::unique_ptr<SlotOp>> ops;
  for (int i = 0; i < n; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->runner_ = &runner;
    slot->index_ = i;
    slot->rng_.seed(options.seed * 1000003ull + static_cast<uint64_t>(i));
    ops.push_back(factory(i, channels[static_cast<size_t>(i % channel_count)]));
    slot->op_ = ops.back().get();
    slots.push_back(std::move(slot));
  }
  const Clock::time_point start = Clock::now();
  const auto warmup =
      options.max_ops > 0
          ? Clock::duration::zero()
          : std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(options.warmup));
  runner.measure_start_ = start + warmup;
  runner.deadline_ = runner.measure_start_ + std::chrono::duration_cast<Clock::duration>(
                                                 absl::ToChronoNanoseconds(options.duration));
  runner.max_ops_ = options.max_ops;
  runner.stop_ = options.stop;
  runner.live_.store(n);
  for (auto& slot : slots) {
    if (runner.Claim(*slot, Clock::now())) {
      slot->Begin();
    } else {
      runner.Retire();
    }
  }
  // Bounded: every RPC an operation makes carries a deadline.
  runner.all_done_.WaitForNotification();

  Clock::time_point last = runner.measure_start_;
  for (const auto& slot : slots) {
    result.latency.Merge(slot->hist_);
    result.ok += slot->ok_;
    result.errors += slot->errors_;
    result.total_ok += slot->total_ok_;
    result.total_errors += slot->total_errors_;
    for (const auto& [code, count] : slot->codes_) result.error_codes[code] += count;
    last = std::max(last, slot->last_done_);
  }
  result.seconds = std::chrono::duration<double>(last - runner.measure_start_).count();
  {
    absl::MutexLock lock(&runner.mu_);
    result.first_error = runner.first_error_;
  }
  return result;
}

}  // namespace tokenledger::bench
