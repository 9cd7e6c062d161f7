#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "config/pipeline.h"

/// The supervising parent of `sluice start`: it runs the pipeline (`sluice run`) as its child,
/// restarts it with backoff when it dies, forwards signals, and writes each start, stop, crash
/// and restart to the common log and its own.
namespace sluice::daemon {

/// Exit statuses the pipeline uses to tell its supervisor what happened (sysexits.h values where
/// one fits). Reserved statuses stop the restarts.
inline constexpr int k_exit_failure = 1;
inline constexpr int k_exit_locked = 75;  ///< EX_TEMPFAIL: another process holds the queue
inline constexpr int k_exit_restart = 76; ///< the pipeline stopped itself to be started again
inline constexpr int k_exit_config = 78;  ///< EX_CONFIG: the configuration is invalid

/// Where a daemon's files go. Every path absolute.
struct daemon_paths {
  std::string id;
  std::string context = "default";
  std::filesystem::path config_file;
  std::filesystem::path run_dir;
  std::filesystem::path log_dir;
  std::filesystem::path common_log;
  /// "ID-CONTEXT": the name of the pid, info and log files.
  std::string instance() const { return id + "-" + context; }
  std::filesystem::path pid_file() const { return run_dir / (instance() + ".pid"); }
  /// JSON beside the pid file: config, start time, log, for `sluice status`.
  std::filesystem::path info_file() const { return run_dir / (instance() + ".json"); }
  /// JSON beside the info file: each source's state, written by the pipeline while it runs
  /// (daemon/state_file.h), for `sluice status`.
  std::filesystem::path sources_file() const { return run_dir / (instance() + ".sources.json"); }
  std::filesystem::path log_file() const { return log_dir / (instance() + ".log"); }
};

/// The built-in directories: as root /etc/sluice, /run/sluice, /var/log/sluice; otherwise
/// ~/.config/sluice, $XDG_RUNTIME_DIR/sluice (else /tmp/sluice-UID), ~/.local/state/sluice.
std::filesystem::path default_conf_dir();
std::filesystem::path default_run_dir();
std::filesystem::path default_log_dir();

/// Appends one line to `path` (created 0640): "TIME INSTANCE EVENT pid=PID DETAIL". One write
/// with O_APPEND, so lines of several daemons never interleave. Failures are logged, not fatal.
void common_log_line(const std::filesystem::path& path, std::string_view instance,
                     std::string_view event, int pid, std::string_view detail);

/// Points stdout and stderr at `log` again (USR2, after logrotate moved the old file away),
/// creating it 0640. A failure is logged, leaves them as they were, and returns false.
bool reopen_log(const std::filesystem::path& log);

/// The restart delay after the n-th crash in a row (n from 1): min doubled n-1 times, capped.
std::chrono::nanoseconds restart_delay(const config::daemon_config& d, unsigned crashes_in_row);

struct supervisor_options {
  daemon_paths paths;
  config::daemon_config daemon;
  config::hooks_config hooks;
  std::filesystem::path exe; ///< the sluice binary the child runs
  /// Where the first outcome goes to `sluice start` ("ready PID" or "fail STATUS MESSAGE"); -1:
  /// nobody waits. Closed once written.
  int start_fd = -1;
  /// When `sluice start` ran, for the info file's started_at.
  std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();
};

/// Runs until told to stop (TERM, INT, QUIT) or until the pipeline fails in a way a restart does
/// not fix (an invalid configuration, a locked queue, a first start that never became ready).
/// Returns the process's exit status. Expects the pid file to be held by the caller.
int run_supervisor(const supervisor_options& opts);

} // namespace sluice::daemon
