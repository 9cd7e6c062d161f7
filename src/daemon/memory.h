#pragma once

#include <cstdint>

namespace sluice::daemon {

/// The resident set size of this process in bytes (the second field of /proc/self/statm times
/// the page size); 0 when it cannot be read. Reads a small proc file: cheap, but a system call,
/// so call it from a periodic task, not per event. Any thread.
std::uint64_t resident_bytes();

/// The `memory-limit` / `memory-threshold` self-restart rule: the daemon asks its supervisor for
/// a restart once its resident size passes `threshold_percent` of `limit`.
struct memory_check {
  std::uint64_t limit = 0;     ///< bytes; 0 disables the check
  int threshold_percent = 100; ///< of `limit`; negative counts as 0

  /// True when `rss` is strictly above threshold_bytes(); never when `limit` is 0.
  bool exceeded(std::uint64_t rss) const { return limit != 0 && rss > threshold_bytes(); }

  /// floor(limit × threshold_percent / 100), exact and without overflow for any limit when
  /// threshold_percent is at most 100.
  std::uint64_t threshold_bytes() const;
};

} // namespace sluice::daemon
