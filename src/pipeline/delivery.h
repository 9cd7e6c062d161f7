#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/histogram.h"
#include "base/result.h"
#include "config/pipeline.h"
#include "pipeline/filter.h"
#include "queue/queue.h"
#include "sinks/sink.h"

namespace sluice::pipeline {

/// What a subscription's delivery counts. Written by its delivery thread, read from any thread.
struct delivery_counters {
  std::atomic<std::uint64_t> delivered{0};     ///< events the sink confirmed
  std::atomic<std::uint64_t> filtered{0};      ///< events the filter passed over
  std::atomic<std::uint64_t> batches{0};       ///< batches confirmed and committed
  std::atomic<std::uint64_t> retries{0};       ///< failed sink writes that were retried
  std::atomic<std::uint64_t> dead_lettered{0}; ///< events given up on after max_attempts
  /// Dead-letter writes that failed (the batch stays, the cursor does not pass it).
  std::atomic<std::uint64_t> dead_letter_failures{0};
  std::atomic<std::uint64_t> damaged{0};       ///< undecodable records skipped
  std::atomic<std::int64_t> committed{0};      ///< the cursor
  /// Per event the sink confirmed: from its receive time (the source's read, queue::event_view
  /// received_ns) to the sink's confirmation, wall clock (a clock stepped back counts as 0).
  histogram receipt_to_delivered_ns;
};

struct delivery_options {
  std::string name;
  std::size_t batch = 500;
  std::optional<config::filter_config> filter;
  config::retry_config retry;
  /// Where a batch goes after max_attempts failures: DATA_DIR/dead-letter/sub-NAME.ndjson.
  std::filesystem::path dead_letter_file;
  /// The cursor is committed this long after the previous commit when the sink confirmed
  /// something since (one commit is a durable file replacement: an fsync, a rename and a
  /// directory fsync, as costly as a batch), and at once before a retry's wait and when
  /// stopping. So the cursor trails the sink by at most this much, and a crash redelivers at
  /// most this much more, which the sinks' idempotence by event id absorbs.
  std::chrono::milliseconds commit_interval{100};
};

/// Moves one subscription's events from the queue to its sink on a thread of its own, so a slow
/// or failing sink grows only its own lag. The cursor is committed only after the sink confirmed
/// the batch (invariant 1): a crash in between redelivers, and the sink's idempotence by event id
/// keeps that from duplicating. One commit covers the batches confirmed within
/// delivery_options::commit_interval.
class delivery {
public:
  delivery(delivery_options opts, std::unique_ptr<queue::subscription> sub,
           std::unique_ptr<sinks::sink> sink);
  ~delivery();
  delivery(const delivery&) = delete;
  delivery& operator=(const delivery&) = delete;

  /// Starts the delivery thread.
  void start();
  /// Stops reading, lets the batch in flight finish (its retries end at `deadline`), commits,
  /// joins the thread. Idempotent.
  void stop(std::chrono::steady_clock::time_point deadline);

  /// The drain mode, instead of start(): delivers on the caller's thread, blocking, from the
  /// cursor up to and including position `until`, at most `max_records` queue records (filtered
  /// and dead-lettered ones count), with the same batching, filter, retries and dead-letter file
  /// as the delivery thread; records appended past `until` are left for later. It commits as it
  /// goes (every commit_interval) and once at the end; what it returns is durable. It stops
  /// early, after the batch in flight, when `*cancel` (may be null) turns true or stop() is
  /// called from another thread; a batch whose retries a stop cuts short is not committed (the
  /// next drain redelivers it). `progress` (may be empty) is called after each batch with the
  /// records done so far. Returns the committed cursor; an error only when the final commit
  /// fails or the queue cannot be read.
  result<queue::position> drain_until(queue::position until, std::uint64_t max_records,
                                      const std::atomic<bool>* cancel,
                                      const std::function<void(std::uint64_t done)>& progress = {});

  const delivery_counters& counters() const noexcept { return counters_; }
  const sinks::sink& sink() const noexcept { return *sink_; }
  const std::string& name() const noexcept { return opts_.name; }
  /// The last sink error, empty when the last write succeeded.
  std::string last_error() const;

private:
  void run();
  /// Decodes, filters and writes one batch read from the queue, and marks it pending commit;
  /// false when stopping cut its retries short (then nothing of it is pending).
  bool deliver(const queue::batch& b, std::vector<queue::event_view>& events);
  /// stop() was called, or the drain's cancel flag is set.
  bool stopping_now() const;
  /// Writes `events` with retries; false when stopping cut the retries short.
  bool write_with_retry(std::span<const queue::event_view> events);
  /// Waits `delay` before a retry; false when a stop's deadline or a drain's cancel came first.
  bool wait_before_retry(std::chrono::nanoseconds delay);
  /// Appends the batch to the dead-letter file durably (and counts it); an error when it could
  /// not, and the batch must not be passed.
  result<void> dead_letter(std::span<const queue::event_view> events, const std::error_code& ec);
  /// After the sink confirmed `events`: their receipt-to-delivered latencies.
  void record_latency(std::span<const queue::event_view> events) noexcept;
  /// Commits the cursor at the last batch the sink confirmed, if not yet committed.
  void commit_pending();
  /// commit_pending() once commit_interval has passed since the last commit.
  void commit_if_due();
  std::chrono::milliseconds read_wait() const;

  delivery_options opts_;
  std::unique_ptr<queue::subscription> sub_;
  std::unique_ptr<sinks::sink> sink_;
  std::unique_ptr<event_filter> filter_;
  delivery_counters counters_;
  // The delivery thread's: the last confirmed position not yet committed (0: none), the batches
  // up to it, and when the cursor was last committed.
  queue::position pending_ = 0;
  std::uint64_t pending_batches_ = 0;
  std::chrono::steady_clock::time_point last_commit_{};
  // drain_until()'s cancel flag while it runs, null otherwise.
  std::atomic<const std::atomic<bool>*> cancel_{nullptr};

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point deadline_{};
  std::string last_error_;
  std::thread thread_;
};

} // namespace sluice::pipeline
