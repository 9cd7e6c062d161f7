#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/pipeline.h"
#include "queue/queue.h"

namespace sluice::pipeline {

struct drain_options {
  /// At most this many queue records (delivered, filtered out or dead-lettered); none: all.
  std::optional<std::uint64_t> max;
  /// Called on the draining thread after each batch: records done so far, and the records the
  /// drain set out to do (the positions between the cursor and the target; gaps in positions
  /// make it an upper bound).
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
  /// When it turns true (from any thread), the drain stops after the batch in flight, commits
  /// and returns what it did. May be null.
  const std::atomic<bool>* cancel = nullptr;
};

/// What one drain did.
struct drain_report {
  std::uint64_t delivered = 0;     ///< events the sink confirmed
  std::uint64_t filtered = 0;      ///< events the filter passed over
  std::uint64_t dead_lettered = 0; ///< events given up on after retry.max_attempts
  queue::position from = 0;        ///< the cursor before
  queue::position to = 0;          ///< the cursor after (committed)
  std::chrono::nanoseconds took{0};
  bool cancelled = false; ///< drain_options::cancel stopped it before the target
};

/// Delivers subscription `name` of `cfg` once, on the calling thread (blocking), from a process
/// that need not be the one appending (`sluice run` may be running): takes the subscription
/// (queue::attach, queue/open.h), opens its sink, and delivers everything that was durable when the drain began (later events wait for the next
/// drain), at most `o.max` records, in batches of the subscription's `batch`, with its filter,
/// retries and dead-letter file (pipeline/delivery.h). The cursor is committed as it goes and at
/// the end: when this returns, `to` is durable. Works for continuous subscriptions too, when no
/// one holds their lock.
///
/// Errors, with `error` saying what failed: queue::errc::subscription_busy when another process
/// holds the subscription (`error` names its pid); errc::invalid_argument for a name the
/// configuration does not have (`error` lists the ones it has); queue::errc::not_found when the
/// queue does not exist yet; a sink or queue error otherwise.
result<drain_report> drain_subscription(const config::pipeline_config& cfg, std::string_view name,
                                        const drain_options& o, std::string& error);

} // namespace sluice::pipeline
