#include "metrics/rates.h"

namespace sluice::metrics {

void rate_window::observe(std::chrono::steady_clock::time_point now, std::uint64_t total) noexcept {
  if (size_ > 0) {
    const slot& last = slots_[newest_];
    if (now < last.at)
      return;
    if (total < last.total)
      size_ = 0;
  }
  if (size_ == 0) {
    origin_ = now;
    newest_ = 0;
    slots_[0] = {now, 0, total};
    size_ = 1;
    return;
  }
  auto second = std::chrono::duration_cast<std::chrono::seconds>(now - origin_).count();
  if (second == slots_[newest_].second) {
    slots_[newest_] = {now, second, total};
    return;
  }
  newest_ = (newest_ + 1) % k_slots;
  slots_[newest_] = {now, second, total};
  if (size_ < k_slots)
    ++size_;
}

double rate_window::per_second(std::chrono::seconds window) const noexcept {
  if (size_ < 2)
    return 0;
  const slot& latest = slots_[newest_];
  auto target = latest.at - window;
  // Times grow towards the newest: walk back while the distance to the target shrinks.
  const slot* start = &from_newest(1);
  auto distance = [target](const slot& s) { return s.at > target ? s.at - target : target - s.at; };
  for (std::size_t age = 2; age < size_; ++age) {
    const slot& older = from_newest(age);
    if (distance(older) > distance(*start))
      break;
    start = &older;
  }
  std::chrono::duration<double> span = latest.at - start->at;
  if (span.count() <= 0)
    return 0;
  return static_cast<double>(latest.total - start->total) / span.count();
}

} // namespace sluice::metrics
