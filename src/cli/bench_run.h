#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <spdlog/spdlog.h>

#include "cli/bench_disk.h"

// What the end-to-end benches (`sluice bench pipeline`, `sluice bench intake`) share: CPU time,
// the wait for a run to finish, and a quiet log while they run.
namespace sluice::cli::bench {

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
