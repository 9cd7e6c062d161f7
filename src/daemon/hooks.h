#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/pipeline.h"

namespace sluice::daemon {

/// Runs the [hooks] shell commands (`/bin/sh -c COMMAND`) of the daemon's events, one at a time
/// in the order they were fired, on a thread of its own, so that whoever fires one never waits.
///
/// A hook sees the daemon's environment plus SLUICE_ID, SLUICE_CONTEXT, SLUICE_EVENT and the
/// variables given to fire(). Degraded paths, each logged with a warning and counted:
/// - a hook that exits non-zero, dies of a signal or cannot be started: failed();
/// - a hook still running after cfg.timeout: SIGTERM to its process group, SIGKILL 2 s later:
///   timed_out() (not also failed());
/// - a hook fired while k_max_queued others wait: dropped, as are hooks still waiting when the
///   runner is destroyed: dropped().
///
/// All members are thread-safe.
class hook_runner {
public:
  static constexpr std::size_t k_max_queued = 100;
  static constexpr std::chrono::seconds k_kill_grace{2};

  /// `id` and `context` become SLUICE_ID and SLUICE_CONTEXT. A hook's stdout and stderr are
  /// appended to `output` (empty: /dev/null). Starts the runner's thread.
  hook_runner(config::hooks_config cfg, std::string id, std::string context,
              std::filesystem::path output = {});
  /// Drops the hooks not yet started (counted in dropped()) and waits for the running one, which
  /// its timeout (plus the kill grace) bounds.
  ~hook_runner();
  hook_runner(const hook_runner&) = delete;
  hook_runner& operator=(const hook_runner&) = delete;

  /// Queues the command of `event` ("start", "task_done", "stop", "crash") with `vars` added to
  /// its environment (SLUICE_TASK, SLUICE_DURATION_MS, SLUICE_STATUS, for example). Never
  /// blocks on the hook. An event with no command configured does nothing; an unknown event is
  /// logged and does nothing.
  void fire(std::string_view event, std::vector<std::pair<std::string, std::string>> vars = {});

  /// Blocks until no hook is queued or running, or `timeout` passed. True when idle. For tests
  /// and for shutdown (fire("stop"), then wait_idle).
  bool wait_idle(std::chrono::milliseconds timeout);

  std::uint64_t failed() const noexcept { return failed_.load(); }
  std::uint64_t dropped() const noexcept { return dropped_.load(); }
  std::uint64_t timed_out() const noexcept { return timed_out_.load(); }

private:
  struct job {
    std::string event;
    std::string command;
    std::vector<std::pair<std::string, std::string>> vars;
  };

  const std::string& command_of(std::string_view event) const noexcept;
  void loop();
  void run(const job& j);

  const config::hooks_config cfg_;
  const std::string id_;
  const std::string context_;
  const std::filesystem::path output_;

  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> timed_out_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> queue_; ///< guarded by mu_
  bool running_ = false;  ///< guarded by mu_: a hook is being run
  bool stopping_ = false; ///< guarded by mu_
  std::thread thread_;    ///< last: started once everything above exists
};

} // namespace sluice::daemon
