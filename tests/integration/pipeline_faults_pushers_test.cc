// The whole pipeline fed by many pushers at once, the real `sluice run` as a child process: half
// over TCP and half over a Unix socket, every line arrives exactly once; at the queue's disk cap
// the pushers block (nothing is dropped) until the stuck subscription moves.

#include <atomic>
#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline_faults_fixture.h"
#include "support/socket_sender.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Pushers for the listen source.

/// What pushers send: `lines` lines each, "p<k>-<i>" for i in 0..lines-1, followed by "-" and
/// `pad` x's when pad > 0.
struct push_plan {
  int pushers = 50;
  int lines = 10000;
  std::size_t pad = 0;
  /// SO_SNDBUF of the pushers' sockets, 0 for the default. Small, so that what the kernel holds
  /// for a blocked pusher is small next to what it sends.
  int sndbuf = 0;

  std::size_t total() const { return static_cast<std::size_t>(pushers) * lines; }
  std::string suffix() const { return pad > 0 ? "-" + std::string(pad, 'x') : std::string(); }

  /// Everything pusher `k` sends.
  std::string data(int k) const {
    std::string s, tail = suffix() + "\n";
    for (int i = 0; i < lines; ++i)
      s += "p" + std::to_string(k) + "-" + std::to_string(i) + tail;
    return s;
  }

  /// The index k * lines + i of a line "p<k>-<i><suffix>"; nothing for any other text.
  std::optional<std::size_t> index_of(std::string_view s) const {
    auto sfx = suffix();
    if (s.size() < 4 + sfx.size() || s[0] != 'p' || !s.ends_with(sfx))
      return std::nullopt;
    s.remove_suffix(sfx.size());
    auto dash = s.find('-');
    if (dash == std::string_view::npos)
      return std::nullopt;
    int k = -1, i = -1;
    auto rk = std::from_chars(s.data() + 1, s.data() + dash, k);
    auto ri = std::from_chars(s.data() + dash + 1, s.data() + s.size(), i);
    if (rk.ec != std::errc() || rk.ptr != s.data() + dash || ri.ec != std::errc() ||
        ri.ptr != s.data() + s.size() || k < 0 || k >= pushers || i < 0 || i >= lines)
      return std::nullopt;
    return static_cast<std::size_t>(k) * static_cast<std::size_t>(lines) +
           static_cast<std::size_t>(i);
  }
};

/// Pushers on threads of the test: pusher k connects over TCP when k is even, over the Unix
/// socket when odd, writes its lines with plain blocking sends, and closes.
class pushers {
public:
  pushers(const push_plan& plan, std::uint16_t port, std::string unix_path)
      : fds_(static_cast<std::size_t>(plan.pushers), -1) {
    for (int k = 0; k < plan.pushers; ++k)
      threads_.emplace_back([this, k, plan, port, unix_path] { push(plan, k, port, unix_path); });
  }
  /// Shuts down the sockets of pushers still sending (a test that failed while they were
  /// blocked), then joins.
  ~pushers() {
    {
      std::lock_guard lock(mu_);
      abandoned_ = true;
      for (int fd : fds_)
        if (fd >= 0)
          ::shutdown(fd, SHUT_RDWR);
    }
    join();
  }

  int finished() const { return finished_.load(); }
  void join() {
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }
  std::string errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

private:
  void push(const push_plan& plan, int k, std::uint16_t port, const std::string& unix_path) {
    std::string error;
    int fd = k % 2 == 0 ? try_connect_tcp(port, error, plan.sndbuf)
                        : try_connect_unix(unix_path, error, plan.sndbuf);
    if (fd >= 0) {
      {
        std::lock_guard lock(mu_);
        if (abandoned_)
          ::shutdown(fd, SHUT_RDWR);
        fds_[static_cast<std::size_t>(k)] = fd;
      }
      send_all(fd, plan.data(k), error);
      std::lock_guard lock(mu_); // no shutdown() of a closed (and maybe reused) descriptor
      fds_[static_cast<std::size_t>(k)] = -1;
      ::close(fd);
    }
    std::lock_guard lock(mu_);
    if (!error.empty())
      errors_ += "pusher " + std::to_string(k) + ": " + error + "\n";
    finished_.fetch_add(1);
  }

  std::vector<std::thread> threads_;
  std::atomic<int> finished_{0};
  std::mutex mu_;
  std::vector<int> fds_; // of pushers still sending, -1 otherwise; under mu_
  bool abandoned_ = false;
  std::string errors_;
};

/// Checks that `payloads` hold every pushed line exactly once and nothing else.
void expect_each_pushed_once(const std::vector<std::string>& payloads, const push_plan& plan,
                             const char* where) {
  std::vector<std::uint8_t> seen(plan.total(), 0);
  std::size_t foreign = 0, duplicates = 0;
  std::string first_problem;
  for (const auto& p : payloads) {
    auto at = plan.index_of(p);
    if (!at) {
      if (foreign++ == 0)
        first_problem = "unexpected line '" + p.substr(0, 80) + "'";
      continue;
    }
    if (seen[*at]++ > 0 && duplicates++ == 0 && first_problem.empty())
      first_problem = "duplicate '" + p + "'";
  }
  std::size_t missing = 0;
  for (std::size_t at = 0; at < seen.size(); ++at)
    if (seen[at] == 0 && missing++ == 0 && first_problem.empty())
      first_problem =
          "missing p" + std::to_string(at / plan.lines) + "-" + std::to_string(at % plan.lines);
  EXPECT_EQ(payloads.size(), seen.size()) << where;
  EXPECT_EQ(missing, 0u) << where << ": " << first_problem;
  EXPECT_EQ(duplicates, 0u) << where << ": " << first_problem;
  EXPECT_EQ(foreign, 0u) << where << ": " << first_problem;
}

// 3. Fifty pushers at once, half over TCP and half over a Unix socket: every line arrives in
// both sinks exactly once.
TEST(pipeline_faults, many_pushers_over_tcp_and_unix_each_line_once) {
  const push_plan plan{.pushers = 50, .lines = 10000};
  const auto k_total = static_cast<std::int64_t>(plan.total());
  temp_dir dir;
  auto db_path = dir / "sluice.db";
  auto events = dir / "events";
  listen_pipeline lp;
  lp.unix_path = dir / "push.sock";
  ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
      dir,
      [&](std::uint16_t port) {
        return listen_config(dir, port, lp.unix_path, "",
                             eventlog_subscription(events) + sqlite_subscription(db_path));
      },
      lp));
  auto& sluice = *lp.daemon;
  sqlite_db reader(db_path);

  pushers p(plan, lp.port, lp.unix_path.string());
  ASSERT_TRUE(sluice.wait_for([&] { return p.finished() == plan.pushers; }))
      << p.finished() << " pushers finished\n"
      << tail_of(sluice.log());
  p.join();
  EXPECT_EQ(p.errors(), "");
  ASSERT_TRUE(sluice.wait_for([&] {
    return reader.count("events") >= k_total &&
           eventlog_line_count(events) >= static_cast<std::size_t>(k_total);
  })) << "rows: "
      << reader.count("events") << ", event log lines: " << eventlog_line_count(events) << "\n"
      << tail_of(sluice.log());

  expect_each_pushed_once(sqlite_payloads(reader), plan, "sqlite");
  bool unterminated = false;
  expect_each_pushed_once(eventlog_lines(events, unterminated), plan, "event log");
  EXPECT_FALSE(unterminated);
  auto stats = queue_stats(dir / "data" / "queue");
  EXPECT_EQ(stats["last"], k_total) << stats.dump();

  EXPECT_EQ(sluice.stop(), 0) << tail_of(sluice.log());
  EXPECT_TRUE(contains(sluice.log(), "source push: 500000 events collected, 0 set aside"))
      << tail_of(sluice.log());
}

// 4. At the queue's cap the pushers block (nothing is dropped) until the one subscription, stuck
// on a locked database, commits and lets segments go.
TEST(pipeline_faults, pushers_block_at_max_disk_until_the_stuck_subscription_moves) {
  // Each pusher sends ~1 MB (lines padded to ~100 bytes) through an 8 KiB send buffer: far more
  // than the kernel holds for it, so a pusher can only finish once sluice has read its lines.
  const push_plan plan{.pushers = 50, .lines = 10000, .pad = 90, .sndbuf = 8192};
  const auto k_total = static_cast<std::int64_t>(plan.total());
  constexpr std::uint64_t k_max_disk = 4 << 20;
  temp_dir dir;
  auto db_path = dir / "sluice.db";
  auto queue_dir = dir / "data" / "queue";
  write_lock lock(db_path, "events");
  ASSERT_TRUE(lock.held());
  listen_pipeline lp;
  lp.unix_path = dir / "push.sock";
  ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
      dir,
      [&](std::uint16_t port) {
        return listen_config(dir, port, lp.unix_path,
                             "max_disk = \"4MiB\"\nsegment_bytes = \"1MiB\"\n",
                             sqlite_subscription(db_path));
      },
      lp));
  auto& sluice = *lp.daemon;
  sqlite_db reader(db_path);

  pushers p(plan, lp.port, lp.unix_path.string());
  ASSERT_TRUE(sluice.wait_for_log("at max_disk")) << tail_of(sluice.log());
  // Hold the lock until the sink's first write gave up (busy_timeout, 5 s): time in which the
  // pushers would have sent everything had they not been blocked.
  ASSERT_TRUE(sluice.wait_for_log("subscription sqlite: sqlite sink failed"))
      << tail_of(sluice.log());
  auto stats = queue_stats(queue_dir);
  EXPECT_LT(p.finished(), plan.pushers);
  EXPECT_LE(stats["bytes"].get<std::uint64_t>(), k_max_disk) << stats.dump();
  EXPECT_LT(stats["last"].get<std::int64_t>(), k_total) << stats.dump();
  EXPECT_EQ(subscription_of(stats, "sqlite")["committed"], 0) << stats.dump();
  EXPECT_EQ(reader.count("events"), 0);
  EXPECT_TRUE(contains(sluice.log(), "appends wait for subscriptions")) << tail_of(sluice.log());

  lock.release();
  ASSERT_TRUE(sluice.wait_for([&] { return p.finished() == plan.pushers; }))
      << p.finished() << " pushers finished\n"
      << tail_of(sluice.log());
  p.join();
  EXPECT_EQ(p.errors(), "");
  ASSERT_TRUE(sluice.wait_for([&] { return reader.count("events") >= k_total; }))
      << "rows: " << reader.count("events") << "\n"
      << tail_of(sluice.log());
  expect_each_pushed_once(sqlite_payloads(reader), plan, "sqlite");
  stats = queue_stats(queue_dir);
  EXPECT_EQ(stats["last"], k_total) << stats.dump();
  EXPECT_LE(stats["bytes"].get<std::uint64_t>(), k_max_disk) << stats.dump();

  EXPECT_EQ(sluice.stop(), 0) << tail_of(sluice.log());
  auto log = sluice.log();
  EXPECT_TRUE(contains(log, "source push: 500000 events collected, 0 set aside")) << tail_of(log);
  EXPECT_FALSE(contains(log, "dropped")) << tail_of(log);
}

} // namespace
} // namespace sluice::testing
