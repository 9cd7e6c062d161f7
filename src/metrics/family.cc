#include "metrics/family.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>

namespace sluice::metrics {
namespace {

constexpr std::array<double, 16> k_latency_bounds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

std::uint64_t to_ns(double seconds) {
  if (!(seconds > 0))
    return 0;
  double ns = std::floor(seconds * 1e9 + 0.5);
  if (ns >= 18446744073709551615.0)
    return UINT64_MAX;
  return static_cast<std::uint64_t>(ns);
}

} // namespace

sample histogram_seconds(const sluice::histogram& h, label_set labels,
                         std::span<const double> bounds) {
  assert(std::is_sorted(bounds.begin(), bounds.end()));
  sample s;
  s.labels = std::move(labels);
  s.buckets.reserve(bounds.size());
  std::uint64_t seen = 0;
  for (double le : bounds) {
    // Recording goes on meanwhile: a later read can only be larger, max() keeps that visible.
    seen = std::max(seen, h.count_at_most(to_ns(le)));
    s.buckets.push_back({le, seen});
  }
  s.count = std::max(seen, h.count());
  s.sum = static_cast<double>(h.sum()) / 1e9;
  return s;
}

std::span<const double> latency_bounds() {
  return k_latency_bounds;
}

double estimate_quantile(const sample& s, double q) {
  if (s.count == 0 || s.buckets.empty())
    return 0;
  q = std::clamp(q, 0.0, 1.0);
  double rank = q * static_cast<double>(s.count);
  double lower = 0;
  std::uint64_t below = 0;
  for (const auto& b : s.buckets) {
    if (static_cast<double>(b.count) >= rank && b.count > below) {
      if (b.le <= 0 || !std::isfinite(b.le))
        return b.le;
      double share = (rank - static_cast<double>(below)) / static_cast<double>(b.count - below);
      return lower + (b.le - lower) * share;
    }
    lower = b.le;
    below = b.count;
  }
  return s.buckets.back().le;
}

} // namespace sluice::metrics
