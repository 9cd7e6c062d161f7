#include <set>
#include <string>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sources/client_source.h"
#include "sources/tests/source_helpers.h"
#include "support/eventually.h"
#include "support/socket_sender.h"

namespace sluice::sources {
namespace {

using namespace testing;
using sluice::testing::closed_port;
using sluice::testing::read_all_fd;
using sluice::testing::tcp_listen_any;
using sluice::testing::write_all;

std::string line_of(int i) {
  return "{\"n\":" + std::to_string(i) + "}\n";
}

// The server sends lines 0..499 and half of line 500, hangs up, then on the next connection
// sends lines 500..999 whole: each event arrives exactly once and the reconnect is counted.
TEST(client_source, tcp_reconnects_after_a_disconnect_mid_line) {
  temp_dir d;
  auto q = open_queue(d / "q");
  std::uint16_t port = 0;
  int lfd = tcp_listen_any(port);
  std::thread server([&] {
    int c1 = ::accept(lfd, nullptr, nullptr);
    std::string first;
    for (int i = 0; i < 500; ++i)
      first += line_of(i);
    std::string l500 = line_of(500);
    first += l500.substr(0, 4);
    write_all(c1, first);
    ::close(c1);
    int c2 = ::accept(lfd, nullptr, nullptr);
    std::string rest;
    for (int i = 500; i < 1000; ++i)
      rest += line_of(i);
    write_all(c2, rest);
    read_all_fd(c2); // until the source hangs up
    ::close(c2);
  });

  auto cfg = source_cfg("up", config::record_format::json);
  cfg.settings = source_settings(
      "tcp", {{"address", "127.0.0.1:" + std::to_string(port)}, {"reconnect", fast_reconnect()}});
  {
    io_runner io;
    client_source src(cfg, *q, d.path());
    ASSERT_TRUE(src.start(io.io).has_value());
    auto events = wait_for_events(*q, 1000);
    ASSERT_EQ(events.size(), 1000u);
    for (int i = 0; i < 1000; ++i)
      ASSERT_EQ(events[static_cast<std::size_t>(i)].payload + "\n", line_of(i));
    EXPECT_EQ(src.stats().reconnects.load(), 1u);
    EXPECT_EQ(src.stats().connects.load(), 2u);
    EXPECT_EQ(src.stats().truncated.load(), 1u);
    EXPECT_EQ(src.stats().disconnects_by(io::disconnect_reason::network), 1u);
    EXPECT_EQ(src.stats().last_error(),
              "connection to tcp://127.0.0.1:" + std::to_string(port) + " ended");
    EXPECT_EQ(src.state(), source_state::connected);
    src.stop();
    EXPECT_EQ(src.state(), source_state::stopped);
    io.stop();
  }
  server.join();
  ::close(lfd);
  EXPECT_EQ(read_events(*q).size(), 1000u);
  ASSERT_TRUE(q->close().has_value());
}

TEST(client_source, unix_backs_off_until_the_server_appears) {
  temp_dir d;
  auto q = open_queue(d / "q");
  std::string path = (d / "s.sock").string();
  auto cfg = source_cfg("u", config::record_format::lines);
  cfg.settings = source_settings("unix", {{"address", path}, {"reconnect", fast_reconnect()}});
  io_runner io;
  client_source src(cfg, *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  // No server yet: attempts fail and are counted.
  sluice::testing::eventually(
      std::chrono::seconds(10), [&] { return src.stats().connect_failures.load() >= 3; },
      std::chrono::milliseconds(5));
  EXPECT_GE(src.stats().connect_failures.load(), 3u);

  boost::asio::io_context sio;
  boost::asio::local::stream_protocol::acceptor acc(
      sio, boost::asio::local::stream_protocol::endpoint(path));
  auto s = acc.accept();
  boost::asio::write(s, boost::asio::buffer(std::string("one\r\ntwo\n\nthree\n")));
  auto events = wait_for_events(*q, 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].payload, "three");
  EXPECT_EQ(events[2].type, "event");
  src.stop();
  io.stop();
}

// A tcp source to a closed port: every refused attempt is of the network class (the only one
// of tcp and unix sources), with the configured delays; max_retries = 2 ends it in failed.
TEST(client_source, tcp_to_a_closed_port_is_a_network_error) {
  temp_dir d;
  auto q = open_queue(d / "q");
  auto port = closed_port();
  auto cfg = source_cfg("closed", config::record_format::lines);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  // 1 ms, then 1 h + 1 ms: exactly two attempts, then the source waits (the gauge says how long).
  cfg.settings = source_settings(
      "tcp", {{"address", address},
              {"reconnect", fast_reconnect({{"network_step", std::chrono::nanoseconds(std::chrono::hours(1))},
                                            {"network_max", std::chrono::nanoseconds(std::chrono::hours(2))}})}});
  io_runner io;
  {
    client_source src(cfg, *q, d.path());
    ASSERT_TRUE(src.start(io.io).has_value());
    const auto second =
        std::chrono::nanoseconds(std::chrono::hours(1) + std::chrono::milliseconds(1));
    ASSERT_TRUE(wait_until([&] { return src.stats().backoff_ns.load() == second.count(); }));
    EXPECT_EQ(src.stats().disconnects_by(io::disconnect_reason::network), 2u);
    EXPECT_EQ(src.stats().connect_failures.load(), 2u);
    EXPECT_EQ(src.state(), source_state::backing_off);
    src.stop();
    EXPECT_EQ(src.state(), source_state::stopped);
  }
  // max_retries = 2: two attempts, then failed, never a silent stop.
  cfg.settings = source_settings(
      "tcp", {{"address", address},
              {"reconnect", fast_reconnect({{"max_retries", std::int64_t{2}}})}});
  client_source src(cfg, *q, d.path());
  ASSERT_TRUE(src.start(io.io).has_value());
  ASSERT_TRUE(wait_until([&] { return src.state() == source_state::failed; }));
  auto err = src.stats().last_error();
  EXPECT_TRUE(err.starts_with(
      "gave up after 2 attempts: cannot connect to tcp://127.0.0.1:" + std::to_string(port) + ": "))
      << err;
  EXPECT_EQ(src.stats().disconnects_by(io::disconnect_reason::network), 2u);
  for (auto r : {io::disconnect_reason::http_error, io::disconnect_reason::rate_limited,
                 io::disconnect_reason::fatal, io::disconnect_reason::stall})
    EXPECT_EQ(src.stats().disconnects_by(r), 0u);
  src.stop();
  EXPECT_EQ(src.state(), source_state::failed);
  io.stop();
}

} // namespace
} // namespace sluice::sources
