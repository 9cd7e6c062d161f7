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

#include "append_rounds.h"
#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/disk/format.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace sluice::queue::disk {
namespace {

using namespace std::chrono_literals;
using namespace sluice::testing; // child_process, its helpers, steady, temp_dir
using namespace rounds;          // run_round, check_queue

constexpr int k_rounds = 20;
constexpr std::uint64_t k_max_acks = 200;
constexpr std::size_t k_max_extra_bytes = 64 * 1024;

std::uint64_t seed_from_env_or_random() {
  if (const char* s = std::getenv("SLUICE_TEST_SEED"))
    return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
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
    run_round(dir, d / ("append-" + std::to_string(round) + ".log"), round,
              {.kill_after_acks = acks, .extra_bytes = extra},
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
