#include <gtest/gtest.h>

#include "base/histogram.h"

namespace sluice {
namespace {

TEST(histogram, buckets_are_monotonic_and_cover_their_values) {
  for (std::uint64_t v : {0ull, 1ull, 7ull, 8ull, 9ull, 15ull, 16ull, 1000ull, 123456789ull,
                          (1ull << 40) + 12345, ~0ull}) {
    int i = histogram::index_of(v);
    ASSERT_LT(i, histogram::k_buckets);
    EXPECT_GE(histogram::upper_bound_of(i), v);
    if (i > 0) {
      EXPECT_LT(histogram::upper_bound_of(i - 1), v);
    }
  }
}

TEST(histogram, quantiles_within_an_eighth) {
  histogram h;
  for (std::uint64_t v = 1; v <= 1000; ++v)
    h.record(v * 1000);
  EXPECT_EQ(h.count(), 1000u);
  auto p50 = h.quantile(0.5);
  EXPECT_GE(p50, 500000u);
  EXPECT_LE(p50, 500000u * 9 / 8);
  auto p99 = h.quantile(0.99);
  EXPECT_GE(p99, 990000u);
  EXPECT_LE(p99, 990000u * 9 / 8);
  EXPECT_EQ(h.count_at_most(~0ull), 1000u);
  h.reset();
  EXPECT_EQ(h.quantile(0.5), 0u);
}

TEST(histogram, a_value_recorded_n_times_counts_n_times) {
  histogram h;
  h.record(100, 99);
  h.record(1000000);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.sum(), 99u * 100 + 1000000);
  EXPECT_LE(h.quantile(0.99), 100u * 9 / 8);
  EXPECT_GE(h.quantile(1.0), 1000000u);
  EXPECT_EQ(h.count_at_most(128), 99u);
}

} // namespace
} // namespace sluice
