#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.h"
#include "queue/event.h"
#include "sinks/errc.h"

namespace sluice::sinks {

/// What a sink counts, for the metrics endpoint (sluice_sink_<name>{sink="..."}). Written by the
/// delivery thread, readable from any thread.
struct sink_counters {
  std::atomic<std::uint64_t> events_written{0};     ///< events the target now holds
  std::atomic<std::uint64_t> bytes_written{0};      ///< bytes written (lines, or payload bytes)
  std::atomic<std::uint64_t> batches{0};            ///< write() calls that succeeded
  std::atomic<std::uint64_t> failures{0};           ///< write() calls that failed
  std::atomic<std::uint64_t> duplicates_skipped{0}; ///< events the target already held
  std::atomic<std::uint64_t> files_rotated{0};      ///< files closed for a new one (eventlog)
  std::atomic<std::uint64_t> payloads_altered{0};   ///< payloads changed to fit (eventlog: '\n')
  std::atomic<std::uint64_t> recoveries{0};  ///< unconfirmed data cut off after a crash or failure
  std::atomic<std::uint64_t> checkpoints{0}; ///< sqlite: WAL checkpoints run (idle or forced)

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

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
