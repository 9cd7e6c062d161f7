#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "base/histogram.h"

namespace sluice::queue {

/// A monotonically increasing count, readable from any thread.
struct counter {
  std::atomic<std::uint64_t> value{0};
  void add(std::uint64_t n = 1) noexcept { value.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

/// A value that goes up and down, readable from any thread.
struct gauge {
  std::atomic<std::int64_t> value{0};
  void set(std::int64_t v) noexcept { value.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) noexcept { value.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

/// Everything a queue counts, for the metrics endpoint. Names follow the Prometheus ones they
/// become (sluice_queue_<name>). Per-subscription cursors and lag come from queue::cursors().
struct queue_stats {
  counter appended_records; ///< records given a position
  counter appended_bytes;   ///< payload bytes appended
  counter append_calls;     ///< append() calls
  counter fsyncs;           ///< fsync/fdatasync calls that succeeded
  counter write_errors;     ///< write() failures
  counter fsync_errors;     ///< fsync failures
  counter lost_records;     ///< records failed back to their appender after a write error
  counter dropped_records;  ///< dropped at the cap (when_full = drop_newest)
  counter blocked_ns;       ///< time appenders spent blocked at the cap
  counter damaged_records;  ///< damaged records found by recovery or readers
  counter damaged_bytes;    ///< bytes of those
  counter gap_records;      ///< positions a reader found missing between two segments
  /// Directory listings by readers: one per seek, one per segment missing where the positions
  /// say the next one begins; never one per record or per poll (tests, benchmarks).
  counter reader_listings;
  counter truncated_bytes; ///< torn-tail bytes removed by recovery
  counter segments_created;
  counter segments_deleted;
  gauge durable_watermark; ///< last durable position
  gauge last_position;     ///< last assigned position
  gauge segments;          ///< segment files on disk
  gauge disk_bytes;        ///< bytes of segment files on disk
  gauge blocked_appenders; ///< appenders waiting at the cap right now
  /// 1 while the queue cannot put its files back after a failed write (a disk remounted
  /// read-only, say): appends fail until it can; 0 otherwise.
  gauge failed;
  /// 1 while a write waits for space on a full disk (ENOSPC, EDQUOT): the records are held and
  /// intake waits; 0 otherwise.
  gauge disk_full;
  counter disk_full_waits; ///< retries of a write that found the disk full
  /// Cursor files retention found unreadable (each holds every segment until it is fixed).
  gauge unreadable_cursors;
  // Shared backends (Redis) only; described in k_shared_counters below.
  counter foreign_records;
  counter claimed_records;
  counter redelivered_records;
  counter dead_letter_records;
  counter lost_groups;
  counter replica_shortfalls;
  counter trimmed_records;
  counter reconnects;
  counter spilled_records;
  histogram fsync_ns;   ///< duration of each fsync
  histogram durable_ns; ///< append() call to durable watermark, per call
  /// Per record: its receipt by a source (record_in::received_ns, wall clock) to the durable
  /// watermark passing it. Records of one append() share their first record's receipt time.
  histogram receipt_to_durable_ns;
};

/// A counter of queue_stats that /metrics (as sluice_queue_NAME_total) and /queue.json show by
/// this one list.
struct counter_info {
  std::string_view name;
  std::string_view help;
  counter queue_stats::*member;
};

/// The counters only a shared queue (Redis) moves.
inline constexpr counter_info k_shared_counters[] = {
    {"foreign_records", "Entries in the shared stream that are not sluice's, skipped.",
     &queue_stats::foreign_records},
    {"claimed_records", "Entries taken over from a consumer idle past claim_idle.",
     &queue_stats::claimed_records},
    {"redelivered_records", "Entries read again by this consumer after a restart.",
     &queue_stats::redelivered_records},
    {"dead_letter_records",
     "Entries delivered more than max_deliveries times, moved to the dead-letter stream.",
     &queue_stats::dead_letter_records},
    {"lost_groups", "Subscriptions whose consumer group was found missing and recreated.",
     &queue_stats::lost_groups},
    {"replica_shortfalls", "Appends that fewer replicas confirmed than acks asks for (retried).",
     &queue_stats::replica_shortfalls},
    {"trimmed_records", "Entries every subscription had passed, trimmed from the stream.",
     &queue_stats::trimmed_records},
    {"reconnects", "Connections to the queue's server made again after one was lost.",
     &queue_stats::reconnects},
    {"spilled_records",
     "Records appended to the local spill queue while the shared one refused them (spill = "
     "\"disk\"), forwarded in order once it took appends again.",
     &queue_stats::spilled_records},
};

} // namespace sluice::queue
