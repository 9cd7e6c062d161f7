#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace sluice::io {

/// Capped exponential backoff with jitter: the n-th delay is min(initial * 2^(n-1), max), less up
/// to `jitter` of itself (so many clients do not retry in step). reset() after a success.
/// One thread at a time.
class backoff {
public:
  backoff(std::chrono::nanoseconds initial, std::chrono::nanoseconds max, double jitter = 0.2,
          std::uint64_t seed = std::random_device{}())
      : initial_(initial), max_(max), jitter_(jitter), rng_(seed) {}

  /// The delay before the next attempt; advances the attempt count.
  std::chrono::nanoseconds next();
  void reset() noexcept { attempt_ = 0; }
  std::uint32_t attempts() const noexcept { return attempt_; }

private:
  std::chrono::nanoseconds initial_, max_;
  double jitter_;
  std::uint32_t attempt_ = 0;
  std::mt19937_64 rng_;
};

} // namespace sluice::io
