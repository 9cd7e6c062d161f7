#include "base/histogram.h"

#include <cmath>

namespace sluice {

std::uint64_t histogram::quantile(double q) const noexcept {
  std::uint64_t total = count();
  if (total == 0)
    return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0)
    rank = 1;
  std::uint64_t seen = 0;
  for (int i = 0; i < k_buckets; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank)
      return upper_bound_of(i);
  }
  return upper_bound_of(k_buckets - 1);
}

std::uint64_t histogram::count_at_most(std::uint64_t bound) const noexcept {
  std::uint64_t n = 0;
  for (int i = 0; i < k_buckets; ++i) {
    if (upper_bound_of(i) > bound)
      break;
    n += buckets_[i].load(std::memory_order_relaxed);
  }
  return n;
}

void histogram::reset() noexcept {
  for (auto& b : buckets_)
    b.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
}

} // namespace sluice
