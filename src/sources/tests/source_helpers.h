#pragma once

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "config/pipeline.h"
#include "io/asio.h"
#include "queue/event.h"
#include "queue/tests/queue_helpers.h"
#include "support/eventually.h"
#include "support/source_settings.h"
#include "support/temp_dir.h"

namespace sluice::sources::testing {

using sluice::testing::temp_dir;
using sluice::testing::fast_reconnect;
using sluice::testing::settings_items;
using sluice::testing::set;
using sluice::testing::source_settings;

struct event_copy {
  std::string source, type, payload;
};

using sluice::testing::small_options;

inline std::unique_ptr<queue::queue> open_queue(const std::filesystem::path& dir) {
  return sluice::testing::open_small_queue(dir);
}

/// Every event durable in `q` now (after a sync).
inline std::vector<event_copy> read_events(queue::queue& q) {
  EXPECT_TRUE(q.sync().has_value());
  std::vector<event_copy> out;
  auto rd = q.open_reader(queue::start_at::beginning()).value();
  queue::batch b;
  for (;;) {
    auto r = rd->read(b, {1000, 1u << 20}, std::chrono::milliseconds(0));
    if (!r)
      break;
    for (const auto& rec : b.records) {
      auto e = queue::decode_event(rec);
      EXPECT_TRUE(e.has_value());
      out.push_back({std::string(e->source), std::string(e->type), std::string(e->payload)});
    }
  }
  return out;
}

inline std::vector<std::string> file_lines(const std::filesystem::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

inline config::source_config source_cfg(std::string name, config::record_format format) {
  config::source_config c;
  c.name = std::move(name);
  c.format = format;
  c.max_record_bytes = 64;
  return c;
}

/// Waits (bounded) until `q` holds at least `n` durable events, and returns them all.
inline std::vector<event_copy>
wait_for_events(queue::queue& q, std::size_t n,
                std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::vector<event_copy> out;
  auto rd = q.open_reader(queue::start_at::beginning()).value();
  queue::batch b;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto r = rd->read(b, {1000, 1u << 20}, std::chrono::milliseconds(200));
    if (!r)
      continue;
    for (const auto& rec : b.records) {
      auto e = queue::decode_event(rec);
      EXPECT_TRUE(e.has_value());
      out.push_back({std::string(e->source), std::string(e->type), std::string(e->payload)});
    }
  }
  return out;
}

/// Polls `done` every 2 ms until it holds or `limit` passed; returns whether it held.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::seconds limit = std::chrono::seconds(30)) {
  return sluice::testing::eventually(limit, done, std::chrono::milliseconds(2));
}

/// An io_context run by `threads` threads until the object goes.
class io_runner {
public:
  explicit io_runner(int threads = 2) : guard_(boost::asio::make_work_guard(io)) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this] { io.run(); });
  }
  ~io_runner() { stop(); }
  void stop() {
    guard_.reset();
    io.stop();
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }
  boost::asio::io_context io;

private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

} // namespace sluice::sources::testing
