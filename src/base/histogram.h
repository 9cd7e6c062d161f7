#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace sluice {

/// A lock-free latency histogram for nanosecond values, log-linear: 8 sub-buckets per power of
/// two, so any quantile is within 12.5% of the true value. Any thread may record; readers get a
/// consistent-enough snapshot for metrics. Fixed size (about 4 KiB); allocates nothing.
class histogram {
public:
  static constexpr int k_sub = 8;
  static constexpr int k_buckets = 64 * k_sub;

  void record(std::uint64_t value) noexcept { record(value, 1); }

  /// Records `value` `n` times at once (events of a batch that share it).
  void record(std::uint64_t value, std::uint64_t n) noexcept {
    buckets_[index_of(value)].fetch_add(n, std::memory_order_relaxed);
    count_.fetch_add(n, std::memory_order_relaxed);
    sum_.fetch_add(value * n, std::memory_order_relaxed);
  }

  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::uint64_t sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

  /// The value at quantile q (0..1): the upper bound of the bucket that holds it. 0 when empty.
  std::uint64_t quantile(double q) const noexcept;

  /// Number of recorded values <= bound (for Prometheus-style cumulative buckets).
  std::uint64_t count_at_most(std::uint64_t bound) const noexcept;

  void reset() noexcept;

  static int index_of(std::uint64_t v) noexcept {
    if (v < k_sub)
      return static_cast<int>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 3; // keep the top 4 bits: 1xxx
    return (shift + 1) * k_sub + static_cast<int>((v >> shift) & (k_sub - 1));
  }
  static std::uint64_t upper_bound_of(int index) noexcept {
    if (index < k_sub)
      return static_cast<std::uint64_t>(index);
    int shift = index / k_sub - 1;
    std::uint64_t mantissa = static_cast<std::uint64_t>(k_sub + index % k_sub);
    return ((mantissa + 1) << shift) - 1;
  }

private:
  std::array<std::atomic<std::uint64_t>, k_buckets> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_{0};
};

} // namespace sluice
