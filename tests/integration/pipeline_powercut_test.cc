// Power cuts (support/powercut.h) under the whole pipeline: a pusher sends numbered lines to a
// `listen` source with `ack = true` (disk queue, fsync "10ms", small segments) delivered to an
// event log that rotates often, and the power goes at a chosen sync call of sluice. After the
// cut sluice restarts on what remains (without the simulator) and runs until every acknowledged
// line is delivered: each acknowledged line is in the event log, once, and nothing else is.
// Scenarios: a cut at any call, during the event log's state-slot write, during a queue cursor
// write, and during the event log's rotation (its directory syncs); and the same rig with sync
// calls failing instead (EIO, ENOSPC), which must be retried without loss; short and interrupted
// writes; and a full disk.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline_faults_fixture.h"
#include "support/powercut.h"

namespace sluice::testing {
namespace {

constexpr int k_cut_points = 6;
constexpr int k_lines = 20000; // per round: about 600 KB, ten event-log files

std::string line_of(int round, int n) {
  return "p" + std::to_string(round) + "-" + std::to_string(n) + "-" + std::string(12, 'x');
}

/// Sends lines first..k_lines of `round` on one connection, then half-closes it and reads the
/// acks to its end: how many of them sluice acknowledged (0 when it could not connect or ack).
std::uint64_t push_once(std::uint16_t port, int round, int first) {
  std::string error;
  int fd = try_connect_tcp(port, error);
  if (fd < 0)
    return 0;
  std::string data;
  for (int i = first; i <= k_lines; ++i)
    data += line_of(round, i) + "\n";
  bool sent = send_all(fd, data, error);
  if (sent)
    ::shutdown(fd, SHUT_WR);
  std::string acks = read_all_fd(fd);
  ::close(fd);
  std::uint64_t acked = 0;
  for (std::size_t at = 0; (at = acks.find("ack ", at)) != std::string::npos; at += 4) {
    auto nl = acks.find('\n', at);
    if (nl == std::string::npos)
      break; // a torn last ack promises nothing
    std::uint64_t n = 0;
    std::from_chars(acks.data() + at + 4, acks.data() + nl, n);
    acked = std::max(acked, n);
  }
  return acked;
}

/// What a pusher does: sends the lines of `round`, and after a connection that ended early
/// resends from the first line not acknowledged, up to `connections` times. The lines 1..N
/// acknowledged.
std::uint64_t push_round(std::uint16_t port, int round, int connections = 1) {
  std::uint64_t acked = 0;
  for (int c = 0; c < connections && acked < static_cast<std::uint64_t>(k_lines); ++c)
    acked += push_once(port, round, static_cast<int>(acked) + 1);
  return acked;
}

class pipeline_powercut : public ::testing::Test {
protected:
  void SetUp() override { fs::create_directories(root_); }

  std::string config(std::uint16_t port) const {
    return listen_config(dir_, port, dir_ / "push.sock",
                         "fsync = \"10ms\"\nsegment_bytes = \"64KiB\"\n",
                         "[subscriptions.eventlog]\n"
                         "sink = { type = \"eventlog\", dir = " +
                             toml_path(events_) + ", rotate_bytes = \"64KiB\" }\n\n",
                         "ack = true\n");
  }

  /// One round: sluice under the simulator, cut at the `after_start`th call counted after its
  /// source started (0: killed by the test once every line is delivered), the cut, then sluice
  /// without the simulator until every acknowledged line is delivered.
  void round(long after_start, const std::string& match, std::size_t torn_bytes) {
    ++round_;
    SCOPED_TRACE("round " + std::to_string(round_) + ": cut at call " +
                 std::to_string(after_start) + " after the start" +
                 (match.empty() ? "" : " of '" + match + "'") + ", torn " +
                 std::to_string(torn_bytes));
    listen_pipeline lp;
    ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
        dir_, [&](std::uint16_t port) { return config(port); }, lp, pc_.env({.match = match})));
    started_calls_ = pc_.counted();
    long kill_at = after_start == 0 ? 0 : started_calls_ + after_start;
    if (kill_at != 0)
      pc_.arm_cut(kill_at);
    acked_[round_] = lp.daemon->running() ? push_round(lp.port, round_) : 0;
    if (lp.daemon->running()) {
      // Every line is in. The simulator cuts once sluice reaches the call (the sinks and the
      // cursor commits go on); without a cut point, or when this run makes fewer calls, the
      // test cuts the power itself once the lines are delivered.
      auto target = delivered_ + acked_[round_];
      lp.daemon->wait_for(
          [&] { return kill_at == 0 ? eventlog_line_count(events_) >= target : pc_.killed(); },
          std::chrono::seconds(3));
      lp.daemon->kill(SIGKILL);
    }
    lp.daemon->stop();
    counted_ = pc_.counted();
    killed_ = pc_.killed();
    std::cout << "round " << round_ << " (cut point " << kill_at << "): " << acked_[round_]
              << " lines acknowledged, " << counted_ << " sync calls counted, "
              << (killed_ ? "cut by the simulator" : "cut by the test") << std::endl;
    pc_.cut(torn_bytes);
    ASSERT_NO_FATAL_FAILURE(recover_and_check());
  }

  /// sluice without the simulator until the event log holds every acknowledged line; then the
  /// event log is checked line by line.
  void recover_and_check() {
    listen_pipeline lp;
    ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
        dir_, [&](std::uint16_t port) { return config(port); }, lp));
    std::string problem;
    bool complete = lp.daemon->wait_for([&] { return check(problem, false); });
    EXPECT_EQ(lp.daemon->stop(), 0) << tail_of(lp.daemon->log());
    ASSERT_TRUE(complete) << problem << "\n" << tail_of(lp.daemon->log());
    EXPECT_TRUE(check(problem, true)) << problem;
    delivered_ = eventlog_line_count(events_);
  }

  /// Whether every acknowledged line is in the event log; with `strict`, also that no line is
  /// there twice and nothing is there that was not sent. `problem` says what is wrong.
  bool check(std::string& problem, bool strict) const {
    bool unterminated = false;
    auto lines = eventlog_lines(events_, unterminated);
    std::map<std::string, int> seen;
    for (const auto& l : lines)
      ++seen[l];
    for (const auto& [r, acked] : acked_)
      for (std::uint64_t i = 1; i <= acked; ++i)
        if (!seen.count(line_of(r, static_cast<int>(i)))) {
          problem = "acknowledged line " + line_of(r, static_cast<int>(i)) + " is missing";
          return false;
        }
    if (!strict)
      return true;
    if (unterminated) {
      problem = "an event-log file ends mid-line";
      return false;
    }
    for (const auto& [l, n] : seen) {
      int r = 0, i = 0;
      auto dash = l.find('-');
      bool ours = l.size() > 1 && l[0] == 'p' && dash != std::string::npos &&
                  std::from_chars(l.data() + 1, l.data() + dash, r).ec == std::errc() &&
                  std::from_chars(l.data() + dash + 1, l.data() + l.size(), i).ec == std::errc() &&
                  r >= 1 && r <= round_ && i >= 1 && i <= k_lines && l == line_of(r, i);
      if (!ours) {
        problem = "'" + l + "' was never sent";
        return false;
      }
      if (n > 1) {
        problem = "'" + l + "' is there " + std::to_string(n) + " times";
        return false;
      }
    }
    return true;
  }

  /// A reference round (cut by the test once every line is delivered) to count the calls that
  /// `match` selects after the start, then one round per cut point spread over them.
  void run(const std::string& match) {
    ASSERT_NO_FATAL_FAILURE(round(0, match, 0));
    ASSERT_GT(acked_[1], 0u) << "the reference round acknowledged nothing";
    long calls = counted_ - started_calls_;
    ASSERT_GE(calls, 1) << "no call of '" << match << "' after the start to cut at";
    std::vector<long> points;
    for (int i = 0; i < k_cut_points; ++i)
      points.push_back(1 + (calls - 1) * i / (k_cut_points - 1));
    points.erase(std::unique(points.begin(), points.end()), points.end());
    int killed = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      ASSERT_NO_FATAL_FAILURE(round(points[i], match, i % 2 == 1 ? 700 : 0));
      killed += killed_ ? 1 : 0;
    }
    // The rounds are alike, so most reach their cut point (timing moves a few).
    EXPECT_GE(killed, static_cast<int>(points.size() + 1) / 2);
  }

  temp_dir dir_{"powercut-pipeline"};
  fs::path root_ = dir_ / "data";
  fs::path events_ = root_ / "events";
  power_cut pc_{(fs::create_directories(root_), root_), dir_ / "shadow"};
  std::map<int, std::uint64_t> acked_; ///< round -> lines 1..N acknowledged
  int round_ = 0;
  long started_calls_ = 0, counted_ = 0;
  bool killed_ = false;
  std::size_t delivered_ = 0;
};

// Injected failures instead of cuts: the first two sync calls of one kind after the start fail
// (EIO, ENOSPC or EROFS: a segment's or the event log's data, a directory, the state slot, a
// cursor, the rename that replaces a cursor or the event log's `current` link, the ftruncate that
// puts a segment back after a failed sync),
// the pipeline retries them, and, stopped cleanly, has every acknowledged line in the event log
// once.
TEST_F(pipeline_powercut, a_failing_sync_or_rename_is_retried_and_loses_nothing) {
  const std::vector<std::pair<std::string, int>> faults = {
      {"fdatasync " + (fs::canonical(root_) / "queue" / "0").string(), EIO},
      {"dirsync " + (fs::canonical(root_) / "queue").string(), ENOSPC},
      {".eventlog-state", EIO},
      {"fdatasync " + (fs::canonical(root_) / "events").string(), EIO},
      {"dirsync " + (fs::canonical(root_) / "events").string(), ENOSPC},
      {"/cursors", EIO},
      {"rename " + (fs::canonical(root_) / "queue" / "cursors").string(), EIO},
      {"rename " + (fs::canonical(root_) / "events").string(), EROFS},
      // A segment's sync fails, then the ftruncate that puts the segment back: both retried.
      {(fs::canonical(root_) / "queue" / "0").string(), EIO}};
  for (const auto& [match, error] : faults) {
    ++round_;
    SCOPED_TRACE("round " + std::to_string(round_) + ": the first two calls of '" + match +
                 "' after the start fail with " + std::strerror(error));
    listen_pipeline lp;
    ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
        dir_, [&](std::uint16_t port) { return config(port); }, lp,
        pc_.env({.fails = 2, .fail_errno = error, .match = match})));
    pc_.arm_failure(pc_.counted() + 1);
    acked_[round_] = push_round(lp.port, round_, 10);
    EXPECT_EQ(acked_[round_], static_cast<std::uint64_t>(k_lines)) << tail_of(lp.daemon->log());
    std::string problem;
    EXPECT_TRUE(lp.daemon->wait_for([&] { return check(problem, false); })) << problem;
    EXPECT_EQ(lp.daemon->stop(), 0) << tail_of(lp.daemon->log());
    bool failed = false;
    for (const auto& l : pc_.log())
      failed = failed || l.rfind("fail ", 0) == 0;
    EXPECT_TRUE(failed) << "no call of '" << match << "' was failed";
    EXPECT_TRUE(check(problem, true)) << problem;
    pc_.reset();
  }
}

// Every write under the data directory is interrupted (EINTR) or short, alternately: the queue,
// the cursors and the event log finish each write, and nothing is lost or doubled.
TEST_F(pipeline_powercut, short_and_interrupted_writes_lose_nothing) {
  round_ = 1;
  listen_pipeline lp;
  ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
      dir_, [&](std::uint16_t port) { return config(port); }, lp, pc_.env({.writes = "chop"})));
  acked_[round_] = push_round(lp.port, round_, 10);
  EXPECT_EQ(acked_[round_], static_cast<std::uint64_t>(k_lines)) << tail_of(lp.daemon->log());
  std::string problem;
  EXPECT_TRUE(lp.daemon->wait_for([&] { return check(problem, false); })) << problem;
  EXPECT_EQ(lp.daemon->stop(), 0) << tail_of(lp.daemon->log());
  EXPECT_TRUE(pc_.logged("chopped")) << "no write was chopped";
  EXPECT_TRUE(check(problem, true)) << problem;
}

// The disk fills up (writes under the data directory go in partly, then fail with ENOSPC) while a
// pusher sends: the queue holds the records and waits for space, intake pauses (the pusher is
// not acknowledged and waits), and once there is space again every line is acknowledged and
// delivered once.
TEST_F(pipeline_powercut, a_full_disk_pauses_intake_and_loses_nothing) {
  listen_pipeline lp;
  ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
      dir_, [&](std::uint16_t port) { return config(port); }, lp, pc_.env({.writes = "full"})));
  round_ = 1;
  acked_[1] = push_round(lp.port, 1);
  ASSERT_EQ(acked_[1], static_cast<std::uint64_t>(k_lines)) << tail_of(lp.daemon->log());

  pc_.set_full(true);
  round_ = 2;
  std::atomic<bool> pushed{false};
  std::thread pusher([&] {
    acked_[2] = push_round(lp.port, 2, 10);
    pushed = true;
  });
  bool paused = lp.daemon->wait_for(
      [&] { return lp.daemon->log().find("the disk is full") != std::string::npos; });
  bool finished_while_full = pushed.load();
  pc_.set_full(false);
  pusher.join();
  EXPECT_TRUE(paused) << "the queue did not wait for space\n" << tail_of(lp.daemon->log());
  EXPECT_TRUE(pc_.logged("full"));
  EXPECT_FALSE(finished_while_full) << "lines were acknowledged while nothing could be written";
  EXPECT_EQ(acked_[2], static_cast<std::uint64_t>(k_lines)) << tail_of(lp.daemon->log());
  std::string problem;
  EXPECT_TRUE(lp.daemon->wait_for([&] { return check(problem, false); })) << problem;
  EXPECT_EQ(lp.daemon->stop(), 0) << tail_of(lp.daemon->log());
  EXPECT_TRUE(check(problem, true)) << problem;
}

TEST_F(pipeline_powercut, at_any_sync) {
  run("");
}

TEST_F(pipeline_powercut, during_the_event_log_state_write) {
  run(".eventlog-state");
}

TEST_F(pipeline_powercut, during_a_cursor_write) {
  run("/cursors");
}

TEST_F(pipeline_powercut, during_the_event_log_rotation) {
  run("dirsync " + (fs::canonical(root_) / "events").string());
}

} // namespace
} // namespace sluice::testing
