#include "sources/source.h"

#include <algorithm>

namespace sluice::sources {

std::string_view state_name(source_state s) noexcept {
  switch (s) {
  case source_state::connecting:
    return "connecting";
  case source_state::connected:
    return "connected";
  case source_state::backing_off:
    return "backing_off";
  case source_state::stopped:
    return "stopped";
  case source_state::failed:
    return "failed";
  }
  return "unknown";
}

backoff::backoff(const config::backoff_config& cfg)
    : min_(cfg.min.count() > 0 ? cfg.min : std::chrono::milliseconds(100)),
      max_(std::max(min_, cfg.max.count() > 0
                              ? cfg.max
                              : std::chrono::nanoseconds(std::chrono::seconds(30)))),
      rng_(std::random_device{}()) {}

std::chrono::nanoseconds backoff::next() {
  auto d = min_;
  for (int i = 0; i < attempt_ && d < max_; ++i)
    d *= 2;
  d = std::min(d, max_);
  if (attempt_ < 62)
    ++attempt_;
  std::uniform_real_distribution<double> jitter(0.8, 1.0);
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>(static_cast<double>(d.count()) * jitter(rng_)));
}

} // namespace sluice::sources
