#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.h"
#include "queue/event.h"
#include "sinks/errc.h"

namespace sluice::sinks {

/// A sink's counts at one moment (sink_counters::snapshot()), summed over the sinks a
/// subscription had (a change of its settings makes a new one).
struct sink_counts {
  std::uint64_t events_written = 0;      ///< events the target now holds
  std::uint64_t bytes_written = 0;       ///< bytes written (lines, or payload bytes)
  std::uint64_t batches = 0;             ///< write() calls that succeeded
  std::uint64_t failures = 0;            ///< write() calls that failed
  std::uint64_t duplicates_skipped = 0;  ///< events the target already held
  std::uint64_t files_rotated = 0;       ///< files closed for a new one (eventlog)
  std::uint64_t payloads_altered = 0;    ///< payloads changed to fit (eventlog: '\n')
  std::uint64_t recoveries = 0;          ///< unconfirmed data cut off after a crash or failure
  std::uint64_t checkpoints = 0;         ///< sqlite: WAL checkpoints run (idle or forced)
  std::uint64_t checkpoint_failures = 0; ///< sqlite: checkpoints that failed

  sink_counts& operator+=(const sink_counts& o) noexcept;
};

/// What a sink counts, for the metrics endpoint (sluice_sink_<name>_total{subscription="..."}).
/// Written by the delivery thread, readable from any thread.
struct sink_counters {
  std::atomic<std::uint64_t> events_written{0};
  std::atomic<std::uint64_t> bytes_written{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> duplicates_skipped{0};
  std::atomic<std::uint64_t> files_rotated{0};
  std::atomic<std::uint64_t> payloads_altered{0};
  std::atomic<std::uint64_t> recoveries{0};
  std::atomic<std::uint64_t> checkpoints{0};
  std::atomic<std::uint64_t> checkpoint_failures{0};

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
  sink_counts snapshot() const noexcept;
};

/// One count by name, for the metrics (sluice_sink_<name>_total) and its help: where it lives in
/// sink_counts and in sink_counters.
struct sink_count_field {
  const char* name;
  const char* help;
  std::uint64_t sink_counts::*member;
  std::atomic<std::uint64_t> sink_counters::*counter;
};
/// Every count of sink_counts, in declaration order.
std::span<const sink_count_field> sink_count_fields() noexcept;

/// Where a subscription's events end up. One object per subscription; write() is called from one
/// delivery thread at a time (it is not thread-safe against itself); counters() from any thread.
class sink {
public:
  virtual ~sink() = default;

  /// Writes the batch (events in increasing id order) and returns once the target holds it
  /// durably. Idempotent by event id: a batch written again after a crash (some or all of its
  /// events already stored) leaves no duplicate. Blocks on the target's I/O. On failure nothing
  /// of the batch counts as written; is_retryable(error) tells retryable failures (target busy,
  /// I/O error, disk full) from permanent ones.
  virtual result<void> write(std::span<const queue::event_view> batch) = 0;

  /// Called by the delivery thread when it has caught up (its last read found fewer events than
  /// a batch): housekeeping that would otherwise lengthen a write, such as SQLite's WAL
  /// checkpoint, runs here while no event waits. Never between write() calls of one batch.
  virtual void idle() noexcept {}

  /// The sink's type as configured ("eventlog", "sqlite").
  virtual std::string_view type() const noexcept = 0;

  const sink_counters& counters() const noexcept { return counters_; }

protected:
  sink_counters counters_;
};

} // namespace sluice::sinks
