#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/histogram.h"
#include "config/pipeline.h"
#include "metrics/rates.h"
#include "pipeline/runner.h"

namespace sluice::api {

/// Rates in events per second over the last second, minute and five minutes.
struct rates {
  double s1 = 0;
  double m1 = 0;
  double m5 = 0;
};

/// A latency histogram's cumulative counts at metrics::latency_bounds() (nanoseconds recorded,
/// bounds in seconds), with its count and sum.
struct latency {
  std::vector<std::uint64_t> cumulative;
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;
};
latency latency_of(const histogram& h);

/// What the reading routes show: the pipeline's figures and configuration at one moment, taken
/// on the daemon's main thread (about every second and after each change) and read by the API's
/// thread without touching the runner.
struct view {
  std::int64_t at_ns = 0; ///< unix ns it was taken
  pipeline::pipeline_status status;
  std::vector<rates> source_rates;       ///< parallel to status.sources
  std::vector<rates> subscription_rates; ///< parallel to status.subscriptions (delivered+filtered)
  rates all_events;                      ///< every source together
  config::pipeline_config cfg;           ///< the effective configuration (file + API changes)
  std::set<std::string> api_subscriptions; ///< created through the API
  std::set<std::string> api_streams;       ///< streams the API changed
  // The queue beyond pipeline_status.
  std::int64_t segments = 0;
  std::uint64_t first_position = 0; ///< the oldest position still held; 0: empty
  std::uint64_t fsyncs = 0;
  std::uint64_t fsync_errors = 0;
  std::uint64_t write_errors = 0;
  std::uint64_t dropped_records = 0;
  std::uint64_t damaged_records = 0;
  std::uint64_t gap_records = 0;
  /// queue::k_shared_counters' values, in its order.
  std::vector<std::uint64_t> shared_counts;
  std::int64_t unreadable_cursors = 0;
  bool disk_full = false; ///< a write waits for space (the records are held)
  std::uint64_t disk_full_waits = 0;
  latency fsync;
  latency receipt_to_durable;
  std::map<std::string, latency> receipt_to_delivered; ///< by subscription
};

/// The latest view and the daemon's lifecycle, shared between the main thread (which writes)
/// and the API's thread (which reads). Thread-safe.
class board {
public:
  board();
  std::shared_ptr<const view> current() const;
  void publish(std::shared_ptr<const view> v);

  std::int64_t start_ns() const noexcept { return start_ns_; }
  /// Sources started and queue open.
  bool ready() const noexcept { return ready_.load(); }
  void set_ready(bool r) noexcept { ready_.store(r); }
  /// Stopping: the pipeline drains; changes are refused.
  bool draining() const noexcept { return draining_.load(); }
  void set_draining() noexcept { draining_.store(true); }

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const view> view_;
  std::int64_t start_ns_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
};

/// Builds views from a runner, keeping the history rates need. Main thread only.
class view_maker {
public:
  std::shared_ptr<const view> make(pipeline::runner& r, std::set<std::string> api_subscriptions,
                                   std::set<std::string> api_streams);

private:
  std::map<std::string, metrics::rate_window> sources_;
  std::map<std::string, metrics::rate_window> subscriptions_;
  metrics::rate_window all_;
};

} // namespace sluice::api
