#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "sources/listen_source.h"
#include "sources/tests/source_helpers.h"
#include "support/socket_sender.h"

namespace sluice::sources {
namespace {

using namespace testing;
using sluice::testing::read_all_fd;
using sluice::testing::tcp_connect;
using sluice::testing::unix_connect;
using sluice::testing::write_all;

std::string line_of(int pusher, int n, std::size_t pad = 0) {
  std::string s = "{\"p\":" + std::to_string(pusher) + ",\"n\":" + std::to_string(n);
  if (pad > 0)
    s += ",\"pad\":\"" + std::string(pad, 'x') + "\"";
  return s + "}\n";
}

config::source_config listen_cfg(const temp_dir& d, bool ack, bool with_unix) {
  auto cfg = source_cfg("push", config::record_format::json);
  cfg.max_record_bytes = 4096;
  std::vector<std::string> listen = {"tcp://127.0.0.1:0"};
  if (with_unix)
    listen.push_back("unix:" + (d / "push.sock").string());
  cfg.settings = source_settings("listen", {{"listen", listen}, {"ack", ack}});
  return cfg;
}

// Every (pusher, n) in `events` exactly once, for pushers x lines.
void expect_each_once(const std::vector<event_copy>& events, int pushers, int lines) {
  ASSERT_EQ(events.size(), static_cast<std::size_t>(pushers) * static_cast<std::size_t>(lines));
  std::vector<int> seen(static_cast<std::size_t>(pushers * lines), 0);
  std::vector<int> next(static_cast<std::size_t>(pushers), 0);
  for (const auto& e : events) {
    int p = -1, n = -1;
    ASSERT_EQ(std::sscanf(e.payload.c_str(), "{\"p\":%d,\"n\":%d", &p, &n), 2) << e.payload;
    ASSERT_TRUE(p >= 0 && p < pushers && n >= 0 && n < lines);
    ++seen[static_cast<std::size_t>(p * lines + n)];
    // Each connection's records keep their order.
    ASSERT_EQ(next[static_cast<std::size_t>(p)]++, n);
  }
  for (int s : seen)
    ASSERT_EQ(s, 1);
}

TEST(listen_source, fifty_concurrent_pushers_each_event_once) {
  temp_dir d;
  auto q = open_queue(d / "q");
  constexpr int pushers = 50, lines = 1000;
  io_runner io;
  listen_source src(listen_cfg(d, false, true), *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  ASSERT_EQ(src.state(), source_state::connected);
  std::uint16_t port = src.tcp_ports().at(0);
  std::vector<std::thread> threads;
  for (int p = 0; p < pushers; ++p) {
    threads.emplace_back([&, p] {
      int fd = p % 2 == 0 ? tcp_connect(port) : unix_connect((d / "push.sock").string());
      std::string batch;
      for (int n = 0; n < lines; ++n) {
        batch += line_of(p, n);
        if (batch.size() > 3000 || n == lines - 1) {
          write_all(fd, batch);
          batch.clear();
        }
      }
      ::close(fd);
    });
  }
  for (auto& t : threads)
    t.join();
  auto events = wait_for_events(*q, pushers * lines);
  expect_each_once(events, pushers, lines);
  EXPECT_EQ(src.stats().records.load(), static_cast<std::uint64_t>(pushers * lines));
  EXPECT_EQ(src.stats().connects.load(), static_cast<std::uint64_t>(pushers));
  src.stop();
  io.stop();
  EXPECT_EQ(read_events(*q).size(), static_cast<std::size_t>(pushers * lines));
}

TEST(listen_source, ack_counts_every_record_of_the_connection) {
  temp_dir d;
  auto q = open_queue(d / "q");
  io_runner io;
  listen_source src(listen_cfg(d, true, false), *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  int fd = tcp_connect(src.tcp_ports().at(0));
  std::string data;
  for (int n = 0; n < 1999; ++n)
    data += line_of(0, n);
  data += "{not json\n\n"; // rejected: still counted; the blank line is not a record
  write_all(fd, data);
  ::shutdown(fd, SHUT_WR);
  std::string acks = read_all_fd(fd);
  ::close(fd);
  ASSERT_FALSE(acks.empty());
  ASSERT_EQ(acks.back(), '\n');
  auto last = acks.substr(acks.rfind('\n', acks.size() - 2) + 1);
  EXPECT_EQ(last, "ack 2000\n") << acks;
  // Acked means durable: everything is already readable.
  EXPECT_GE(q->durable_watermark(), 1999u);
  EXPECT_EQ(src.stats().rejected_by(reason::invalid_json), 1u);
  src.stop();
  io.stop();
}

// An ack counts a rejected record only once its dead-letter line is durable: with the
// dead-letter directory impossible to create (a file stands in its place), no ack covers the
// rejected record, and the connection ends so that the pusher resends from its last ack.
TEST(listen_source, no_ack_covers_a_reject_that_could_not_be_set_aside) {
  temp_dir d;
  auto q = open_queue(d / "q");
  { std::ofstream(d / "dead-letter") << "in the way"; }
  io_runner io;
  listen_source src(listen_cfg(d, true, false), *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  int fd = tcp_connect(src.tcp_ports().at(0));
  std::string data;
  for (int n = 0; n < 10; ++n)
    data += line_of(0, n);
  data += "{not json\n"; // record 11
  for (int n = 10; n < 20; ++n)
    data += line_of(0, n);
  write_all(fd, data);
  ::shutdown(fd, SHUT_WR);
  std::string acks = read_all_fd(fd);
  ::close(fd);
  std::uint64_t most = 0;
  for (std::size_t at = 0; (at = acks.find("ack ", at)) != std::string::npos; at += 4)
    most = std::max<std::uint64_t>(most, std::stoull(acks.substr(at + 4)));
  EXPECT_LT(most, 11u) << acks;
  EXPECT_EQ(src.stats().rejected_by(reason::invalid_json), 1u);
  EXPECT_GE(src.stats().dead_letter_failures.load(), 1u);
  src.stop();
  io.stop();
}

TEST(listen_source, pushers_block_at_the_queue_cap_then_finish_nothing_dropped) {
  temp_dir d;
  auto o = small_options(d / "q");
  o.max_disk = 256 * 1024;
  o.when_full = config::when_full_mode::block;
  auto q = queue::disk::open(o).value();
  auto sub = q->subscribe("slow", queue::start_at::beginning()).value();
  constexpr int pushers = 8, lines = 2000; // ~3.5 MB in all: 14 times the cap
  std::atomic<bool> pushed{false};
  std::vector<event_copy> consumed;
  std::thread consumer([&] {
    queue::batch b;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (consumed.size() < static_cast<std::size_t>(pushers * lines) &&
           std::chrono::steady_clock::now() < deadline) {
      auto r = sub->read(b, {50, 1u << 20}, std::chrono::milliseconds(200));
      if (!r)
        continue;
      for (const auto& rec : b.records) {
        auto e = queue::decode_event(rec).value();
        consumed.push_back({std::string(e.source), std::string(e.type), std::string(e.payload)});
      }
      ASSERT_TRUE(sub->commit(b.last()).has_value());
      if (!pushed.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1)); // a slow consumer
    }
  });
  io_runner io;
  listen_source src(listen_cfg(d, false, false), *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  std::uint16_t port = src.tcp_ports().at(0);
  std::vector<std::thread> threads;
  for (int p = 0; p < pushers; ++p) {
    threads.emplace_back([&, p] {
      int fd = tcp_connect(port);
      for (int n = 0; n < lines; ++n)
        write_all(fd, line_of(p, n, 180));
      ::close(fd);
    });
  }
  for (auto& t : threads)
    t.join();
  pushed = true;
  consumer.join();
  expect_each_once(consumed, pushers, lines);
  EXPECT_GT(q->stats().blocked_ns.get(), 0u); // the cap was reached and appends waited
  EXPECT_EQ(q->stats().dropped_records.get(), 0u);
  EXPECT_EQ(src.stats().dropped_at_cap.load(), 0u);
  src.stop();
  io.stop();
  sub.reset();
}

} // namespace
} // namespace sluice::sources
