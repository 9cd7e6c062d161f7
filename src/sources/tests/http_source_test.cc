#include <string>

#include <gtest/gtest.h>

#include "firehose/generator.h"
#include "firehose/server.h"
#include "sources/http_source.h"
#include "sources/tests/source_helpers.h"
#include "support/firehose_fixture.h"
#include "support/socket_sender.h"

namespace sluice::sources {
namespace {

using namespace testing;
using sluice::testing::closed_port;
using sluice::testing::firehose_on_loopback;
using sluice::testing::read_all_fd;
using sluice::testing::tcp_listen_any;

config::source_config http_cfg(std::uint16_t port, bool post, settings_items more = {}) {
  auto cfg = source_cfg("fh", config::record_format::json);
  cfg.max_record_bytes = 1 << 20;
  cfg.default_type = "tweet";
  settings_items h = {
      {"url", "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json"},
      {"method", std::string(post ? "POST" : "GET")},
      {"params", config::option_entries{{"track", {"Bears", "Packers"}}}},
      {"reconnect", fast_reconnect()}};
  for (auto& [n, v] : more)
    sluice::testing::set(h, n, std::move(v));
  cfg.settings = source_settings("http", std::move(h));
  return cfg;
}

// A firehose that hangs up every 700 events and resumes on the next connection: the source
// reconnects, and the queue holds ranks 1..3000 of the filtered stream in order, each once,
// typed by the control-message rule.
TEST(http_source, streams_and_reconnects_without_loss) {
  for (bool post : {false, true}) {
    temp_dir d;
    auto q = open_queue(d / "q");
    firehose::server_options so;
    so.stream.seed = 11;
    so.count = 3000;
    so.disconnect_every = 700;
    so.resume = true;
    firehose_on_loopback fh(so);
    ASSERT_NE(fh.port, 0);

    io_runner io(1);
    http_source src(http_cfg(fh.port, post), *q, d.path());
    ASSERT_TRUE(src.start(io.io).has_value());
    auto events = wait_for_events(*q, 3000);
    ASSERT_EQ(events.size(), 3000u);
    firehose::generator g(so.stream, firehose::stream_filter{{"Bears", "Packers"}, {}});
    std::size_t deletes = 0, limits = 0;
    for (std::uint64_t r = 1; r <= 3000; ++r) {
      const auto& e = events[r - 1];
      ASSERT_EQ(e.payload, g.line_at(r)) << "rank " << r;
      ASSERT_EQ(e.source, "fh");
      auto kind = firehose::kind_of(so.stream, r);
      if (kind == firehose::event_kind::delete_notice) {
        ++deletes;
        ASSERT_EQ(e.type, "delete");
      } else if (kind == firehose::event_kind::limit_notice) {
        ++limits;
        ASSERT_EQ(e.type, "limit");
      } else {
        ASSERT_EQ(e.type, "tweet");
      }
    }
    EXPECT_GT(deletes, 50u);
    EXPECT_EQ(limits, 3u);
    EXPECT_GE(src.stats().reconnects.load(), 4u);
    EXPECT_EQ(src.stats().records.load(), 3000u);
    EXPECT_EQ(src.last_status(), 200);
    src.stop();
    EXPECT_EQ(src.state(), source_state::stopped);
    fh.server.stop();
    ASSERT_TRUE(q->close().has_value());
  }
}

// A backfill larger than what the server sends per connection: the firehose closes every
// connection after 1,000 events and resumes where the last one ended, and the source asks each
// connection for the 5,000 events before it, so a connection brings only events already queued.
// Each such connection halves the next request's backfill (counted), and the source gets every
// event, each once, in order.
TEST(http_source, a_backfill_larger_than_what_a_connection_brings_still_makes_progress) {
  temp_dir d;
  auto q = open_queue(d / "q");
  firehose::server_options so;
  so.stream.seed = 5;
  so.count = 6000;
  so.disconnect_every = 1000;
  so.resume = true;
  firehose_on_loopback fh(so);
  ASSERT_NE(fh.port, 0);

  io_runner io(1);
  http_source src(
      http_cfg(fh.port, false,
               {{"backfill", std::int64_t{5000}}, {"dedupe_window", std::int64_t{8000}}}),
      *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  auto events = wait_for_events(*q, 6000);
  ASSERT_EQ(events.size(), 6000u);
  firehose::generator g(so.stream, firehose::stream_filter{{"Bears", "Packers"}, {}});
  for (std::uint64_t r = 1; r <= 6000; ++r)
    ASSERT_EQ(events[r - 1].payload, g.line_at(r)) << "rank " << r;
  // After the first connection (ranks 1..1000) each new one is asked for 5,000, 2,500 and 1,250
  // before its resume point (nothing new), then 625 (375 new ones): three stalls per step.
  EXPECT_GE(src.stats().backfill_stalls.load(), 3u * 13);
  EXPECT_EQ(src.stats().records.load(), 6000u);
  src.stop();
  fh.server.stop();
  ASSERT_TRUE(q->close().has_value());
}

// The first two connections get HTTP 503: each is a counted failure and the source backs off,
// then streams (an endless stream, so no later attempt fails).
TEST(http_source, backs_off_on_an_error_status) {
  temp_dir d;
  auto q = open_queue(d / "q");
  firehose::server_options so;
  so.rate = 10000;
  so.status = 503;
  so.status_first = 2;
  so.resume = true;
  firehose_on_loopback fh(so);
  ASSERT_NE(fh.port, 0);
  io_runner io(1);
  http_source src(http_cfg(fh.port, false), *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  auto events = wait_for_events(*q, 100);
  EXPECT_GE(events.size(), 100u);
  EXPECT_EQ(src.stats().connect_failures.load(), 2u);
  EXPECT_EQ(src.stats().disconnects_by(io::disconnect_reason::http_error), 2u);
  EXPECT_EQ(src.stats().disconnects_by(io::disconnect_reason::network), 0u);
  EXPECT_EQ(src.stats().last_error(), "HTTP 503 from http://127.0.0.1:" + std::to_string(fh.port) +
                                          "/1.1/statuses/filter.json");
  EXPECT_EQ(src.last_status(), 200);
  EXPECT_EQ(src.stats().connects.load(), 1u);
  EXPECT_EQ(src.stats().backoff_ns.load(), 0);
  EXPECT_EQ(src.state(), source_state::connected);
  src.stop();
  fh.server.stop();
  ASSERT_TRUE(q->close().has_value());
}

// A server that accepts and then says nothing: the stall timeout ends the connection and the
// source tries again; stop() returns promptly while it waits.
TEST(http_source, a_silent_server_is_a_stall) {
  temp_dir d;
  auto q = open_queue(d / "q");
  std::uint16_t port = 0;
  int lfd = tcp_listen_any(port);
  io_runner io(1);
  http_source src(http_cfg(port, false), *q, d.path(), std::chrono::milliseconds(100));
  ASSERT_TRUE(src.start(io.io).has_value());
  int c1 = ::accept(lfd, nullptr, nullptr);
  ASSERT_GE(c1, 0);
  // The source closes the stalled connection and connects again.
  read_all_fd(c1);
  int c2 = ::accept(lfd, nullptr, nullptr);
  ASSERT_GE(c2, 0);
  EXPECT_GE(src.stats().connect_failures.load(), 1u);
  EXPECT_GE(src.stats().disconnects_by(io::disconnect_reason::stall), 1u);
  src.stop();
  EXPECT_EQ(src.state(), source_state::stopped);
  ::close(c1);
  ::close(c2);
  ::close(lfd);
  ASSERT_TRUE(q->close().has_value());
}

TEST(http_source, a_bad_url_fails_at_start) {
  temp_dir d;
  auto q = open_queue(d / "q");
  auto cfg = http_cfg(1, false, {{"url", std::string("ftp://example.com/")}});
  io_runner io(1);
  http_source src(cfg, *q, d.path());
  EXPECT_FALSE(src.start(io.io).has_value());
  EXPECT_EQ(src.state(), source_state::failed);
  EXPECT_TRUE(src.stats().last_error().starts_with("bad URL ftp://example.com/: "))
      << src.stats().last_error();
  ASSERT_TRUE(q->close().has_value());
}

std::uint64_t disconnects(const source& s, io::disconnect_reason r) {
  return s.stats().disconnects_by(r);
}

// Each fatal status ends the source after exactly one attempt, in state failed, with an error
// that names the status and what to fix; the firehose would have streamed on a second request.
TEST(http_source, a_fatal_status_fails_after_one_attempt) {
  const std::pair<int, std::string> fatal[] = {
      {401, "check auth"},           {403, "the account may not use this endpoint"},
      {404, "check the URL"},        {406, "check params / Accept"},
      {413, "too many track terms"}, {416, "check params"}};
  for (const auto& [status, hint] : fatal) {
    SCOPED_TRACE(status);
    temp_dir d;
    auto q = open_queue(d / "q");
    firehose::server_options so;
    so.status = static_cast<unsigned>(status);
    so.status_first = 1;
    firehose_on_loopback fh(so);
    ASSERT_NE(fh.port, 0);
    io_runner io(1);
    http_source src(http_cfg(fh.port, false), *q, d.path());
    ASSERT_TRUE(src.start(io.io).has_value());
    ASSERT_TRUE(wait_until([&] { return src.state() == source_state::failed; }));
    EXPECT_EQ(src.stats().last_error(), "HTTP " + std::to_string(status) +
                                            " from http://127.0.0.1:" + std::to_string(fh.port) +
                                            "/1.1/statuses/filter.json: " + hint);
    EXPECT_EQ(disconnects(src, io::disconnect_reason::fatal), 1u);
    EXPECT_EQ(src.stats().connect_failures.load(), 1u);
    EXPECT_EQ(src.stats().connects.load(), 0u);
    EXPECT_EQ(src.last_status(), status);
    EXPECT_EQ(fh.server.stats().connections, 1u);
    src.stop();
    EXPECT_EQ(src.state(), source_state::failed); // stop() keeps the reason visible
    EXPECT_EQ(fh.server.stats().connections, 1u);
    fh.server.stop();
    ASSERT_TRUE(q->close().has_value());
  }
}

// 420 and 429 are rate limiting, counted apart from error statuses; then the stream flows.
TEST(http_source, rate_limiting_is_counted_as_such) {
  for (unsigned status : {420u, 429u}) {
    SCOPED_TRACE(status);
    temp_dir d;
    auto q = open_queue(d / "q");
    firehose::server_options so;
    so.rate = 10000;
    so.status = status;
    so.status_first = 2;
    firehose_on_loopback fh(so);
    ASSERT_NE(fh.port, 0);
    io_runner io(1);
    http_source src(http_cfg(fh.port, false), *q, d.path());
    ASSERT_TRUE(src.start(io.io).has_value());
    EXPECT_GE(wait_for_events(*q, 10).size(), 10u);
    EXPECT_EQ(disconnects(src, io::disconnect_reason::rate_limited), 2u);
    EXPECT_EQ(disconnects(src, io::disconnect_reason::http_error), 0u);
    EXPECT_EQ(src.stats().connects.load(), 1u);
    src.stop();
    fh.server.stop();
    ASSERT_TRUE(q->close().has_value());
  }
}

// A closed port: each refused attempt is a network disconnect, and the delays are those
// configured. With 1 ms then +1 h, exactly two attempts are made and the source then waits
// 1 h + 1 ms (the gauge, without jitter); stop() does not wait for it.
TEST(http_source, a_refused_connection_backs_off_linearly) {
  temp_dir d;
  auto q = open_queue(d / "q");
  using std::chrono::nanoseconds;
  auto cfg = http_cfg(
      closed_port(), false,
      {{"reconnect", fast_reconnect({{"network_initial", nanoseconds(1'000'000)},
                                     {"network_step", nanoseconds(std::chrono::hours(1))},
                                     {"network_max", nanoseconds(std::chrono::hours(2))}})}});
  io_runner io(1);
  http_source src(cfg, *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  const auto second =
      std::chrono::nanoseconds(std::chrono::hours(1) + std::chrono::milliseconds(1));
  ASSERT_TRUE(wait_until([&] { return src.stats().backoff_ns.load() == second.count(); }));
  EXPECT_EQ(disconnects(src, io::disconnect_reason::network), 2u);
  EXPECT_EQ(src.stats().connect_failures.load(), 2u);
  EXPECT_EQ(src.state(), source_state::backing_off);
  EXPECT_NE(src.stats().last_error().find("refused"), std::string::npos)
      << src.stats().last_error();
  src.stop();
  EXPECT_EQ(src.state(), source_state::stopped);
  EXPECT_EQ(disconnects(src, io::disconnect_reason::network), 2u);

  // With the test's 1 ms delays the attempts go on, all of the network class.
  http_source fast(http_cfg(closed_port(), false), *q, d.path());
  ASSERT_TRUE(fast.start(io.io).has_value());
  ASSERT_TRUE(wait_until([&] { return disconnects(fast, io::disconnect_reason::network) >= 10; }));
  fast.stop();
  EXPECT_EQ(disconnects(fast, io::disconnect_reason::http_error), 0u);
  EXPECT_EQ(disconnects(fast, io::disconnect_reason::stall), 0u);
  EXPECT_EQ(fast.stats().connects.load(), 0u);
  ASSERT_TRUE(q->close().has_value());
}

// The firehose stops sending (and keeps the connection open) after 50 ranks: the stall timeout
// ends the connection, counted as a stall, and the source reconnects and resumes.
TEST(http_source, a_stall_is_counted_and_reconnected) {
  temp_dir d;
  auto q = open_queue(d / "q");
  firehose::server_options so;
  so.stream.seed = 5;
  so.stall_after = 50;
  so.resume = true;
  firehose_on_loopback fh(so);
  ASSERT_NE(fh.port, 0);
  io_runner io(1);
  http_source src(http_cfg(fh.port, false), *q, d.path(), std::chrono::milliseconds(100));
  ASSERT_TRUE(src.start(io.io).has_value());
  EXPECT_EQ(wait_for_events(*q, 100).size(), 100u);
  EXPECT_GE(disconnects(src, io::disconnect_reason::stall), 1u);
  EXPECT_GE(src.stats().connects.load(), 2u);
  EXPECT_GE(src.stats().reconnects.load(), 1u);
  EXPECT_EQ(disconnects(src, io::disconnect_reason::network), 0u);
  src.stop();
  fh.server.stop();
  ASSERT_TRUE(q->close().has_value());
}

// max_retries = 3 against a closed port: three attempts, then failed with the reason.
TEST(http_source, gives_up_after_max_retries) {
  temp_dir d;
  auto q = open_queue(d / "q");
  auto port = closed_port();
  auto cfg =
      http_cfg(port, false, {{"reconnect", fast_reconnect({{"max_retries", std::int64_t{3}}})}});
  io_runner io(1);
  http_source src(cfg, *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  ASSERT_TRUE(wait_until([&] { return src.state() == source_state::failed; }));
  auto err = src.stats().last_error();
  EXPECT_TRUE(err.starts_with("gave up after 3 attempts: stream http://127.0.0.1:" +
                              std::to_string(port) + "/1.1/statuses/filter.json: "))
      << err;
  EXPECT_NE(err.find("refused"), std::string::npos) << err;
  EXPECT_EQ(disconnects(src, io::disconnect_reason::network), 3u);
  EXPECT_EQ(src.stats().connect_failures.load(), 3u);
  EXPECT_EQ(src.stats().backoff_ns.load(), 0);
  src.stop();
  EXPECT_EQ(src.state(), source_state::failed);
  ASSERT_TRUE(q->close().has_value());
}

// A 429 with Retry-After: the larger of it and the class's delay is waited, exactly (no jitter
// on Retry-After). The gauge shows it; stop() does not wait for it.
TEST(http_source, retry_after_is_honoured_when_larger) {
  using std::chrono::hours;
  using std::chrono::seconds;
  struct scenario {
    std::uint32_t retry_after;
    std::chrono::nanoseconds rate_limit_initial;
    std::chrono::nanoseconds waited;
  };
  const scenario cases[] = {
      {3600, std::chrono::milliseconds(1), seconds(3600)}, // Retry-After larger: it wins
      {1, hours(2), hours(2)},                             // smaller: the class's delay
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.retry_after);
    temp_dir d;
    auto q = open_queue(d / "q");
    firehose::server_options so;
    so.status = 429;
    so.status_first = 1;
    so.retry_after = c.retry_after;
    firehose_on_loopback fh(so);
    ASSERT_NE(fh.port, 0);
    io_runner io(1);
    auto cfg = http_cfg(
        fh.port, false,
        {{"reconnect",
          fast_reconnect({{"rate_limit_initial", std::chrono::nanoseconds(c.rate_limit_initial)},
                          {"rate_limit_max", std::chrono::nanoseconds(hours(3))}})}});
    http_source src(cfg, *q, d.path());
    ASSERT_TRUE(src.start(io.io).has_value());
    ASSERT_TRUE(wait_until([&] { return src.stats().backoff_ns.load() == c.waited.count(); }));
    EXPECT_EQ(disconnects(src, io::disconnect_reason::rate_limited), 1u);
    EXPECT_EQ(src.state(), source_state::backing_off);
    EXPECT_EQ(fh.server.stats().connections, 1u);
    src.stop();
    fh.server.stop();
    ASSERT_TRUE(q->close().has_value());
  }
}

} // namespace
} // namespace sluice::sources
