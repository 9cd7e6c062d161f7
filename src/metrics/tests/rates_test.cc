#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "metrics/rates.h"

namespace sluice::metrics {
namespace {

using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;

const time_point t0 = time_point{} + 1000s;

TEST(metrics_rate_window, is_zero_with_fewer_than_two_observations) {
  rate_window r;
  EXPECT_EQ(r.per_second(1s), 0);
  r.observe(t0, 100);
  EXPECT_EQ(r.per_second(1s), 0);
  EXPECT_EQ(r.per_second(60s), 0);
}

TEST(metrics_rate_window, steady_rate_over_every_window) {
  rate_window r;
  for (int s = 0; s <= 30; ++s)
    r.observe(t0 + std::chrono::seconds(s), 10u * static_cast<std::uint64_t>(s));
  EXPECT_DOUBLE_EQ(r.per_second(1s), 10);
  EXPECT_DOUBLE_EQ(r.per_second(60s), 10); // over the 30 s there are
  EXPECT_DOUBLE_EQ(r.per_second(300s), 10);
}

TEST(metrics_rate_window, windows_see_a_change_of_rate) {
  rate_window r;
  auto total_at = [](int s) {
    return s <= 240 ? 10u * static_cast<std::uint64_t>(s)
                    : 2400u + 20u * static_cast<std::uint64_t>(s - 240);
  };
  for (int s = 0; s <= 300; ++s)
    r.observe(t0 + std::chrono::seconds(s), total_at(s));
  EXPECT_EQ(r.size(), 301u);
  EXPECT_DOUBLE_EQ(r.per_second(1s), 20);
  EXPECT_DOUBLE_EQ(r.per_second(60s), 20);
  EXPECT_DOUBLE_EQ(r.per_second(300s), 3600.0 / 300);
  EXPECT_DOUBLE_EQ(r.per_second(120s), (3600.0 - 1800) / 120);

  // The ring wraps: the 300 s window now starts at second 100.
  for (int s = 301; s <= 400; ++s)
    r.observe(t0 + std::chrono::seconds(s), total_at(s));
  EXPECT_EQ(r.size(), 301u);
  EXPECT_DOUBLE_EQ(r.per_second(300s), (total_at(400) - total_at(100)) / 300.0);
  EXPECT_DOUBLE_EQ(r.per_second(60s), 20);
}

TEST(metrics_rate_window, a_later_observation_in_the_same_second_replaces_the_earlier) {
  rate_window r;
  r.observe(t0, 0);
  r.observe(t0 + 500ms, 5);
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.per_second(1s), 0);
  r.observe(t0 + 1000ms, 10);
  r.observe(t0 + 1500ms, 20);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_DOUBLE_EQ(r.per_second(1s), 20.0 - 5); // from 0.5 s (which replaced 0 s) to 1.5 s
}

TEST(metrics_rate_window, picks_the_observation_closest_to_the_window_start) {
  rate_window r;
  r.observe(t0, 0);
  r.observe(t0 + 9s, 90);
  r.observe(t0 + 10s, 110);
  r.observe(t0 + 12s, 150);
  EXPECT_DOUBLE_EQ(r.per_second(1s), 20);               // from 10 s (2 s back, the closest)
  EXPECT_DOUBLE_EQ(r.per_second(3s), (150.0 - 90) / 3); // from 9 s, exactly 3 s back
  EXPECT_DOUBLE_EQ(r.per_second(60s), 150.0 / 12);      // all the history there is
}

TEST(metrics_rate_window, a_reset_counter_starts_afresh) {
  rate_window r;
  r.observe(t0, 1000);
  r.observe(t0 + 1s, 1100);
  r.observe(t0 + 2s, 5);
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.per_second(60s), 0);
  r.observe(t0 + 3s, 25);
  EXPECT_DOUBLE_EQ(r.per_second(60s), 20);
}

TEST(metrics_rate_window, an_observation_from_the_past_is_ignored) {
  rate_window r;
  r.observe(t0 + 5s, 50);
  r.observe(t0 + 6s, 60);
  r.observe(t0 + 1s, 0);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_DOUBLE_EQ(r.per_second(1s), 10);
}

} // namespace
} // namespace sluice::metrics
