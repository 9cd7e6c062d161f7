#pragma once

#include <chrono>
#include <cstdint>

namespace sluice {

/// Wall-clock time in nanoseconds since the Unix epoch: what records carry as their receive time.
inline std::int64_t now_unix_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Monotonic time in nanoseconds, for latencies.
inline std::int64_t now_mono_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// A source of wall-clock time that tests can replace (retention by age, for example).
class wall_clock {
public:
  virtual ~wall_clock() = default;
  virtual std::int64_t now_ns() const noexcept { return now_unix_ns(); }
  /// The process-wide real clock.
  static const wall_clock& real() noexcept {
    static const wall_clock c;
    return c;
  }
};

} // namespace sluice
