#include "io/backoff.h"

#include <algorithm>

namespace sluice::io {

std::chrono::nanoseconds backoff::next() {
  ++attempt_;
  auto d = initial_;
  for (std::uint32_t i = 1; i < attempt_ && d < max_; ++i)
    d *= 2;
  d = std::min(d, max_);
  if (jitter_ > 0 && d.count() > 0) {
    std::uniform_real_distribution<double> u(0.0, jitter_);
    d -= std::chrono::nanoseconds(
        static_cast<std::int64_t>(static_cast<double>(d.count()) * u(rng_)));
  }
  return d;
}

} // namespace sluice::io
