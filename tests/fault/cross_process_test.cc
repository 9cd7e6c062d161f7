// Two real processes on one queue: `sluice queue append` writes a million lines while
// `sluice queue tail --follow` in another process follows the watermark it publishes. The follower
// must print exactly the lines fed, in order, none missing and none twice.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace sluice::queue::disk {
namespace {

using namespace std::chrono_literals;
using namespace sluice::testing; // child_process, its helpers, steady, temp_dir

constexpr std::uint64_t k_lines = 1'000'000;
constexpr auto k_timeout = 30s;
constexpr std::size_t k_feed_chunk = 64 * 1024;

TEST(cross_process, follower_in_another_process_sees_exact_sequence) {
  temp_dir d;
  const auto dir = d / "q";
  // The queue exists (directory, watermark file, first segment) before either process starts,
  // so the follower starts first and waits on the watermark for the appender to come.
  {
    auto q = open(options{.dir = dir}).value();
    ASSERT_TRUE(q->close().has_value());
  }
  child_process follower({"queue", "tail", dir.string(), "--from", "beginning", "--follow",
                          "--count", std::to_string(k_lines)},
                         {false, true, d / "tail.log"});
  child_process appender({"queue", "append", dir.string(), "--fsync", "10ms"},
                         {true, false, d / "append.log"});
  auto logs = [&] { return "\nappend log:\n" + appender.log() + "\ntail log:\n" + follower.log(); };

  const auto deadline = steady::now() + k_timeout;
  std::string feed;           // lines generated, not yet written
  std::uint64_t next_fed = 1; // the next line to generate
  line_splitter out;
  std::uint64_t received = 0;
  std::string expected;
  while (follower.stdout_fd() >= 0) {
    pollfd fds[2] = {{follower.stdout_fd(), POLLIN, 0}, {appender.stdin_fd(), POLLOUT, 0}};
    nfds_t n = appender.stdin_fd() >= 0 ? 2 : 1;
    int ready = ::poll(fds, n, ms_until(deadline));
    ASSERT_GT(ready, 0) << "timed out: fed " << next_fed - 1 << " lines, received " << received
                        << logs();
    if (fds[0].revents != 0) {
      bool open = read_available(follower.stdout_fd(), out.buffer());
      while (auto line = out.next()) {
        ++received;
        expected.assign("line-");
        expected += std::to_string(received);
        ASSERT_EQ(*line, expected) << "line " << received << " of the follower's output" << logs();
      }
      if (!open)
        follower.close_stdout();
    }
    if (n == 2 && fds[1].revents != 0) {
      ASSERT_EQ(fds[1].revents & (POLLERR | POLLHUP), 0) << "the appender ended early" << logs();
      while (feed.size() < k_feed_chunk && next_fed <= k_lines) {
        feed += "line-";
        feed += std::to_string(next_fed++);
        feed += '\n';
      }
      ssize_t w = ::write(appender.stdin_fd(), feed.data(), feed.size());
      if (w > 0)
        feed.erase(0, static_cast<std::size_t>(w));
      if (feed.empty() && next_fed > k_lines)
        appender.close_stdin(); // end of input
    }
  }
  EXPECT_EQ(received, k_lines) << logs();
  EXPECT_EQ(out.partial_bytes(), 0u) << "a partial line after the last one" << logs();

  auto tail_status = follower.wait(std::chrono::milliseconds(ms_until(deadline)));
  ASSERT_TRUE(tail_status.has_value()) << "the follower did not exit" << logs();
  EXPECT_TRUE(WIFEXITED(*tail_status) && WEXITSTATUS(*tail_status) == 0)
      << "tail: " << describe_status(*tail_status) << logs();
  auto append_status = appender.wait(std::chrono::milliseconds(ms_until(deadline)));
  ASSERT_TRUE(append_status.has_value()) << "the appender did not exit" << logs();
  EXPECT_TRUE(WIFEXITED(*append_status) && WEXITSTATUS(*append_status) == 0)
      << "append: " << describe_status(*append_status) << logs();
  EXPECT_NE(appender.log().find("appended 1000000 records, positions 1..1000000\n"),
            std::string::npos)
      << logs();
}

} // namespace
} // namespace sluice::queue::disk
