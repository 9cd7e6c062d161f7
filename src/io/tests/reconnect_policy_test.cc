#include <chrono>
#include <vector>

#include <gtest/gtest.h>

#include "io/reconnect_policy.h"

namespace sluice::io {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using time_point = std::chrono::steady_clock::time_point;

reconnect_settings no_jitter() {
  reconnect_settings s;
  s.jitter_percent = 0;
  return s;
}

std::vector<nanoseconds> delays(reconnect_policy& p, disconnect_reason r, int n) {
  std::vector<nanoseconds> out;
  for (int i = 0; i < n; ++i) {
    auto d = p.failed(r);
    EXPECT_FALSE(d.give_up);
    EXPECT_EQ(d.attempt, static_cast<std::uint64_t>(i + 1));
    out.push_back(d.delay);
  }
  return out;
}

TEST(reconnect_policy, network_is_linear_from_250ms_capped_at_16s) {
  reconnect_policy p(no_jitter());
  std::vector<nanoseconds> want = {250ms, 500ms, 750ms, 1s, 1250ms, 1500ms, 1750ms, 2s};
  EXPECT_EQ(delays(p, disconnect_reason::network, 8), want);
  EXPECT_EQ(p.base_delay(disconnect_reason::network, 64), 16s);
  EXPECT_EQ(p.base_delay(disconnect_reason::network, 65), 16s);
  EXPECT_EQ(p.base_delay(disconnect_reason::network, 63), 15750ms);
  EXPECT_EQ(p.base_delay(disconnect_reason::network, 1'000'000'000'000), 16s);
}

TEST(reconnect_policy, a_stall_is_a_network_error) {
  reconnect_policy p(no_jitter());
  EXPECT_EQ(p.failed(disconnect_reason::network).delay, 250ms);
  // Same class, same counter: the stall is the second network attempt.
  auto d = p.failed(disconnect_reason::stall);
  EXPECT_EQ(d.attempt, 2u);
  EXPECT_EQ(d.delay, 500ms);
}

TEST(reconnect_policy, http_errors_double_from_5s_capped_at_320s) {
  reconnect_policy p(no_jitter());
  std::vector<nanoseconds> want = {5s, 10s, 20s, 40s, 80s, 160s, 320s, 320s};
  EXPECT_EQ(delays(p, disconnect_reason::http_error, 8), want);
}

TEST(reconnect_policy, rate_limiting_doubles_from_60s_capped_at_960s) {
  reconnect_policy p(no_jitter());
  std::vector<nanoseconds> want = {60s, 120s, 240s, 480s, 960s, 960s, 960s, 960s};
  EXPECT_EQ(delays(p, disconnect_reason::rate_limited, 8), want);
}

TEST(reconnect_policy, classes_count_apart) {
  reconnect_policy p(no_jitter());
  EXPECT_EQ(p.failed(disconnect_reason::http_error).delay, 5s);
  EXPECT_EQ(p.failed(disconnect_reason::network).delay, 250ms);
  EXPECT_EQ(p.failed(disconnect_reason::http_error).delay, 10s);
  auto d = p.failed(disconnect_reason::rate_limited);
  EXPECT_EQ(d.delay, 60s);
  EXPECT_EQ(d.attempt, 1u);
  EXPECT_EQ(d.failures, 4u);
  EXPECT_EQ(p.attempts(disconnect_reason::http_error), 2u);
  EXPECT_EQ(p.attempts(disconnect_reason::stall), 1u);
}

TEST(reconnect_policy, configured_numbers) {
  reconnect_settings s;
  s.jitter_percent = 0;
  s.network_initial = 1ms;
  s.network_step = 2ms;
  s.network_max = 6ms;
  s.http_initial = 3ms;
  s.http_max = 20ms;
  s.rate_limit_initial = 7ms;
  s.rate_limit_max = 7ms;
  reconnect_policy p(s);
  std::vector<nanoseconds> net = {1ms, 3ms, 5ms, 6ms, 6ms};
  std::vector<nanoseconds> http = {3ms, 6ms, 12ms, 20ms, 20ms};
  std::vector<nanoseconds> rate = {7ms, 7ms, 7ms};
  EXPECT_EQ(delays(p, disconnect_reason::network, 5), net);
  EXPECT_EQ(delays(p, disconnect_reason::http_error, 5), http);
  EXPECT_EQ(delays(p, disconnect_reason::rate_limited, 3), rate);
}

TEST(reconnect_policy, retry_after_wins_only_when_larger) {
  reconnect_policy p(no_jitter());
  EXPECT_EQ(p.failed(disconnect_reason::rate_limited, nanoseconds(90s)).delay, 90s);
  EXPECT_EQ(p.failed(disconnect_reason::rate_limited, nanoseconds(90s)).delay, 120s);
  EXPECT_EQ(p.failed(disconnect_reason::rate_limited, nanoseconds(30s)).delay, 240s);
  EXPECT_EQ(p.failed(disconnect_reason::http_error, nanoseconds(7s)).delay, 7s);
  EXPECT_EQ(p.failed(disconnect_reason::http_error, nanoseconds(7s)).delay, 10s);
}

TEST(reconnect_policy, jitter_takes_its_share_of_the_injected_random) {
  reconnect_settings s;
  s.jitter_percent = 20;
  double r = 0.5;
  reconnect_policy p(s, {}, [&] { return r; });
  EXPECT_EQ(p.failed(disconnect_reason::http_error).delay, 4500ms); // 5 s less 10%
  r = 0.0;
  EXPECT_EQ(p.failed(disconnect_reason::http_error).delay, 10s);
  r = 0.25;
  EXPECT_EQ(p.failed(disconnect_reason::network).delay, 237500us); // 250 ms less 5%
  // Retry-After is not jittered: never earlier than the server asked.
  r = 0.5;
  EXPECT_EQ(p.failed(disconnect_reason::rate_limited, nanoseconds(60s)).delay, 60s);
}

TEST(reconnect_policy, jitter_defaults_to_a_random_share_of_at_most_20_percent) {
  reconnect_policy p(reconnect_settings{});
  for (int i = 0; i < 1000; ++i) {
    p.reset();
    auto d = p.failed(disconnect_reason::http_error).delay;
    EXPECT_LE(d, 5s);
    EXPECT_GE(d, 4s);
  }
}

TEST(reconnect_policy, resets_after_a_connection_delivered_for_stable_after) {
  time_point now{};
  reconnect_policy p(no_jitter(), [&] { return now; });
  delays(p, disconnect_reason::http_error, 3);
  delays(p, disconnect_reason::network, 2);
  // Up and delivering for 29.999 s: not stable, the counters go on.
  p.connected();
  p.delivering();
  now += 29999ms;
  p.delivering();
  EXPECT_EQ(p.failed(disconnect_reason::network).delay, 750ms);
  // Up for 30 s but silent (no data): not stable either.
  p.connected();
  now += 30s;
  EXPECT_EQ(p.failed(disconnect_reason::http_error).delay, 40s);
  // Up and delivering for 30 s: every counter starts again.
  p.connected();
  p.delivering();
  now += 30s;
  p.delivering();
  EXPECT_EQ(p.attempts(disconnect_reason::http_error), 0u);
  EXPECT_EQ(p.attempts(disconnect_reason::network), 0u);
  auto d = p.failed(disconnect_reason::http_error);
  EXPECT_EQ(d.delay, 5s);
  EXPECT_EQ(d.failures, 1u);
  EXPECT_EQ(p.failed(disconnect_reason::network).delay, 250ms);
  // A failure after stable_after without a delivering() since: still a reset.
  p.connected();
  p.delivering();
  now += 31s;
  EXPECT_EQ(p.failed(disconnect_reason::network).delay, 250ms);
}

TEST(reconnect_policy, gives_up_after_max_retries) {
  auto s = no_jitter();
  s.max_retries = 3;
  time_point now{};
  reconnect_policy p(s, [&] { return now; });
  EXPECT_FALSE(p.failed(disconnect_reason::network).give_up);
  EXPECT_FALSE(p.failed(disconnect_reason::http_error).give_up);
  auto d = p.failed(disconnect_reason::network);
  EXPECT_TRUE(d.give_up);
  EXPECT_EQ(d.failures, 3u);
  // A stable connection in between starts the count again.
  p.reset();
  p.failed(disconnect_reason::network);
  p.failed(disconnect_reason::network);
  p.connected();
  p.delivering();
  now += 30s;
  EXPECT_FALSE(p.failed(disconnect_reason::network).give_up);
  EXPECT_FALSE(p.failed(disconnect_reason::network).give_up);
  EXPECT_TRUE(p.failed(disconnect_reason::network).give_up);
}

TEST(reconnect_policy, unlimited_by_default) {
  reconnect_policy p(no_jitter());
  for (int i = 0; i < 10000; ++i)
    ASSERT_FALSE(p.failed(disconnect_reason::network).give_up);
  EXPECT_EQ(p.failed(disconnect_reason::network).delay, 16s);
}

TEST(reconnect_policy, statuses_by_class) {
  for (int s : {401, 403, 404, 406, 413, 416}) {
    EXPECT_EQ(reason_of_status(s), disconnect_reason::fatal) << s;
    EXPECT_FALSE(fatal_status_hint(s).empty()) << s;
  }
  EXPECT_EQ(fatal_status_hint(401), "check auth");
  EXPECT_EQ(fatal_status_hint(413), "too many track terms");
  for (int s : {420, 429})
    EXPECT_EQ(reason_of_status(s), disconnect_reason::rate_limited) << s;
  for (int s : {500, 502, 503, 504, 400, 410, 302})
    EXPECT_EQ(reason_of_status(s), disconnect_reason::http_error) << s;
  reconnect_policy p(no_jitter());
  EXPECT_TRUE(p.failed(disconnect_reason::fatal).give_up);
}

} // namespace
} // namespace sluice::io
