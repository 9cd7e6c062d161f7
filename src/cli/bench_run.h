#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/bench_disk.h"
#include "config/option_values.h"
#include "config/queue_settings.h"

// What the end-to-end benches (`sluice bench pipeline`, `sluice bench intake`) share: CPU time,
// the wait for a run to finish, and a quiet log while they run.
namespace sluice::cli::bench {

/// The queue's group commit in every end-to-end run: what the figures print.
inline const config::fsync_setting k_group_commit{config::fsync_mode::interval,
                                                  std::chrono::milliseconds(10)};

// The subscription's batch: a cap, not a wait (a delivery takes what the queue holds, up to it),
// so a larger one costs nothing at low rates. The configuration's default of 500 makes the sink
// confirm, and fsync, every 500 events: at 600,000 events/s, 1,200 times a second, which a disk
// whose fdatasync takes a millisecond cannot do. 5000 is what a user would configure for a
// firehose; docs/benchmarks.md gives the figures of both.
inline constexpr std::size_t k_subscription_batch = 5000;

/// The `reconnect` table of a source reading a bench's firehose: one second between attempts.
/// The firehose closes the connection after the last event and has nothing for a new one
/// (resume): a slow reconnect keeps the source from knocking while the sink catches up.
std::shared_ptr<const config::option_values> slow_reconnect(const std::string& source);

/// User + system CPU time this process used so far, seconds.
double cpu_seconds();

/// CPU time the calling thread used so far, seconds.
double thread_cpu_seconds();

inline double ns_to_ms(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

/// Waits until `progress()` reaches `target`, polling every 2 ms. Fails when it did not move for
/// 30 s (the message is `stalled()`'s) or on SIGINT/SIGTERM.
checked<void> wait_progress(const std::function<std::uint64_t()>& progress, std::uint64_t target,
                            const std::function<std::string()>& stalled);

/// A server a bench starts (rsyslogd, redis-server) in the foreground: its stdout and stderr go
/// to `log`. Stopped with SIGTERM, and waited for, when this goes.
class spawned {
public:
  spawned() = default;
  spawned(const spawned&) = delete;
  spawned& operator=(const spawned&) = delete;
  ~spawned();
  /// Forks and execs argv[0] with `argv`.
  checked<void> start(const std::vector<std::string>& argv, const std::filesystem::path& log);
  /// Whether it has ended (reaped).
  bool exited();

private:
  pid_t pid_ = -1;
};

/// A private redis-server (Debian's) on a free port in `dir`, without persistence (what is measured
/// is the server's and the client's work, not a disk), started in `server` and answering: its
/// port.
checked<std::uint16_t> start_redis(spawned& server, const std::filesystem::path& dir);

/// Raises the log level to error while it lives when it was the default, info: each run starts
/// a pipeline and ends its sources' connections, whose info lines and warnings would bury the
/// figures. What goes wrong in a run fails it with its own message.
class quiet_info {
public:
  quiet_info() : old_(spdlog::get_level()) {
    if (old_ == spdlog::level::info)
      spdlog::set_level(spdlog::level::err);
  }
  ~quiet_info() { spdlog::set_level(old_); }
  quiet_info(const quiet_info&) = delete;
  quiet_info& operator=(const quiet_info&) = delete;

private:
  spdlog::level::level_enum old_;
};

} // namespace sluice::cli::bench
