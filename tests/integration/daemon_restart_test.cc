// The supervisor of `sluice start` (docs/daemon.md): a pipeline killed with SIGKILL is started
// again and loses nothing, one past its memory threshold is restarted at once, and one that
// cannot run (its queue locked by another process) is not restarted.

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <signal.h>
#include <string>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "daemon_fixture.h"
#include "firehose/generator.h"
#include "support/eventually.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

/// Rank of each line 1..n of the firehose's stream for `seed`, by content.
class rank_index {
public:
  rank_index(std::uint64_t seed, std::uint64_t n) {
    sluice::firehose::generator g(sluice::firehose::stream_options{.seed = seed});
    for (std::uint64_t r = 1; r <= n; ++r)
      by_line_.emplace(g.line_at(r), r);
  }
  /// The rank of `line`, 0 when the stream has no such line.
  std::uint64_t find(const std::string& line) const {
    auto it = by_line_.find(line);
    return it == by_line_.end() ? 0 : it->second;
  }

private:
  std::unordered_map<std::string, std::uint64_t> by_line_;
};

// SIGKILL of the pipeline: the supervisor logs the crash and starts it again after 1 s. What was
// in flight at the kill the firehose counted as sent; the restarted pipeline's first connection
// asks for the 5,000 events before it (backfill) and drops those already queued, so the sink
// holds every rank exactly once, in order: nothing lost across the crash.
TEST_F(daemon_test, kill9_of_the_pipeline_is_restarted_and_loses_nothing) {
  constexpr std::uint64_t k_events = 30000;
  constexpr std::uint64_t k_seed = 3;
  firehose_child fh({"--count", std::to_string(k_events), "--rate", "5000", "--resume", "--seed",
                     std::to_string(k_seed)},
                    root_ / "firehose.log");
  ASSERT_NE(fh.port(), 0) << fh.log();
  auto d = daemon();
  write_config(d.config, "data", http_source(fh.port(), 5000), {{"events", ""}});
  daemon_guard guard(d);

  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());
  auto p = std::to_string(pid);
  int child = child_in(d.info_file());
  ASSERT_GT(child, 0) << file_text(d.info_file());

  std::size_t before = 0;
  ASSERT_TRUE(eventually(
      k_wait, [&] { return (before = eventlog_lines(root_ / "events").size()) >= 5000; }))
      << before << " events\n"
      << tail_of(d.log());
  ASSERT_EQ(::kill(child, SIGKILL), 0) << std::strerror(errno);

  std::vector<std::string> events;
  std::optional<std::size_t> crash, restart;
  bool restarted = eventually(k_wait, [&] {
    events = common_events(d.common_log());
    crash = find_line(events, "t-default crash pid=");
    restart = crash ? find_line(events, "t-default restart pid=", *crash + 1) : std::nullopt;
    return restart.has_value();
  });
  ASSERT_TRUE(restarted) << joined(events) << tail_of(d.log());
  EXPECT_EQ(events[*crash], "t-default crash pid=" + p + " status=\"signal 9\" restart_in=1s");
  int new_child = 0;
  EXPECT_TRUE(eventually(k_wait, [&] {
    new_child = child_in(d.info_file());
    return new_child != 0 && new_child != child;
  })) << file_text(d.info_file());
  EXPECT_EQ(events[*restart], "t-default restart pid=" + p + " child=" + std::to_string(new_child));
  auto status = sluice(d.args("status"));
  EXPECT_EQ(status.status, 0) << status.out << status.err;
  EXPECT_EQ(pid_in(d.pid_file()), pid);

  rank_index ranks(k_seed, k_events);
  std::vector<std::string> lines;
  bool finished = eventually(60s, [&] {
    lines = eventlog_lines(root_ / "events");
    return !lines.empty() && ranks.find(lines.back()) == k_events;
  });
  ASSERT_TRUE(finished) << lines.size() << " events, the last of rank "
                        << (lines.empty() ? 0 : ranks.find(lines.back())) << "\n"
                        << tail_of(d.log());
  int bad = 0;
  for (std::size_t i = 0; i < lines.size() && bad < 5; ++i) {
    auto rank = ranks.find(lines[i]);
    if (rank != i + 1) {
      ++bad;
      ADD_FAILURE() << "event " << i + 1 << " of the sink is rank " << rank << ": "
                    << lines[i].substr(0, 200);
    }
  }
  EXPECT_EQ(lines.size(), k_events);

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
}

TEST_F(daemon_test, a_locked_queue_is_fatal_and_not_restarted) {
  auto holder_cfg = root_ / "holder.toml";
  write_config(holder_cfg, "data", listen_source("holder.sock"), {{"holder-events", ""}});
  child_process holder(
      {"run", "-c", holder_cfg.string(), "--no-status"},
      child_stdio{.pipe_stdin = false, .pipe_stdout = false, .log = root_ / "holder.log"});
  ASSERT_TRUE(eventually(k_wait, [&] {
    return holder.log().find("running:") != std::string::npos;
  })) << holder.log();

  auto d = daemon();
  write_config(d.config, "data", listen_source(), {{"events", ""}});
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  EXPECT_EQ(start.status, 75) << start.out << start.err << tail_of(d.log());
  EXPECT_NE(start.err.find("is locked by pid " + std::to_string(holder.pid())), std::string::npos)
      << start.err;
  std::vector<std::string> events;
  std::optional<std::size_t> fatal;
  EXPECT_TRUE(eventually(k_wait, [&] {
    events = common_events(d.common_log());
    fatal = find_line(events, "t-default fatal pid=");
    return fatal.has_value();
  })) << joined(events);
  if (fatal) {
    EXPECT_NE(events[*fatal].find("exit 75"), std::string::npos) << events[*fatal];
  }
  EXPECT_FALSE(find_line(events, "t-default restart pid=").has_value()) << joined(events);
  EXPECT_NE(sluice(d.args("status")).status, 0);

  holder.kill(SIGTERM);
  auto st = holder.wait(30s);
  ASSERT_TRUE(st.has_value()) << holder.log();
  EXPECT_EQ(exit_code(*st), 0) << holder.log();
}

// A pipeline always above 70% of 1 MiB stops itself with 76 at its first check; the supervisor
// starts it again at once.
TEST_F(daemon_test, past_its_memory_threshold_the_pipeline_is_restarted) {
  auto d = daemon();
  simple_config(d, "data", "[daemon]\nmemory_limit = \"1MiB\"\nmemory_check_interval = \"1s\"\n");
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  auto p = std::to_string(pid_in(d.pid_file()));

  std::vector<std::string> events;
  std::optional<std::size_t> exited, restart;
  EXPECT_TRUE(eventually(k_wait,
                         [&] {
                           events = common_events(d.common_log());
                           exited = find_line(events, "t-default exit pid=");
                           restart = exited
                                         ? find_line(events, "t-default restart pid=", *exited + 1)
                                         : std::nullopt;
                           return restart.has_value();
                         }))
      << joined(events) << tail_of(d.log());
  if (exited) {
    EXPECT_EQ(events[*exited],
              "t-default exit pid=" + p + " status=\"exit 76\" reason=restart-requested");
  }
  if (restart) {
    EXPECT_TRUE(events[*restart].starts_with("t-default restart pid=" + p + " child="))
        << events[*restart];
  }
  EXPECT_FALSE(find_line(events, "t-default crash pid=").has_value()) << joined(events);

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
}

} // namespace
} // namespace sluice::testing
