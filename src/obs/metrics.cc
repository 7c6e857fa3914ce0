// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "obs/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tokenledger::obs {

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "metrics registry: %s\n", what.c_str());
  std::abort();
}

bool IsNameChar(char c, bool first, bool colon_ok) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (alpha || (colon_ok && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__" || name == "le") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, false)) return false;
  }
  return true;
}

// Backslashes and newlines escaped; double quotes too in label values (not in HELP text).
std::string Escape(std::string_view v, bool quotes) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="x",b="y"` without the closing brace (so that `le` can follow); empty when no labels.
std::string OpenLabels(const std::vector<std::string>& names,
                       const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "{" : ",", names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  return out;
}

std::string CloseLabels(const std::string& open) { return open.empty() ? "" : open + "}"; }

const char* TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// An unlabelled metric read at scrape time.
class CallbackFamily final : public FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, MetricType type, std::function<double()> read)
      : FamilyBase(std::move(name), std::move(help), type, {}), read_(std::move(read)) {}

 private:
  void RenderSeries(std::string& out) const override {
    absl::StrAppend(&out, name_, " ", FormatValue(read_()), "\n");
  }
  const std::function<double()> read_;
};

}  // namespace

// ---- Histogram --------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      Die("histogram bounds must be finite and increasing");
    }
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  // The first bound >= v: Prometheus buckets are "less than or equal".
  const size_t i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

// ---- formatting -------------------------------------------------------------------------------

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[400];
  // The shortest text that reads back as the same double, in plain notation where it is
  // readable (1, 0.25, 26451968, 1796024435.5) and scientific at the extremes (5e-05, 1e+21).
  const double magnitude = std::fabs(v);
  const bool plain = v == 0 || (magnitude >= 1e-4 && magnitude < 1e15);
  const auto r = std::to_chars(buf, buf + sizeof(buf), v,
                               plain ? std::chars_format::fixed : std::chars_format::general);
  return std::string(buf, r.ptr);
}

std::string EscapeLabelValue(std::string_view v) { return Escape(v, true); }

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, true)) return false;
  }
  return true;
}

// ---- families ---------------------------------------------------------------------------------

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {
  if (!IsValidMetricName(name_)) Die(absl::StrCat("malformed metric name '", name_, "'"));
  for (const auto& l : label_names_) {
    if (!IsValidLabelName(l)) Die(absl::StrCat(name_, ": malformed label name '", l, "'"));
  }
}

void FamilyBase::Render(std::string& out) const {
  absl::StrAppend(&out, "# HELP ", name_, " ", Escape(help_, false), "\n");
  absl::StrAppend(&out, "# TYPE ", name_, " ", TypeName(type_), "\n");
  RenderSeries(out);
}

template <>
void Family<Counter>::RenderSeries(std::string& out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, c] : series_) {
    absl::StrAppend(&out, name_, CloseLabels(OpenLabels(label_names_, values)), " ", c->Value(),
                    "\n");
  }
}

template <>
void Family<Gauge>::RenderSeries(std::string& out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, g] : series_) {
    absl::StrAppend(&out, name_, CloseLabels(OpenLabels(label_names_, values)), " ",
                    FormatValue(g->Value()), "\n");
  }
}

template <>
void Family<Histogram>::RenderSeries(std::string& out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, h] : series_) {
    const std::string open = OpenLabels(label_names_, values);
    const std::string le_prefix = open.empty() ? "{le=\"" : open + ",le=\"";
    const Histogram::Snapshot s = h->Read();
    const auto& bounds = h->upper_bounds();
    for (size_t i = 0; i <= bounds.size(); ++i) {
      const std::string le = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
      absl::StrAppend(&out, name_, "_bucket", le_prefix, le, "\"} ", s.cumulative[i], "\n");
    }
    const std::string labels = CloseLabels(open);
    absl::StrAppend(&out, name_, "_sum", labels, " ", FormatValue(s.sum), "\n");
    absl::StrAppend(&out, name_, "_count", labels, " ", s.cumulative.back(), "\n");
  }
}

// ---- registry ---------------------------------------------------------------------------------

void Registry::Add(std::unique_ptr<FamilyBase> family, const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    Die(absl::StrCat("metric '", name, "' registered twice"));
  }
  names_.push_back(name);
  families_.push_back(std::move(family));
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  return AddFamily<Counter>(std::move(name), std::move(help), MetricType::kCounter,
                            std::move(label_names), [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  return AddFamily<Gauge>(std::move(name), std::move(help), MetricType::kGauge,
                          std::move(label_names), [] { return std::make_unique<Gauge>(); });
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
  return AddFamily<Histogram>(std::move(name), std::move(help), MetricType::kHistogram,
                              std::move(label_names),
                              [upper_bounds] { return std::make_unique<Histogram>(upper_bounds); });
}

void Registry::AddCallbackGauge(std::string name, std::string help, std::function<double()> read) {
  Add(std::make_unique<CallbackFamily>(name, std::move(help), MetricType::kGauge, std::move(read)),
      name);
}

void Registry::AddCallbackCounter(std::string name, std::string help,
                                  std::function<double()> read) {
  Add(std::make_unique<CallbackFamily>(name, std::move(help), MetricType::kCounter,
                                       std::move(read)),
      name);
}

std::string Registry::Render() const {
  // Families are never removed: render them without the registry's lock, so that a callback
  // may take locks of its own.
  std::vector<const FamilyBase*> families;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& f : families_) families.push_back(f.get());
  }
  std::string out;
  for (const FamilyBase* f : families) f->Render(out);
  return out;
}

}  // namespace tokenledger::obs
