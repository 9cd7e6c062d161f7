#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/family.h"

namespace sluice::metrics {
namespace {

TEST(metrics_family, latency_bounds_are_the_documented_ones) {
  std::vector<double> expected = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
  auto bounds = latency_bounds();
  EXPECT_EQ(std::vector<double>(bounds.begin(), bounds.end()), expected);
}

TEST(metrics_family, histogram_seconds_converts_nanoseconds_to_cumulative_buckets) {
  sluice::histogram h;
  h.record(400'000);       // 0.4 ms
  h.record(2'000'000);     // 2 ms
  h.record(3'000'000'000); // 3 s
  auto s = histogram_seconds(h, {{"sink", "s"}}, latency_bounds());
  ASSERT_EQ(s.buckets.size(), 16u);
  std::vector<std::uint64_t> counts;
  for (const auto& b : s.buckets)
    counts.push_back(b.count);
  EXPECT_EQ(counts, (std::vector<std::uint64_t>{1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3}));
  EXPECT_EQ(s.buckets[2].le, 0.0025);
  EXPECT_EQ(s.count, 3u);
  EXPECT_DOUBLE_EQ(s.sum, 3.0024);
  EXPECT_EQ(s.labels, (label_set{{"sink", "s"}}));
}

TEST(metrics_family, histogram_seconds_of_an_empty_histogram) {
  sluice::histogram h;
  auto s = histogram_seconds(h, {}, latency_bounds());
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.sum, 0);
  for (const auto& b : s.buckets)
    EXPECT_EQ(b.count, 0u);
}

TEST(metrics_family, estimate_quantile_interpolates_like_prometheus) {
  sample s;
  s.buckets = {{1, 10}, {2, 20}};
  s.count = 20;
  EXPECT_DOUBLE_EQ(estimate_quantile(s, 0.5), 1.0);  // rank 10: the top of the first bucket
  EXPECT_DOUBLE_EQ(estimate_quantile(s, 0.25), 0.5); // rank 5: half-way into [0, 1]
  EXPECT_DOUBLE_EQ(estimate_quantile(s, 0.75), 1.5); // rank 15: half-way into [1, 2]
  s.count = 25;                                      // 5 above the last bound
  EXPECT_DOUBLE_EQ(estimate_quantile(s, 0.99), 2.0); // in +Inf: the highest finite bound
  s.buckets = {{1, 0}, {2, 4}};
  s.count = 4;
  EXPECT_DOUBLE_EQ(estimate_quantile(s, 0.5), 1.5); // skips the empty first bucket
}

TEST(metrics_family, estimate_quantile_without_observations_is_zero) {
  sample s;
  s.buckets = {{1, 0}};
  EXPECT_EQ(estimate_quantile(s, 0.5), 0);
  s.buckets.clear();
  s.count = 3;
  EXPECT_EQ(estimate_quantile(s, 0.5), 0);
}

} // namespace
} // namespace sluice::metrics
