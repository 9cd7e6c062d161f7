#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "base/result.h"

namespace sluice::daemon {

/// What to start: the program, its extra environment and where its output goes.
struct spawn_options {
  /// argv[0] is looked up in PATH when it holds no '/'. Must not be empty.
  std::vector<std::string> argv;
  /// Added to the inherited environment; a name already there is replaced.
  std::vector<std::pair<std::string, std::string>> env_extra;
  /// stdout and stderr are appended to this file (created 0644 if missing); empty: /dev/null.
  /// stdin is always /dev/null.
  std::filesystem::path stdout_stderr_to;
};

/// A child process in a process group of its own (pgid = its pid), so that terminate() and
/// kill() reach everything it started. Signals are reset for it: an empty signal mask (the
/// daemon's threads block signals) and default handlers for the usual ones. File descriptors
/// above 2 are not inherited.
///
/// Move-only. Not thread-safe: one thread at a time calls its members. The owner is the only
/// one to reap it; nothing else in the process may wait for it (no waitpid(-1)).
class child {
public:
  /// Starts the program. Fails with the errno of the spawn (ENOENT for a program that does not
  /// exist: glibc reports a failed exec from posix_spawn, so no child that exits 127 is left).
  static result<child> spawn(const spawn_options& options);

  child(child&& other) noexcept;
  child& operator=(child&& other) noexcept;
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  /// Kills (SIGKILL to the group) and reaps a child still running. Blocks until it is reaped.
  ~child();

  pid_t pid() const noexcept { return pid_; }

  /// Waits up to `timeout` (0: just looks) for the child to end and reaps it. The raw wait
  /// status (see describe_status), or nullopt while it still runs. Once reaped, every call
  /// returns the same status at once. Waits on a pidfd with poll(); where pidfd_open is not
  /// available, polls waitpid(WNOHANG) every 10 ms.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);

  /// SIGTERM to the child's process group. Nothing once the child was reaped.
  void terminate() noexcept;
  /// SIGKILL to the child's process group. Nothing once the child was reaped.
  void kill() noexcept;

private:
  child(pid_t pid, int pidfd) noexcept : pid_(pid), pidfd_(pidfd) {}
  void signal_group(int sig) noexcept;
  std::optional<int> try_reap() noexcept;
  void release() noexcept;

  pid_t pid_ = -1;
  int pidfd_ = -1; ///< -1: no pidfd, wait_for polls
  std::optional<int> status_;
};

/// A raw wait status in words: "exit 0", "exit 3", "signal 9".
std::string describe_status(int raw);

} // namespace sluice::daemon
