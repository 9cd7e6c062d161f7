#include <string>

#include <gtest/gtest.h>

#include "firehose/generator.h"
#include "firehose/server.h"
#include "sources/http_source.h"
#include "sources/tests/source_helpers.h"

namespace sluice::sources {
namespace {

using namespace testing;

config::source_config http_cfg(std::uint16_t port, bool post) {
  auto cfg = source_cfg("fh", config::record_format::json);
  cfg.max_record_bytes = 1 << 20;
  cfg.default_type = "tweet";
  config::http_source h;
  h.url = "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json";
  h.method = post ? config::http_method::post : config::http_method::get;
  h.params = {{"track", {"Bears", "Packers"}}};
  h.reconnect = {std::chrono::milliseconds(1), std::chrono::milliseconds(20)};
  cfg.settings = h;
  return cfg;
}

// A firehose that hangs up every 700 events and resumes on the next connection: the source
// reconnects, and the queue holds ranks 1..3000 of the filtered stream in order, each once,
// typed by the control-message rule.
TEST(http_source, streams_and_reconnects_without_loss) {
  for (bool post : {false, true}) {
    test_dir d;
    auto q = open_queue(d / "q");
    firehose::server_options so;
    so.stream.seed = 11;
    so.count = 3000;
    so.disconnect_every = 700;
    so.resume = true;
    firehose::server fh(so);
    auto port = fh.listen_http("127.0.0.1", 0);
    ASSERT_TRUE(port.has_value());
    fh.start();

    io_runner io(1);
    http_source src(http_cfg(*port, post), *q, d.path());
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
    fh.stop();
    ASSERT_TRUE(q->close().has_value());
  }
}

// The first two connections get HTTP 503: each is a counted failure and the source backs off,
// then streams (an endless stream, so no later attempt fails).
TEST(http_source, backs_off_on_an_error_status) {
  test_dir d;
  auto q = open_queue(d / "q");
  firehose::server_options so;
  so.rate = 10000;
  so.status = 503;
  so.status_first = 2;
  so.resume = true;
  firehose::server fh(so);
  auto port = fh.listen_http("127.0.0.1", 0);
  ASSERT_TRUE(port.has_value());
  fh.start();
  io_runner io(1);
  http_source src(http_cfg(*port, false), *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  auto events = wait_for_events(*q, 100);
  EXPECT_GE(events.size(), 100u);
  EXPECT_EQ(src.stats().connect_failures.load(), 2u);
  EXPECT_EQ(src.last_status(), 200);
  EXPECT_EQ(src.stats().connects.load(), 1u);
  src.stop();
  fh.stop();
  ASSERT_TRUE(q->close().has_value());
}

// A server that accepts and then says nothing: the stall timeout ends the connection and the
// source tries again; stop() returns promptly while it waits.
TEST(http_source, a_silent_server_is_a_stall) {
  test_dir d;
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
  src.stop();
  EXPECT_EQ(src.state(), source_state::stopped);
  ::close(c1);
  ::close(c2);
  ::close(lfd);
  ASSERT_TRUE(q->close().has_value());
}

TEST(http_source, a_bad_url_fails_at_start) {
  test_dir d;
  auto q = open_queue(d / "q");
  auto cfg = http_cfg(1, false);
  std::get<config::http_source>(cfg.settings).url = "ftp://example.com/";
  io_runner io(1);
  http_source src(cfg, *q, d.path());
  EXPECT_FALSE(src.start(io.io).has_value());
  EXPECT_EQ(src.state(), source_state::failed);
  ASSERT_TRUE(q->close().has_value());
}

} // namespace
} // namespace sluice::sources
