#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"
#include "config/pipeline.h"

namespace sluice::daemon {

/// A source of monotonic time that tests can replace (src/base/clock.h has one for wall-clock
/// time only). Thread-safe: now() is called from several threads.
class monotonic_clock {
public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~monotonic_clock() = default;
  virtual time_point now() const noexcept { return std::chrono::steady_clock::now(); }
  /// How long a thread waiting for a time on this clock may sleep (in real time) before it
  /// reads now() again. The real clock is the one condition variables wait on, so a wait to
  /// a deadline is exact and the slice is long; a test clock that jumps when told returns a
  /// few milliseconds, so that a jump is seen that soon without any notification.
  virtual std::chrono::milliseconds wait_slice() const noexcept { return std::chrono::minutes(1); }
  /// The process-wide real clock (std::chrono::steady_clock).
  static const monotonic_clock& real() noexcept {
    static const monotonic_clock c;
    return c;
  }
};

/// When one task runs: the pure timing rule of [tasks.NAME], on times given to it.
///
/// A run starts `sleep` after the previous run started, but never sooner than `min_sleep` after
/// the previous run ended: next = max(start + sleep, end + min_sleep). One run at a time. The
/// first run starts `sleep` after the scheduler started (not at once: a daemon that restarts in
/// a loop must not run its tasks at each restart). A run is timed out once the time reaches
/// start + timeout. Not thread-safe.
class task_schedule {
public:
  using duration = monotonic_clock::duration;
  using time_point = monotonic_clock::time_point;

  explicit task_schedule(const config::task_config& task);

  /// When the next run is due; time_point::max() while a run is going.
  time_point next_start(time_point scheduler_started) const;
  void started(time_point t);
  void ended(time_point t);
  /// start + timeout while a run is going and the task has a timeout; nullopt otherwise.
  std::optional<time_point> deadline() const;
  bool running() const noexcept { return running_; }

private:
  duration sleep_;
  duration min_sleep_;
  std::optional<duration> timeout_;
  std::optional<time_point> last_start_;
  std::optional<time_point> last_end_;
  bool running_ = false;
};

/// What a task run does besides running a program, supplied by the daemon.
struct task_actions {
  /// Delivers a drain task's subscription once; the exit status on success (0: delivered).
  /// Called on a worker thread of its own; must return soon after `cancel` becomes true (at the
  /// timeout and at stop).
  std::function<result<int>(const config::task_config&, const std::atomic<bool>& cancel)> drain;
  /// Called on the runner's thread after each run, one call at a time. status: "exit 0",
  /// "exit 1", "signal 9", "timeout", "stopped" (ended by stop()) or "failed: REASON" (could not
  /// be started, or the drain returned an error). duration: on the runner's clock.
  std::function<void(const config::task_config&, std::string_view status,
                     std::chrono::milliseconds duration)>
      done;
};

/// Runs the periodic tasks on a thread of its own, each by its task_schedule on `clock`; each
/// run on a worker thread. An exec task runs argv (no shell) with SLUICE_TASK in its
/// environment and its output appended to `exec_output` (empty: /dev/null); past its timeout it
/// gets SIGTERM (its process group) and SIGKILL k_kill_grace later. A drain task calls
/// actions.drain, whose cancel flag is set at the timeout. Either is then reported "timeout".
///
/// Waiting: on a condition variable, to the earliest due time computed from `clock`, at most
/// clock.wait_slice() of real time at once, then the clock is read again; a run that ends wakes
/// it at once. The kill grace and stop()'s deadline are real time (they bound how long the
/// process takes to exit), whatever the clock.
///
/// start() and stop() are called by the owner's thread; the counters from any thread.
class task_runner {
public:
  using time_point = monotonic_clock::time_point;
  static constexpr std::chrono::seconds k_kill_grace{5};

  /// `clock` must outlive the runner.
  task_runner(std::vector<config::task_config> tasks, task_actions actions,
              const monotonic_clock& clock = monotonic_clock::real(),
              std::filesystem::path exec_output = {});
  /// stop() with a deadline of k_kill_grace + 1 s, if still running.
  ~task_runner();
  task_runner(const task_runner&) = delete;
  task_runner& operator=(const task_runner&) = delete;

  /// Starts scheduling: the first run of each task is due `sleep` from now. Once.
  void start();
  /// Stops scheduling, cancels what runs (drain: the cancel flag; exec: SIGTERM) and waits for
  /// it until `deadline` (real time, steady_clock); exec runs still going then are killed
  /// (SIGKILL). Reports every cancelled run to done() as "stopped", then joins. Blocks; a drain
  /// action that ignores its cancel flag blocks it past the deadline (logged).
  void stop(std::chrono::steady_clock::time_point deadline);

  /// Runs started so far.
  std::uint64_t runs_started() const noexcept { return runs_started_.load(); }
  /// Runs stopped at their timeout.
  std::uint64_t timed_out() const noexcept { return timed_out_.load(); }
  /// Runs that ended with a status other than "exit 0" (timeouts and stops excepted).
  std::uint64_t failed() const noexcept { return failed_.load(); }

private:
  struct run_state {
    std::atomic<bool> cancel{false};
    std::atomic<bool> hard_kill{false};
    bool timed_out = false; ///< guarded by mu_
    bool stopped = false;   ///< guarded by mu_
    bool finished = false;  ///< guarded by mu_
    std::string status;     ///< guarded by mu_, set with finished
    time_point ended{};     ///< guarded by mu_, set with finished
    std::thread worker;
  };
  struct slot {
    config::task_config task;
    task_schedule schedule;
    time_point started{};
    std::unique_ptr<run_state> run; ///< null when idle
  };
  struct report {
    const config::task_config* task;
    std::string status;
    std::chrono::milliseconds duration;
  };

  void loop();
  time_point step(time_point now);
  void start_run(slot& s, time_point now);
  std::vector<report> collect_finished();
  void deliver(const std::vector<report>& reports);
  void shut_down(std::unique_lock<std::mutex>& lk);
  std::string run_exec(const config::task_config& task, run_state& run);
  std::string run_drain(const config::task_config& task, run_state& run);

  const monotonic_clock& clock_;
  const task_actions actions_;
  const std::filesystem::path exec_output_;
  std::vector<slot> slots_; ///< fixed after construction; runs guarded by mu_

  std::atomic<std::uint64_t> runs_started_{0};
  std::atomic<std::uint64_t> timed_out_{0};
  std::atomic<std::uint64_t> failed_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  time_point scheduler_started_{};
  bool stopping_ = false;                           ///< guarded by mu_
  bool finished_pending_ = false;                   ///< guarded by mu_: some run finished
  std::chrono::steady_clock::time_point stop_by_{}; ///< guarded by mu_
  std::thread thread_;
};

} // namespace sluice::daemon
