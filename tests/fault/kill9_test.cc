// SIGKILL to the real `sluice queue append --fsync always --ack` while it appends: after
// recovery every acknowledged record is there with its payload, each round's records are a prefix
// of the lines it was fed, and nothing of an earlier round is lost.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <poll.h>
#include <random>
#include <signal.h>
#include <string>
#include <string_view>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/disk/format.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace sluice::queue::disk {
namespace {

using namespace std::chrono_literals;
using namespace sluice::testing; // child_process, its helpers, steady, temp_dir

constexpr int k_rounds = 20;
constexpr std::uint64_t k_max_acks = 200;
constexpr std::size_t k_max_extra_bytes = 64 * 1024;
constexpr auto k_round_timeout = 20s;
constexpr std::uint64_t k_max_reads = 10'000'000; // bounds a reader that never runs dry

std::uint64_t seed_from_env_or_random() {
  if (const char* s = std::getenv("SLUICE_TEST_SEED"))
    return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

std::string line_of(int round, std::uint64_t n) {
  return "r" + std::to_string(round) + "-" + std::to_string(n);
}

// "r<round>-<n>" parsed; false for anything else.
bool parse_line(std::string_view s, int& round, std::uint64_t& n) {
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
bool parse_ack(std::string_view s, position& p) {
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
};

// Feeds "r<round>-1", "r<round>-2", ... to the appender and reads its acks until it has printed
// `kill_after_acks` of them and then taken `extra_bytes` more input; then SIGKILL. Counts bytes
// and acks, never time, to choose the moment.
void run_round(const std::filesystem::path& dir, const std::filesystem::path& log, int round,
               std::uint64_t kill_after_acks, std::size_t extra_bytes, round_log& out) {
  child_process app(
      {"queue", "append", dir.string(), "--fsync", "always", "--ack", "--segment-bytes", "256KiB"},
      {true, true, log});
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
  while (out.acks.size() < kill_after_acks || extra_fed < extra_bytes) {
    pollfd fds[2] = {{app.stdin_fd(), POLLOUT, 0}, {app.stdout_fd(), POLLIN, 0}};
    int n = ::poll(fds, 2, ms_until(deadline));
    ASSERT_GT(n, 0) << "round " << round << ": timed out after " << out.acks.size()
                    << " acks; log:\n"
                    << app.log();
    if (fds[1].revents != 0) {
      bool open = read_available(app.stdout_fd(), acks.buffer());
      ASSERT_TRUE(take_acks());
      ASSERT_TRUE(open) << "round " << round << ": the appender ended early; log:\n" << app.log();
    }
    if (fds[0].revents & (POLLERR | POLLHUP))
      FAIL() << "round " << round << ": the appender closed its stdin; log:\n" << app.log();
    if (fds[0].revents & POLLOUT) {
      while (pending.size() < 16 * 1024)
        pending += line_of(round, next_line++) + '\n';
      ssize_t w = ::write(app.stdin_fd(), pending.data(), pending.size());
      if (w > 0) {
        auto written = std::string_view(pending).substr(0, static_cast<std::size_t>(w));
        out.fed_lines +=
            static_cast<std::uint64_t>(std::count(written.begin(), written.end(), '\n'));
        if (out.acks.size() >= kill_after_acks)
          extra_fed += static_cast<std::size_t>(w);
        pending.erase(0, static_cast<std::size_t>(w));
      }
    }
  }
  app.kill(SIGKILL);
  auto status = app.wait(10s);
  ASSERT_TRUE(status.has_value()) << "round " << round << ": the appender outlived SIGKILL";
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
      << "round " << round << ": " << describe_status(*status) << "; log:\n"
      << app.log();
  // Acks printed before the kill but not read yet are promises too: read to end of file.
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
void check_queue(const std::filesystem::path& dir, int rounds_done, std::vector<round_log>& logs,
                 std::uint64_t seed) {
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
    ASSERT_FALSE(lg.acks.empty());
    EXPECT_TRUE(std::is_sorted(lg.acks.begin(), lg.acks.end()));
    // Every acknowledged position holds this round's line: inside [first, first + kept).
    ASSERT_GT(kept[i], 0u);
    EXPECT_GE(lg.acks.front(), first[i]);
    EXPECT_LT(lg.acks.back(), first[i] + kept[i]);
    if (k < rounds_done) {
      EXPECT_EQ(first[i], lg.first) << "an earlier round's records moved";
      EXPECT_EQ(kept[i], lg.kept) << "an earlier round's records changed in number";
    } else {
      lg.first = first[i];
      lg.kept = kept[i];
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

TEST(kill9, kill9_during_group_commit) {
  const std::uint64_t seed = seed_from_env_or_random();
  std::cout << "kill9_during_group_commit: seed " << seed << " (set SLUICE_TEST_SEED to repeat)"
            << std::endl;
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  temp_dir d;
  const auto dir = d / "q";
  std::vector<round_log> logs(k_rounds + 1);
  for (int round = 1; round <= k_rounds; ++round) {
    auto acks = std::uniform_int_distribution<std::uint64_t>(1, k_max_acks)(rng);
    // Half the rounds die right at an ack, half after some more input was taken.
    std::size_t extra =
        rng() % 2 == 0 ? 0 : std::uniform_int_distribution<std::size_t>(1, k_max_extra_bytes)(rng);
    SCOPED_TRACE("seed " + std::to_string(seed) + ", round " + std::to_string(round) +
                 ": kill after " + std::to_string(acks) + " acks and " + std::to_string(extra) +
                 " more bytes");
    run_round(dir, d / ("append-" + std::to_string(round) + ".log"), round, acks, extra,
              logs[static_cast<std::size_t>(round)]);
    if (HasFatalFailure())
      return;
    check_queue(dir, round, logs, seed);
    if (HasFatalFailure())
      return;
  }
  // What the rounds exercised, for whoever reads the log.
  std::uint64_t records = 0, unacked_kept = 0, torn = 0;
  for (const auto& lg : logs) {
    if (lg.acks.empty())
      continue;
    records += lg.kept;
    if (lg.first + lg.kept - 1 > lg.acks.back())
      ++unacked_kept;
    if (lg.truncated_bytes > 0)
      ++torn;
  }
  std::cout << "kill9_during_group_commit: " << records << " records in " << k_rounds << " rounds; "
            << unacked_kept << " rounds kept records past their last ack, " << torn
            << " had a torn tail cut" << std::endl;
}

// A writer killed between the two stores of a watermark publish leaves the sequence odd ("update
// in progress", see format.h) with no writer left to finish the update. Reopening the queue must
// neither hang (recovery reads the old watermark) nor leave the sequence odd once it has
// published. The reopen runs in a forked child so that a hang fails the test instead of stalling
// it.
TEST(kill9, kill9_mid_watermark_publish_does_not_hang_reopen) {
  temp_dir d;
  {
    auto q = open(options{.dir = d.path()}).value();
    ASSERT_TRUE(q->close().has_value());
  }
  constexpr off_t k_seq_offset = 12;
  {
    auto f = open_file(d / "watermark", O_RDWR).value();
    std::uint32_t seq = 0;
    ASSERT_EQ(::pread(f.get(), &seq, 4, k_seq_offset), 4);
    ASSERT_EQ(seq % 2, 0u);
    seq += 1; // what a writer killed mid-publish leaves
    ASSERT_EQ(::pwrite(f.get(), &seq, 4, k_seq_offset), 4);
  }
  // Exit status: 0 reopened with an even sequence, 1 could not open, 2 sequence left odd.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto q = open(options{.dir = d.path()});
    if (!q)
      ::_exit(1);
    std::uint32_t seq = 1;
    auto f = open_file(d / "watermark", O_RDONLY);
    if (!f || ::pread(f->get(), &seq, 4, k_seq_offset) != 4)
      ::_exit(1);
    ::_exit(seq % 2 == 0 ? 0 : 2);
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  pollfd p{pidfd, POLLIN, 0};
  bool ended = ::poll(&p, 1, 10'000) == 1;
  ::close(pidfd);
  if (!ended)
    ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(ended) << "open() still running after 10 s (spinning on the odd sequence)";
  ASSERT_TRUE(WIFEXITED(status)) << describe_status(status);
  EXPECT_NE(WEXITSTATUS(status), 1) << "open() failed";
  EXPECT_NE(WEXITSTATUS(status), 2) << "the sequence was left odd: readers spin in load()";
}

} // namespace
} // namespace sluice::queue::disk
