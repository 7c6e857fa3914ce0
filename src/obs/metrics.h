// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// A small Prometheus metrics registry: counters, gauges and histograms with fixed buckets, in
// families with labels, plus callback gauges and counters read at scrape time. Render() writes
// the text exposition format 0.0.4.
//
// Recording is cheap: a Counter, Gauge or Histogram is a few atomics, and recording takes no lock
// and allocates nothing. Finding a labelled series (Family::WithLabels) takes the family's lock:
// resolve series once and keep the reference (references stay valid for the registry's life).
//
// Thread-safe. Registering a metric whose name is taken or malformed is a programmer error and
// aborts.
#ifndef TOKENLEDGER_OBS_METRICS_H_
#define TOKENLEDGER_OBS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tokenledger::obs {

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets with fixed upper bounds (sorted, finite; +Inf is implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);

  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Bucket bounds: `count` bounds from `start`, each `factor` times the last.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

// The series of one metric name, one per combination of label values.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  // Appends "# HELP", "# TYPE" and every series.
  void Render(std::string& out) const;

  // Series past this many are not kept (their recordings go to a sink that is not rendered).
  static constexpr size_t kSeriesMax = 1000;

 protected:
  virtual void RenderSeries(std::string& out) const = 0;
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        make_(std::move(make)),
        overflow_(make_()) {}

  // The series with these label values (in the order of the label names), made on first use.
  T& WithLabels(std::initializer_list<std::string_view> values) {
    std::vector<std::string> key(values.begin(), values.end());
    if (key.size() != label_names_.size()) return *overflow_;  // a programmer error; not kept
    absl::MutexLock lock(&mu_);
    auto it = series_.find(key);
    if (it != series_.end()) return *it->second;
    if (series_.size() >= kSeriesMax) return *overflow_;
    return *series_.emplace(std::move(key), make_()).first->second;
  }

 private:
  void RenderSeries(std::string& out) const override;

  const std::function<std::unique_ptr<T>()> make_;
  const std::unique_ptr<T> overflow_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_ ABSL_GUARDED_BY(mu_);
};

template <>
void Family<Counter>::RenderSeries(std::string& out) const;
template <>
void Family<Gauge>::RenderSeries(std::string& out) const;
template <>
void Family<Histogram>::RenderSeries(std::string& out) const;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> upper_bounds);
  // Unlabelled metrics whose value `read` gives at scrape time. `read` must be thread-safe and
  // must not call back into the registry.
  void AddCallbackGauge(std::string name, std::string help, std::function<double()> read);
  void AddCallbackCounter(std::string name, std::string help, std::function<double()> read);

  // The text exposition format 0.0.4 of every metric, in the order registered.
  std::string Render() const;

 private:
  void Add(std::unique_ptr<FamilyBase> family, const std::string& name);
  template <typename T>
  Family<T>& AddFamily(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names,
                       std::function<std::unique_ptr<T>()> make) {
    auto f = std::make_unique<Family<T>>(name, std::move(help), type, std::move(label_names),
                                         std::move(make));
    Family<T>& out = *f;
    Add(std::move(f), name);
    return out;
  }

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> names_ ABSL_GUARDED_BY(mu_);
};

// Helpers of the exposition format, exposed for tests.
std::string FormatValue(double v);                 // 1, 0.25, +Inf, NaN
std::string EscapeLabelValue(std::string_view v);  // \\, \", \n
bool IsValidMetricName(std::string_view name);

}  // namespace tokenledger::obs

#endif  // TOKENLEDGER_OBS_METRICS_H_
