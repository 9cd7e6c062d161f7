#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/tasks.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

namespace sluice::daemon {
namespace {

using namespace std::chrono_literals;
using config::task_config;
using sluice::testing::temp_dir;
using time_point = monotonic_clock::time_point;

// Bounds every wait below: a ceiling only a broken build reaches, never a measurement.
constexpr auto k_ceiling = 20s;

/// Time that moves only when the test says so. Counts its reads, so that a test can tell when
/// the runner has looked at the time after a jump.
class fake_clock : public monotonic_clock {
public:
  time_point now() const noexcept override {
    ++reads_;
    return time_point(duration(ns_.load()));
  }
  std::chrono::milliseconds wait_slice() const noexcept override { return 2ms; }

  void advance(duration d) { ns_ += d.count(); }
  std::uint64_t reads() const { return reads_.load(); }

private:
  std::atomic<duration::rep> ns_{duration(1000s).count()};
  mutable std::atomic<std::uint64_t> reads_{0};
};

bool eventually(const std::function<bool()>& pred) {
  return sluice::testing::eventually(k_ceiling, pred, 1ms);
}

// Returns once the runner's thread has read the (already advanced) clock twice: a whole pass of
// its loop saw the new time and acted on it. Only valid while no run is going (a run's worker
// reads the clock too, when it ends).
bool settle(const fake_clock& clock) {
  const auto first = clock.reads();
  return eventually([&] { return clock.reads() >= first + 2; });
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// What done() received, from the runner's thread.
struct done_log {
  struct entry {
    std::string task;
    std::string status;
    std::chrono::milliseconds duration;
  };
  std::mutex mu;
  std::vector<entry> entries;

  std::function<void(const task_config&, std::string_view, std::chrono::milliseconds)> sink() {
    return [this](const task_config& t, std::string_view status, std::chrono::milliseconds d) {
      std::lock_guard lk(mu);
      entries.push_back({t.name, std::string(status), d});
    };
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return entries.size();
  }
  entry at(std::size_t i) {
    std::lock_guard lk(mu);
    return entries.at(i);
  }
  std::map<std::string, std::string> statuses() {
    std::lock_guard lk(mu);
    std::map<std::string, std::string> out;
    for (const auto& e : entries)
      out[e.task] = e.status;
    return out;
  }
};

task_config make_task(std::string name, std::chrono::nanoseconds sleep,
                      std::chrono::nanoseconds min_sleep = 0s,
                      std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  task_config t;
  t.name = std::move(name);
  t.sleep = sleep;
  t.min_sleep = min_sleep;
  t.timeout = timeout;
  return t;
}

task_config exec_task(std::string name, std::vector<std::string> argv,
                      std::chrono::nanoseconds sleep,
                      std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  task_config t = make_task(std::move(name), sleep, 0s, timeout);
  t.what = task_config::kind::exec;
  t.argv = std::move(argv);
  return t;
}

task_config drain_task(std::string name, std::chrono::nanoseconds sleep,
                       std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  task_config t = make_task(std::move(name), sleep, 0s, timeout);
  t.what = task_config::kind::drain;
  t.subscription = "archive";
  return t;
}

const time_point t0 = time_point(1000s);

// ---- task_schedule: the rule on given times ----

TEST(tasks, schedule_first_run_is_sleep_after_the_scheduler_started) {
  task_schedule s(make_task("t", 10s));
  EXPECT_FALSE(s.running());
  EXPECT_EQ(s.next_start(t0), t0 + 10s);
}

TEST(tasks, schedule_next_run_is_sleep_after_the_previous_start) {
  task_schedule s(make_task("t", 10s));
  s.started(t0 + 10s);
  EXPECT_TRUE(s.running());
  EXPECT_EQ(s.next_start(t0), time_point::max());
  s.ended(t0 + 12s);
  EXPECT_FALSE(s.running());
  EXPECT_EQ(s.next_start(t0), t0 + 20s);
}

TEST(tasks, schedule_slow_run_waits_min_sleep_after_its_end) {
  task_schedule s(make_task("t", 10s, 3s));
  s.started(t0 + 10s);
  s.ended(t0 + 25s);
  EXPECT_EQ(s.next_start(t0), t0 + 28s); // max(20, 25 + 3)
}

TEST(tasks, schedule_slow_run_without_min_sleep_runs_again_on_its_end) {
  task_schedule s(make_task("t", 10s));
  s.started(t0 + 10s);
  s.ended(t0 + 25s);
  EXPECT_EQ(s.next_start(t0), t0 + 25s);
}

TEST(tasks, schedule_fast_run_keeps_the_start_to_start_period_despite_min_sleep) {
  task_schedule s(make_task("t", 10s, 3s));
  s.started(t0 + 10s);
  s.ended(t0 + 11s);
  EXPECT_EQ(s.next_start(t0), t0 + 20s); // max(20, 14)
}

TEST(tasks, schedule_deadline_is_start_plus_timeout_while_running) {
  task_schedule s(make_task("t", 10s, 0s, 5s));
  EXPECT_EQ(s.deadline(), std::nullopt);
  s.started(t0 + 10s);
  EXPECT_EQ(s.deadline(), t0 + 15s);
  s.ended(t0 + 15s);
  EXPECT_EQ(s.deadline(), std::nullopt);

  task_schedule no_timeout(make_task("t", 10s));
  no_timeout.started(t0 + 10s);
  EXPECT_EQ(no_timeout.deadline(), std::nullopt);
}

// ---- task_runner on a fake clock ----

TEST(tasks, runner_runs_an_exec_task_every_sleep) {
  temp_dir dir;
  auto out = dir / "runs";
  fake_clock clock;
  done_log done;
  task_runner runner(
      {exec_task("append", {"/bin/sh", "-c", "echo run >> '" + out.string() + "'"}, 60s)},
      {.drain = {}, .done = done.sink()}, clock);
  runner.start();
  ASSERT_TRUE(settle(clock));
  EXPECT_EQ(runner.runs_started(), 0u);

  clock.advance(60s);
  ASSERT_TRUE(eventually([&] { return done.size() == 1; }));
  EXPECT_EQ(read_file(out), "run\n");
  EXPECT_EQ(done.at(0).task, "append");
  EXPECT_EQ(done.at(0).status, "exit 0");
  EXPECT_EQ(done.at(0).duration, 0ms); // the fake clock did not move during the run

  clock.advance(59s);
  ASSERT_TRUE(settle(clock));
  EXPECT_EQ(runner.runs_started(), 1u);
  EXPECT_EQ(read_file(out), "run\n");

  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return done.size() == 2; }));
  EXPECT_EQ(read_file(out), "run\nrun\n");
  EXPECT_EQ(done.at(1).status, "exit 0");

  runner.stop(std::chrono::steady_clock::now() + k_ceiling);
  EXPECT_EQ(runner.failed(), 0u);
  EXPECT_EQ(runner.timed_out(), 0u);
}

TEST(tasks, runner_times_out_a_drain_that_runs_past_its_timeout) {
  fake_clock clock;
  done_log done;
  std::atomic<bool> entered{false};
  auto drain = [&](const task_config&, const std::atomic<bool>& cancel) -> result<int> {
    entered = true;
    while (!cancel)
      std::this_thread::sleep_for(1ms);
    return 0;
  };
  task_runner runner({drain_task("archive", 60s, 5s)}, {.drain = drain, .done = done.sink()},
                     clock);
  runner.start();
  clock.advance(60s);
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  clock.advance(4s);
  ASSERT_TRUE(settle(clock));
  EXPECT_EQ(done.size(), 0u);

  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return done.size() == 1; }));
  EXPECT_EQ(done.at(0).status, "timeout");
  EXPECT_EQ(done.at(0).duration, 5000ms);
  EXPECT_EQ(runner.timed_out(), 1u);
  runner.stop(std::chrono::steady_clock::now() + k_ceiling);
}

TEST(tasks, runner_terminates_an_exec_past_its_timeout) {
  fake_clock clock;
  done_log done;
  task_runner runner({exec_task("slow", {"sleep", "30"}, 60s, 5s)},
                     {.drain = {}, .done = done.sink()}, clock);
  runner.start();
  clock.advance(60s);
  ASSERT_TRUE(eventually([&] { return runner.runs_started() == 1; }));
  clock.advance(5s);
  ASSERT_TRUE(eventually([&] { return done.size() == 1; }));
  EXPECT_EQ(done.at(0).status, "timeout");
  EXPECT_EQ(runner.timed_out(), 1u);
  runner.stop(std::chrono::steady_clock::now() + k_ceiling);
}

TEST(tasks, runner_reports_exit_codes_and_failures) {
  fake_clock clock;
  done_log done;
  auto drain = [](const task_config& t, const std::atomic<bool>&) -> result<int> {
    if (t.name == "drain-error")
      return fail_errno(EIO);
    return 0;
  };
  task_runner runner({exec_task("ok", {"/bin/sh", "-c", "exit 0"}, 10s),
                      exec_task("three", {"/bin/sh", "-c", "exit 3"}, 10s),
                      exec_task("missing", {"/nonexistent/sluice-no-such-program"}, 10s),
                      drain_task("drain-ok", 10s), drain_task("drain-error", 10s)},
                     {.drain = drain, .done = done.sink()}, clock);
  runner.start();
  clock.advance(10s);
  ASSERT_TRUE(eventually([&] { return done.size() == 5; }));
  EXPECT_EQ(done.statuses(), (std::map<std::string, std::string>{
                                 {"ok", "exit 0"},
                                 {"three", "exit 3"},
                                 {"missing", "failed: No such file or directory"},
                                 {"drain-ok", "exit 0"},
                                 {"drain-error", "failed: Input/output error"},
                             }));
  EXPECT_EQ(runner.failed(), 3u);
  runner.stop(std::chrono::steady_clock::now() + k_ceiling);
}

TEST(tasks, stop_cancels_what_runs_and_reports_it_stopped) {
  fake_clock clock;
  done_log done;
  std::atomic<bool> entered{false};
  auto drain = [&](const task_config&, const std::atomic<bool>& cancel) -> result<int> {
    entered = true;
    while (!cancel)
      std::this_thread::sleep_for(1ms);
    return 0;
  };
  task_runner runner({drain_task("archive", 10s), exec_task("sleeper", {"sleep", "30"}, 10s)},
                     {.drain = drain, .done = done.sink()}, clock);
  runner.start();
  clock.advance(10s);
  ASSERT_TRUE(eventually([&] { return entered.load() && runner.runs_started() == 2; }));
  runner.stop(std::chrono::steady_clock::now() + k_ceiling);
  EXPECT_EQ(done.statuses(),
            (std::map<std::string, std::string>{{"archive", "stopped"}, {"sleeper", "stopped"}}));
  EXPECT_EQ(runner.failed(), 0u);
}

TEST(tasks, exec_tasks_see_their_name_and_append_output_to_the_log) {
  temp_dir dir;
  auto log = dir / "tasks.log";
  fake_clock clock;
  done_log done;
  task_runner runner({exec_task("named", {"/bin/sh", "-c", "echo \"task=$SLUICE_TASK\""}, 10s)},
                     {.drain = {}, .done = done.sink()}, clock, log);
  runner.start();
  clock.advance(10s);
  ASSERT_TRUE(eventually([&] { return done.size() == 1; }));
  EXPECT_EQ(read_file(log), "task=named\n");
  runner.stop(std::chrono::steady_clock::now() + k_ceiling);
}

} // namespace
} // namespace sluice::daemon
