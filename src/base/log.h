#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#include <spdlog/spdlog.h>

namespace sluice {

/// Lets one message through per interval and counts the ones it held back, so a degraded path
/// that fires a million times a second logs once a second with the number it suppressed.
/// Thread-safe, lock-free; one instance per call site (see SLUICE_WARN_LIMITED).
class rate_limit {
public:
  explicit rate_limit(std::chrono::milliseconds interval)
      : interval_ns_(interval.count() * 1000000) {}

  /// True when the caller should log now; `suppressed` is how many were held back since the
  /// last message that went through.
  bool allow(std::uint64_t& suppressed) noexcept;

private:
  std::int64_t interval_ns_;
  std::atomic<std::int64_t> next_ns_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

} // namespace sluice

/// A warning logged at most once per second from this call site, with the count it suppressed.
#define SLUICE_WARN_LIMITED(...)                                                                   \
  do {                                                                                             \
    static ::sluice::rate_limit sluice_rl_(std::chrono::seconds(1));                               \
    std::uint64_t sluice_suppressed_ = 0;                                                          \
    if (sluice_rl_.allow(sluice_suppressed_)) {                                                    \
      if (sluice_suppressed_ > 0)                                                                  \
        spdlog::warn("({} similar messages suppressed)", sluice_suppressed_);                      \
      spdlog::warn(__VA_ARGS__);                                                                   \
    }                                                                                              \
  } while (0)
