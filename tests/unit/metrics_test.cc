// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The metrics registry and its text exposition.
#include "obs/metrics.h"

#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenledger::obs {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CountersAndGaugesRenderWithHelpTypeAndSortedSeries) {
  Registry r;
  auto& calls = r.AddCounter("t_calls_total", "Calls.", {"method", "code"});
  calls.WithLabels({"Debit", "OK"}).Increment(3);
  calls.WithLabels({"Authorize", "OK"}).Increment();
  r.AddGauge("t_depth", "Depth.").WithLabels({}).Set(2.5);
  EXPECT_EQ(r.Render(),
            "# HELP t_calls_total Calls.\n"
            "# TYPE t_calls_total counter\n"
            "t_calls_total{method=\"Authorize\",code=\"OK\"} 1\n"
            "t_calls_total{method=\"Debit\",code=\"OK\"} 3\n"
            "# HELP t_depth Depth.\n"
            "# TYPE t_depth gauge\n"
            "t_depth 2.5\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("t_seconds", "Time.", {"m"}, {0.25, 0.5, 1}).WithLabels({"x"});
  h.Observe(0.25);  // on the bound: counted in it ("less than or equal")
  h.Observe(0.375);
  h.Observe(0.75);
  h.Observe(7);
  EXPECT_EQ(r.Render(),
            "# HELP t_seconds Time.\n"
            "# TYPE t_seconds histogram\n"
            "t_seconds_bucket{m=\"x\",le=\"0.25\"} 1\n"
            "t_seconds_bucket{m=\"x\",le=\"0.5\"} 2\n"
            "t_seconds_bucket{m=\"x\",le=\"1\"} 3\n"
            "t_seconds_bucket{m=\"x\",le=\"+Inf\"} 4\n"
            "t_seconds_sum{m=\"x\"} 8.375\n"
            "t_seconds_count{m=\"x\"} 4\n");
}

TEST(MetricsTest, UnlabelledHistogramAndCallbacks) {
  Registry r;
  r.AddHistogram("t_size", "Size.", {}, ExponentialBuckets(1, 2, 3)).WithLabels({}).Observe(3);
  int64_t depth = 5;
  r.AddCallbackGauge("t_queue", "Queue.", [&depth] { return static_cast<double>(depth); });
  r.AddCallbackCounter("t_done_total", "Done.", [] { return 12.0; });
  depth = 6;  // read at scrape time
  EXPECT_EQ(r.Render(),
            "# HELP t_size Size.\n"
            "# TYPE t_size histogram\n"
            "t_size_bucket{le=\"1\"} 0\n"
            "t_size_bucket{le=\"2\"} 0\n"
            "t_size_bucket{le=\"4\"} 1\n"
            "t_size_bucket{le=\"+Inf\"} 1\n"
            "t_size_sum 3\n"
            "t_size_count 1\n"
            "# HELP t_queue Queue.\n"
            "# TYPE t_queue gauge\n"
            "t_queue 6\n"
            "# HELP t_done_total Done.\n"
            "# TYPE t_done_total counter\n"
            "t_done_total 12\n");
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Registry r;
  r.AddCounter("t_total", "A \\ and a\nnewline.", {"v"})
      .WithLabels({"quote \" backslash \\ newline \n"})
      .Increment();
  EXPECT_EQ(r.Render(),
            "# HELP t_total A \\\\ and a\\nnewline.\n"
            "# TYPE t_total counter\n"
            "t_total{v=\"quote \\\" backslash \\\\ newline \\n\"} 1\n");
}

TEST(MetricsTest, ValuesAreWrittenPlainlyAndSpecialValuesAsPrometheusSpellsThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(0.00005), "5e-05");
  EXPECT_EQ(FormatValue(26451968), "26451968");
  EXPECT_EQ(FormatValue(1796024435.5), "1796024435.5");
  EXPECT_EQ(FormatValue(-2.25), "-2.25");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(MetricsTest, NamesAreChecked) {
  EXPECT_TRUE(IsValidMetricName("tokenledger_grpc_calls_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9lives"));
  EXPECT_FALSE(IsValidMetricName("has-dash"));
  Registry r;
  r.AddCounter("t_total", "x");
  EXPECT_DEATH(r.AddCounter("t_total", "again"), "registered twice");
  EXPECT_DEATH(r.AddGauge("bad name", "x"), "malformed metric name");
  EXPECT_DEATH(r.AddGauge("t_g", "x", {"le"}), "malformed label name");
}

TEST(MetricsTest, SeriesPastTheLimitAreDroppedNotKept) {
  Registry r;
  auto& f = r.AddCounter("t_total", "x", {"id"});
  for (size_t i = 0; i < FamilyBase::kSeriesMax + 10; ++i) {
    f.WithLabels({std::to_string(i)}).Increment();
  }
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("t_total{id=\"0\"} 1\n"));
  EXPECT_EQ(text.find(absl::StrCat("id=\"", FamilyBase::kSeriesMax, "\"")), std::string::npos);
  // A wrong number of label values is not kept either.
  f.WithLabels({"a", "b"}).Increment();
  EXPECT_EQ(r.Render(), text);
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  Registry r;
  auto& c = r.AddCounter("t_total", "x", {"k"});
  auto& h = r.AddHistogram("t_seconds", "x", {}, {0.5}).WithLabels({});
  auto& g = r.AddGauge("t_g", "x").WithLabels({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Counter& mine = c.WithLabels({"same"});
      for (int i = 0; i < 10000; ++i) {
        mine.Increment();
        h.Observe(1);
        g.Add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.WithLabels({"same"}).Value(), 40000u);
  EXPECT_EQ(h.Read().cumulative.back(), 40000u);
  EXPECT_EQ(h.Read().sum, 40000);
  EXPECT_EQ(g.Value(), 40000);
}

}  // namespace
}  // namespace tokenledger::obs
