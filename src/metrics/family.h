#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/histogram.h"

namespace sluice::metrics {

/// What a family measures; it decides how renderers spell its samples.
enum class kind { counter, gauge, histogram };

/// Label names and values, in the order renderers write them.
using label_set = std::vector<std::pair<std::string, std::string>>;

/// One cumulative histogram bucket: the number of observations <= `le`.
struct bucket {
  double le;
  std::uint64_t count;
}; // cumulative, ascending le; +Inf is implied (= count)

/// One time series of a family: its labels and its value (or histogram).
struct sample {
  label_set labels;
  double value = 0;            // counter, gauge
  std::vector<bucket> buckets; // histogram
  std::uint64_t count = 0;     // histogram
  double sum = 0;              // histogram
};

/// A metric family: the data model every renderer takes. A snapshot, owned by value: building
/// one reads the live counters once, rendering it touches nothing shared.
struct family {
  std::string name;
  std::string help;
  kind type = kind::gauge;
  std::vector<sample> samples;
};

/// A histogram sample in seconds from a nanosecond sluice::histogram, at the given bucket bounds
/// (seconds, ascending). Any thread; the histogram may be recorded into meanwhile: the buckets
/// come out non-decreasing and `count` is at least the last bucket.
sample histogram_seconds(const sluice::histogram& h, label_set labels,
                         std::span<const double> bounds);

/// Default latency bounds in seconds: 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1
/// 2.5 5 10 30 60
std::span<const double> latency_bounds();

/// The q-quantile (0..1) of a histogram sample estimated from its buckets as Prometheus'
/// histogram_quantile() does: linear within the bucket that holds rank q * count, from 0 for the
/// first bucket; the highest finite bound when the rank falls in the implied +Inf bucket. 0 when
/// the sample has no observations or no buckets.
double estimate_quantile(const sample& s, double q);

} // namespace sluice::metrics
