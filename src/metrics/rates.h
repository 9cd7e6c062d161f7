#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sluice::metrics {

/// The recent rate of a monotonically increasing total (events accepted, bytes written): the
/// average per second over the last 1 s, 60 s or 300 s, from observations of the total made
/// about once a second. Fixed memory (a ring of k_slots one-second slots, about 7 KiB), no
/// allocation.
///
/// Thread-safety: one writer calls observe(); per_second() may run on that thread, or on
/// another under a lock the caller holds around both. Neither blocks.
class rate_window {
public:
  /// One slot per second of history: 300 s of it, plus the slot the window starts at.
  static constexpr std::size_t k_slots = 301;

  /// Records that the total was `total` at `now`. One observation per second is kept: a later
  /// one in the same second (counted from the first observation) replaces the one before. A
  /// `now` earlier than the latest observation is ignored; a total below the latest (the
  /// counter was reset) starts the history afresh.
  void observe(std::chrono::steady_clock::time_point now, std::uint64_t total) noexcept;

  /// The average rate per second over about the last `window`: from the kept observation whose
  /// time is closest to `window` before the latest one (the oldest one, when the history is
  /// shorter than `window`) to the latest. 0 with fewer than 2 observations.
  double per_second(std::chrono::seconds window) const noexcept;

  /// Observations kept (at most k_slots).
  std::size_t size() const noexcept { return size_; }

private:
  struct slot {
    std::chrono::steady_clock::time_point at;
    std::int64_t second = 0; ///< whole seconds since `origin_`
    std::uint64_t total = 0;
  };

  const slot& from_newest(std::size_t age) const noexcept {
    return slots_[(newest_ + k_slots - age) % k_slots];
  }

  std::array<slot, k_slots> slots_{};
  std::size_t newest_ = 0;
  std::size_t size_ = 0;
  std::chrono::steady_clock::time_point origin_{};
};

} // namespace sluice::metrics
