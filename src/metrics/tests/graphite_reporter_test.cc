#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/asio.h"
#include "metrics/graphite.h"
#include "support/eventually.h"

namespace sluice::metrics {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

constexpr auto k_deadline = 20s;

/// Polls `condition` every few milliseconds until it holds or k_deadline passes.
bool eventually(const std::function<bool()>& condition) {
  return sluice::testing::eventually(k_deadline, condition, 5ms);
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// An io_context run by a thread of its own for the test's lifetime.
struct io_thread {
  io_thread() : thread([this] { io.run(); }) {}
  ~io_thread() {
    guard.reset();
    io.stop();
    thread.join();
  }
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::thread thread;
};

/// A stand-in for carbon: accepts on 127.0.0.1 and keeps every byte its clients send.
class line_listener {
public:
  line_listener(asio::io_context& io, std::uint16_t port)
      : inner_(std::make_shared<inner>(io, port)) {
    accept(inner_);
  }
  ~line_listener() { close(); }

  std::uint16_t port() const { return inner_->acceptor.local_endpoint().port(); }

  std::string received() const {
    std::lock_guard lock(inner_->mu);
    return inner_->received;
  }

  /// Connections whose client closed them.
  std::size_t closed() const { return inner_->closed; }

  /// The complete lines received so far.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(received());
    for (std::string line; std::getline(in, line);)
      if (!in.eof())
        out.push_back(line);
    return out;
  }

  /// Closes the acceptor and every accepted connection (on the io thread; waits for it).
  void close() {
    std::promise<void> done;
    asio::post(inner_->acceptor.get_executor(), [i = inner_, &done] {
      error_code ignored;
      i->acceptor.close(ignored);
      for (auto& c : i->connections)
        c->close(ignored);
      i->connections.clear();
      done.set_value();
    });
    done.get_future().wait();
  }

private:
  struct inner {
    inner(asio::io_context& io, std::uint16_t port)
        : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)) {}
    tcp::acceptor acceptor;
    std::vector<std::shared_ptr<tcp::socket>> connections; // io thread only
    mutable std::mutex mu;
    std::string received;
    std::atomic<std::size_t> closed{0};
  };

  static void accept(std::shared_ptr<inner> i) {
    i->acceptor.async_accept([i](error_code ec, tcp::socket s) {
      if (ec)
        return;
      auto c = std::make_shared<tcp::socket>(std::move(s));
      i->connections.push_back(c);
      read(i, c, std::make_shared<std::array<char, 4096>>());
      accept(i);
    });
  }

  static void read(std::shared_ptr<inner> i, std::shared_ptr<tcp::socket> c,
                   std::shared_ptr<std::array<char, 4096>> buf) {
    c->async_read_some(asio::buffer(*buf), [i, c, buf](error_code ec, std::size_t n) {
      if (ec == asio::error::eof)
        ++i->closed;
      if (ec)
        return;
      {
        std::lock_guard lock(i->mu);
        i->received.append(buf->data(), n);
      }
      read(i, c, buf);
    });
  }

  std::shared_ptr<inner> inner_;
};

/// A port nothing listens on (one the kernel just handed out and that was closed again).
std::uint16_t free_port(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

struct line {
  std::string path;
  std::string value;
  std::int64_t timestamp = 0;
};

line parse(const std::string& text) {
  line l;
  std::istringstream in(text);
  in >> l.path >> l.value >> l.timestamp;
  return l;
}

/// Each snapshot: a gauge that counts the snapshots (from 1) and a counter with a label.
struct ticking_snapshot {
  std::shared_ptr<std::atomic<std::uint64_t>> calls =
      std::make_shared<std::atomic<std::uint64_t>>(0);

  graphite_reporter::snapshot_fn fn(bool with_counter = true) const {
    return [calls = calls, with_counter] {
      auto n = ++*calls;
      std::vector<family> f;
      f.push_back({"sluice_ticks", "", kind::gauge, {{{}, static_cast<double>(1000000 + n)}}});
      if (with_counter)
        f.push_back({"sluice_events_total", "", kind::counter, {{{{"source", "a.b"}}, 5}}});
      return f;
    };
  }
};

/// The tick values (the snapshot numbers) in `lines`, in order.
std::vector<std::uint64_t> ticks_of(const std::vector<std::string>& lines) {
  std::vector<std::uint64_t> out;
  for (const auto& text : lines) {
    auto l = parse(text);
    if (l.path.ends_with(".ticks"))
      out.push_back(std::stoull(l.value) - 1000000);
  }
  return out;
}

graphite_reporter::options options_for(std::uint16_t port) {
  graphite_reporter::options o;
  o.host = "127.0.0.1";
  o.port = port;
  o.prefix = "test";
  o.interval = 20ms;
  return o;
}

TEST(metrics_graphite_reporter, sends_prefixed_lines_with_timestamps) {
  io_thread t;
  line_listener carbon(t.io, 0);
  ticking_snapshot snap;
  auto before = unix_now();
  graphite_reporter reporter(t.io, options_for(carbon.port()), snap.fn());
  reporter.start();

  ASSERT_TRUE(eventually([&] { return carbon.lines().size() >= 6; })) << carbon.received();
  auto after = unix_now();
  for (const auto& text : carbon.lines()) {
    auto l = parse(text);
    EXPECT_TRUE(l.path == "test.ticks" || l.path == "test.events_total.a_b") << text;
    EXPECT_GE(l.timestamp, before) << text;
    EXPECT_LE(l.timestamp, after) << text;
  }
  EXPECT_EQ(parse(carbon.lines()[1]).value, "5");
  auto ticks = ticks_of(carbon.lines());
  ASSERT_FALSE(ticks.empty());
  for (std::size_t i = 0; i < ticks.size(); ++i)
    EXPECT_EQ(ticks[i], i + 1);

  ASSERT_TRUE(eventually([&] { return reporter.stats().lines_sent >= 6; }));
  EXPECT_EQ(reporter.stats().connects, 1u);
  EXPECT_EQ(reporter.stats().connect_failures, 0u);
  EXPECT_EQ(reporter.stats().lines_dropped, 0u);
  reporter.stop();
  ASSERT_TRUE(eventually([&] { return carbon.closed() == 1; })) << "stop() closes the socket";
  reporter.stop(); // idempotent
}

TEST(metrics_graphite_reporter, reconnects_after_the_listener_went_away) {
  io_thread t;
  auto carbon = std::make_unique<line_listener>(t.io, 0);
  auto port = carbon->port();
  ticking_snapshot snap;
  graphite_reporter reporter(t.io, options_for(port), snap.fn(false));
  reporter.start();
  ASSERT_TRUE(eventually([&] { return !carbon->lines().empty(); }));

  carbon.reset(); // closes the listener and the connection: the reporter reads EOF
  ASSERT_TRUE(eventually([&] { return reporter.stats().disconnects >= 1; }));
  ASSERT_TRUE(eventually([&] { return reporter.stats().connect_failures >= 1; }));
  // Still collecting meanwhile: these snapshots wait in the buffer.
  auto calls_at_failure = snap.calls->load();
  ASSERT_TRUE(eventually([&] { return snap.calls->load() >= calls_at_failure + 2; }));
  EXPECT_EQ(reporter.stats().connects, 1u);

  auto calls_at_reopen = snap.calls->load();
  line_listener again(t.io, port);
  ASSERT_TRUE(eventually([&] { return !again.lines().empty(); }));
  EXPECT_EQ(reporter.stats().connects, 2u);
  auto ticks = ticks_of(again.lines());
  ASSERT_FALSE(ticks.empty());
  EXPECT_LE(ticks.front(), calls_at_reopen) << "the buffered lines come first";
  for (std::size_t i = 1; i < ticks.size(); ++i)
    EXPECT_EQ(ticks[i], ticks[i - 1] + 1);
  EXPECT_EQ(reporter.stats().lines_dropped, 0u);
}

TEST(metrics_graphite_reporter, full_buffer_drops_the_oldest_lines) {
  io_thread t;
  auto port = free_port(t.io);
  ticking_snapshot snap;
  auto opts = options_for(port);
  // Every line is "test.ticks 100000N TTTTTTTTTT\n", 30 bytes: the buffer keeps 3.
  opts.max_buffer_bytes = 100;
  graphite_reporter reporter(t.io, opts, snap.fn(false));
  reporter.start();
  ASSERT_TRUE(eventually([&] { return reporter.stats().lines_dropped >= 10; }));
  EXPECT_GE(reporter.stats().connect_failures, 1u);

  line_listener carbon(t.io, port);
  ASSERT_TRUE(eventually([&] { return carbon.lines().size() >= 5; }));
  reporter.stop();
  auto ticks = ticks_of(carbon.lines());
  ASSERT_FALSE(ticks.empty());
  // What went before the first line that arrived was dropped, oldest first, and counted; after
  // the connection nothing was lost.
  EXPECT_EQ(reporter.stats().lines_dropped, ticks.front() - 1);
  for (std::size_t i = 1; i < ticks.size(); ++i)
    EXPECT_EQ(ticks[i], ticks[i - 1] + 1);
  for (const auto& text : carbon.lines())
    EXPECT_EQ(text.size(), 29u) << text;
}

TEST(metrics_graphite_reporter, stop_does_not_wait_for_an_executor_that_is_not_running) {
  asio::io_context io; // never run
  ticking_snapshot snap;
  {
    graphite_reporter reporter(io, options_for(free_port(io)), snap.fn());
    reporter.start();
    reporter.stop();
  } // and the destructor stops again
  EXPECT_EQ(snap.calls->load(), 0u);
}

TEST(metrics_graphite_reporter, destructor_stops_a_running_reporter) {
  io_thread t;
  line_listener carbon(t.io, 0);
  ticking_snapshot snap;
  {
    graphite_reporter reporter(t.io, options_for(carbon.port()), snap.fn());
    reporter.start();
    ASSERT_TRUE(eventually([&] { return !carbon.lines().empty(); }));
  }
  EXPECT_TRUE(eventually([&] { return carbon.closed() == 1; }));
}

} // namespace
} // namespace sluice::metrics
