#pragma once

// Rounds of the real `sluice queue append --ack` fed numbered lines ("r<round>-<n>") and then
// stopped (SIGKILL by the test, or a power cut by support/powercut.h's shim), and the check of
// the queue after each: what kill9_test.cc and powercut_queue_test.cc share.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <poll.h>
#include <signal.h>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "support/child_process.h"

namespace sluice::queue::disk::rounds {

using namespace std::chrono_literals;
using namespace sluice::testing; // child_process, its helpers, steady

inline constexpr auto k_round_timeout = 20s;
inline constexpr std::uint64_t k_max_reads = 10'000'000; // bounds a reader that never runs dry

inline std::string line_of(int round, std::uint64_t n) {
  return "r" + std::to_string(round) + "-" + std::to_string(n);
}

// "r<round>-<n>" parsed; false for anything else.
inline bool parse_line(std::string_view s, int& round, std::uint64_t& n) {
  if (s.size() < 4 || s[0] != 'r')
    return false;
  auto dash = s.find('-');
  if (dash == std::string_view::npos)
    return false;
  auto r1 = std::from_chars(s.data() + 1, s.data() + dash, round);
  auto r2 = std::from_chars(s.data() + dash + 1, s.data() + s.size(), n);
  return r1.ec == std::errc() && r1.ptr == s.data() + dash && r2.ec == std::errc() &&
         r2.ptr == s.data() + s.size();
}

// "ack <position>" parsed; false for anything else.
inline bool parse_ack(std::string_view s, position& p) {
  if (s.substr(0, 4) != "ack ")
    return false;
  auto r = std::from_chars(s.data() + 4, s.data() + s.size(), p);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && p > 0;
}

// What one round fed and was told.
struct round_log {
  std::uint64_t fed_lines = 0;       ///< whole lines written to the appender's stdin
  std::vector<position> acks;        ///< every "ack N" it printed, in order
  position first = 0;                ///< after recovery: the position of line 1 (0: none kept)
  std::uint64_t kept = 0;            ///< after recovery: lines 1..kept are in the queue
  std::uint64_t truncated_bytes = 0; ///< torn tail cut by the recovery after this round
  bool checked = false;              ///< first and kept were taken by a check_queue()
};

/// How a round runs and how it ends.
struct round_plan {
  std::string fsync = "always";         ///< the appender's --fsync
  std::string segment_bytes = "256KiB"; ///< its --segment-bytes
  std::uint64_t kill_after_acks = 0;    ///< SIGKILL once this many acks came ...
  std::size_t extra_bytes = 0;          ///< ... and this many more bytes were taken
  /// Under the power-loss simulator (power_cut::env()): feed `lines` lines, close stdin, and let
  /// the appender end by itself, at the end of its input or at the shim's cut; no SIGKILL.
  std::vector<std::string> env;
  std::uint64_t lines = 0;
};

// Feeds "r<round>-1", "r<round>-2", ... to the appender and reads its acks until the plan's end:
// `kill_after_acks` acks and `extra_bytes` more input, then SIGKILL; or, under the simulator,
// until the appender ended. Counts bytes and acks, never time, to choose the moment.
inline void run_round(const std::filesystem::path& dir, const std::filesystem::path& log, int round,
                      const round_plan& plan, round_log& out) {
  const bool ends_itself = !plan.env.empty();
  child_process app({"queue", "append", dir.string(), "--fsync", plan.fsync, "--ack",
                     "--segment-bytes", plan.segment_bytes},
                    {.pipe_stdin = true, .pipe_stdout = true, .log = log, .env = plan.env});
  auto deadline = steady::now() + k_round_timeout;
  std::string pending; // bytes generated, not yet written
  std::uint64_t next_line = 1;
  std::size_t extra_fed = 0;
  line_splitter acks;
  auto take_acks = [&] {
    while (auto l = acks.next()) {
      position p = 0;
      if (!parse_ack(*l, p)) {
        ADD_FAILURE() << "round " << round << ": unexpected output '" << *l << "'";
        return false;
      }
      out.acks.push_back(p);
    }
    return true;
  };
  auto more_to_feed = [&] { return !pending.empty() || next_line <= plan.lines; };
  while (ends_itself ? app.stdin_fd() >= 0
                     : out.acks.size() < plan.kill_after_acks || extra_fed < plan.extra_bytes) {
    if (ends_itself && !more_to_feed()) {
      app.close_stdin();
      break;
    }
    pollfd fds[2] = {{app.stdin_fd(), POLLOUT, 0}, {app.stdout_fd(), POLLIN, 0}};
    int n = ::poll(fds, 2, ms_until(deadline));
    ASSERT_GT(n, 0) << "round " << round << ": timed out after " << out.acks.size()
                    << " acks; log:\n"
                    << app.log();
    if (fds[1].revents != 0) {
      bool open = read_available(app.stdout_fd(), acks.buffer());
      ASSERT_TRUE(take_acks());
      if (!open && ends_itself)
        break;
      ASSERT_TRUE(open) << "round " << round << ": the appender ended early; log:\n" << app.log();
    }
    if (fds[0].revents & (POLLERR | POLLHUP)) {
      if (ends_itself)
        break;
      FAIL() << "round " << round << ": the appender closed its stdin; log:\n" << app.log();
    }
    if (fds[0].revents & POLLOUT) {
      while (pending.size() < 16 * 1024 && (!ends_itself || next_line <= plan.lines))
        pending += line_of(round, next_line++) + '\n';
      ssize_t w = ::write(app.stdin_fd(), pending.data(), pending.size());
      if (w > 0) {
        auto written = std::string_view(pending).substr(0, static_cast<std::size_t>(w));
        out.fed_lines +=
            static_cast<std::uint64_t>(std::count(written.begin(), written.end(), '\n'));
        if (out.acks.size() >= plan.kill_after_acks)
          extra_fed += static_cast<std::size_t>(w);
        pending.erase(0, static_cast<std::size_t>(w));
      }
    }
  }
  if (!ends_itself)
    app.kill(SIGKILL);
  auto status = app.wait(ends_itself ? k_round_timeout : 10s);
  ASSERT_TRUE(status.has_value()) << "round " << round << ": the appender did not end";
  if (ends_itself)
    EXPECT_TRUE(WIFEXITED(*status) ? WEXITSTATUS(*status) == 0
                                   : WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << "round " << round << ": " << describe_status(*status) << "; log:\n"
        << app.log();
  else
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << "round " << round << ": " << describe_status(*status) << "; log:\n"
        << app.log();
  // Acks printed before the end but not read yet are promises too: read to end of file.
  for (;;) {
    pollfd p{app.stdout_fd(), POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, ms_until(deadline)), 0) << "round " << round << ": no end of stdout";
    if (!read_available(app.stdout_fd(), acks.buffer()))
      break;
  }
  ASSERT_TRUE(take_acks());
}

// Every record after recovery, round by round: each round's records are lines 1..kept of that
// round at consecutive positions (one process assigns positions one after another), positions
// increase strictly across rounds, every ack is kept, and a round checked before still has
// exactly what it had. (Lines 1..kept of each round, once each: no payload appears twice.)
inline void check_queue(const std::filesystem::path& dir, int rounds_done,
                        std::vector<round_log>& logs, std::uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed) + ", after round " + std::to_string(rounds_done));
  std::string detail;
  auto q = open(options{.dir = dir}, &detail);
  ASSERT_TRUE(q.has_value()) << q.error().message() << ": " << detail;
  logs[static_cast<std::size_t>(rounds_done)].truncated_bytes = (*q)->stats().truncated_bytes.get();
  std::vector<std::uint64_t> kept(static_cast<std::size_t>(rounds_done) + 1, 0);
  std::vector<position> first(kept.size(), 0);
  {
    auto r = (*q)->open_reader(start_at::beginning()).value();
    batch b;
    position last = 0;
    int round = 1;
    for (std::uint64_t reads = 0;; ++reads) {
      ASSERT_LT(reads, k_max_reads) << "the reader did not run dry";
      auto res = r->read(b, {8192, 4u << 20}, 0ms);
      if (!res) {
        ASSERT_EQ(res.error(), errc::timed_out) << res.error().message();
        break;
      }
      ASSERT_EQ(b.damaged_records, 0u);
      for (const auto& rec : b.records) {
        ASSERT_GT(rec.pos, last);
        last = rec.pos;
        int r_of = 0;
        std::uint64_t n = 0;
        ASSERT_TRUE(parse_line(rec.payload, r_of, n)) << "payload '" << rec.payload << "'";
        ASSERT_GE(r_of, round) << "position " << rec.pos << ": " << rec.payload;
        ASSERT_LE(r_of, rounds_done) << "position " << rec.pos << ": " << rec.payload;
        round = r_of;
        auto i = static_cast<std::size_t>(r_of);
        ASSERT_EQ(n, kept[i] + 1) << "position " << rec.pos << ": " << rec.payload;
        if (kept[i] == 0)
          first[i] = rec.pos;
        ASSERT_EQ(rec.pos, first[i] + kept[i]) << rec.payload;
        ++kept[i];
      }
    }
    EXPECT_EQ(last, (*q)->durable_watermark());
  }
  for (int k = 1; k <= rounds_done; ++k) {
    auto& lg = logs[static_cast<std::size_t>(k)];
    auto i = static_cast<std::size_t>(k);
    SCOPED_TRACE("round " + std::to_string(k) + ": fed " + std::to_string(lg.fed_lines) +
                 " lines, " + std::to_string(lg.acks.size()) + " acks, kept " +
                 std::to_string(kept[i]));
    EXPECT_LE(kept[i], lg.fed_lines);
    EXPECT_TRUE(std::is_sorted(lg.acks.begin(), lg.acks.end()));
    // Every acknowledged position holds this round's line: inside [first, first + kept). (A
    // power cut may come before the first ack.)
    if (!lg.acks.empty()) {
      ASSERT_GT(kept[i], 0u);
      EXPECT_GE(lg.acks.front(), first[i]);
      EXPECT_LT(lg.acks.back(), first[i] + kept[i]);
    }
    if (lg.checked) {
      EXPECT_EQ(first[i], lg.first) << "an earlier round's records moved";
      EXPECT_EQ(kept[i], lg.kept) << "an earlier round's records changed in number";
    } else {
      lg.first = first[i];
      lg.kept = kept[i];
      lg.checked = true;
    }
  }
  ASSERT_TRUE((*q)->close().has_value());
  q->reset();
  // Recovery cut every torn tail: nothing damaged is left.
  auto report = verify(dir).value();
  EXPECT_TRUE(report.clean()) << report.damages.size() << " damaged ranges, first in "
                              << report.damages.front().segment << " at offset "
                              << report.damages.front().offset << ": "
                              << report.damages.front().reason;
}

} // namespace sluice::queue::disk::rounds
