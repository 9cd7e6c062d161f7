#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "daemon/hooks.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

namespace sluice::daemon {
namespace {

using namespace std::chrono_literals;
using sluice::testing::temp_dir;

// Bounds every wait below: a ceiling only a broken build reaches, never a measurement.
constexpr auto k_ceiling = 20s;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Built by appending: `"'" + p.string() + "'"` trips GCC 12's -Wrestrict false positive at -O3.
std::string quoted(const std::filesystem::path& p) {
  std::string s(1, '\'');
  s.append(p.native());
  s.push_back('\'');
  return s;
}

bool wait_for_file(const std::filesystem::path& p) {
  return sluice::testing::eventually(
      k_ceiling, [&] { return std::filesystem::exists(p); }, 5ms);
}

config::hooks_config with_timeout(std::chrono::nanoseconds timeout) {
  config::hooks_config cfg;
  cfg.timeout = timeout;
  return cfg;
}

TEST(hooks, a_hook_sees_exactly_the_sluice_variables) {
  temp_dir dir;
  auto out = dir / "env";
  auto cfg = with_timeout(k_ceiling);
  cfg.on_task_done = "env | grep '^SLUICE_' | LC_ALL=C sort > " + quoted(out);
  hook_runner hooks(cfg, "myid", "ctx");
  hooks.fire(
      "task_done",
      {{"SLUICE_TASK", "nightly"}, {"SLUICE_DURATION_MS", "1234"}, {"SLUICE_STATUS", "exit 0"}});
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_EQ(read_file(out), "SLUICE_CONTEXT=ctx\n"
                            "SLUICE_DURATION_MS=1234\n"
                            "SLUICE_EVENT=task_done\n"
                            "SLUICE_ID=myid\n"
                            "SLUICE_STATUS=exit 0\n"
                            "SLUICE_TASK=nightly\n");
  EXPECT_EQ(hooks.failed(), 0u);
}

TEST(hooks, fire_returns_while_the_hook_still_runs) {
  temp_dir dir;
  auto go = dir / "go";
  auto done = dir / "done";
  auto cfg = with_timeout(k_ceiling);
  // The hook cannot finish before the test lets it: no race, no timing.
  cfg.on_start = "while [ ! -e " + quoted(go) + " ]; do sleep 0.01; done; touch " + quoted(done);
  hook_runner hooks(cfg, "id", "");
  hooks.fire("start");
  EXPECT_FALSE(std::filesystem::exists(done));
  std::ofstream(go).put('\n');
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_TRUE(std::filesystem::exists(done));
  EXPECT_EQ(hooks.timed_out(), 0u);
}

TEST(hooks, hooks_run_one_at_a_time_in_order) {
  temp_dir dir;
  auto out = dir / "order";
  auto cfg = with_timeout(k_ceiling);
  cfg.on_start = cfg.on_stop = "echo \"begin $SLUICE_EVENT\" >> " + quoted(out) +
                               "; sleep 0.05; echo \"end $SLUICE_EVENT\" >> " + quoted(out);
  hook_runner hooks(cfg, "id", "");
  hooks.fire("start");
  hooks.fire("stop");
  hooks.fire("start");
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_EQ(read_file(out),
            "begin start\nend start\nbegin stop\nend stop\nbegin start\nend start\n");
}

TEST(hooks, a_hook_past_its_timeout_is_killed_and_counted) {
  auto cfg = with_timeout(200ms);
  cfg.on_start = "sleep 30";
  hook_runner hooks(cfg, "id", "");
  hooks.fire("start");
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_EQ(hooks.timed_out(), 1u);
  EXPECT_EQ(hooks.failed(), 0u);
}

TEST(hooks, a_hook_that_ignores_sigterm_is_killed_after_the_grace) {
  auto cfg = with_timeout(200ms);
  // The ignored TERM is inherited by sleep too: only the KILL ends them.
  cfg.on_start = "trap '' TERM; sleep 30";
  hook_runner hooks(cfg, "id", "");
  hooks.fire("start");
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_EQ(hooks.timed_out(), 1u);
}

TEST(hooks, a_failing_hook_is_counted) {
  auto cfg = with_timeout(k_ceiling);
  cfg.on_stop = "exit 1";
  hook_runner hooks(cfg, "id", "");
  hooks.fire("stop", {{"SLUICE_STATUS", "exit 0"}});
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_EQ(hooks.failed(), 1u);
  EXPECT_EQ(hooks.timed_out(), 0u);
}

TEST(hooks, events_without_a_command_run_nothing) {
  temp_dir dir;
  auto marker = dir / "ran";
  auto cfg = with_timeout(k_ceiling);
  cfg.on_start = "echo \"$SLUICE_EVENT\" >> " + quoted(marker);
  hook_runner hooks(cfg, "id", "");
  hooks.fire("stop");
  hooks.fire("crash");
  hooks.fire("task_done");
  hooks.fire("no_such_event");
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_FALSE(std::filesystem::exists(marker));
  hooks.fire("start");
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_EQ(read_file(marker), "start\n");
  EXPECT_EQ(hooks.failed(), 0u);
  EXPECT_EQ(hooks.dropped(), 0u);
}

TEST(hooks, output_goes_to_the_output_file) {
  temp_dir dir;
  auto log = dir / "hooks.log";
  auto cfg = with_timeout(k_ceiling);
  cfg.on_crash = "echo \"out $SLUICE_STATUS\"; echo err >&2";
  hook_runner hooks(cfg, "id", "", log);
  hooks.fire("crash", {{"SLUICE_STATUS", "signal 9"}});
  ASSERT_TRUE(hooks.wait_idle(k_ceiling));
  EXPECT_EQ(read_file(log), "out signal 9\nerr\n");
}

TEST(hooks, past_the_queue_cap_hooks_are_dropped_and_counted) {
  temp_dir dir;
  auto started = dir / "started";
  auto go = dir / "go";
  auto cfg = with_timeout(k_ceiling);
  cfg.on_start =
      "touch " + quoted(started) + "; while [ ! -e " + quoted(go) + " ]; do sleep 0.01; done";
  hook_runner hooks(cfg, "id", "");
  hooks.fire("start");
  // The first one runs (so it no longer counts as queued) and waits for `go`.
  ASSERT_TRUE(wait_for_file(started));
  for (std::size_t i = 0; i < hook_runner::k_max_queued + 1; ++i)
    hooks.fire("start");
  EXPECT_EQ(hooks.dropped(), 1u);
  std::ofstream(go).put('\n');
  ASSERT_TRUE(hooks.wait_idle(60s));
  EXPECT_EQ(hooks.dropped(), 1u);
  EXPECT_EQ(hooks.failed(), 0u);
}

} // namespace
} // namespace sluice::daemon
