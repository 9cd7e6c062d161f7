#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

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
  std::atomic<std::uint64_t> damaged{0};       ///< undecodable records skipped
  std::atomic<std::int64_t> committed{0};      ///< the cursor
};

struct delivery_options {
  std::string name;
  std::size_t batch = 500;
  std::optional<config::filter_config> filter;
  config::retry_config retry;
  /// Where a batch goes after max_attempts failures: DATA_DIR/dead-letter/sub-NAME.ndjson.
  std::filesystem::path dead_letter_file;
};

/// Moves one subscription's events from the queue to its sink on a thread of its own, so a slow
/// or failing sink grows only its own lag. The cursor is committed only after the sink confirmed
/// the batch (invariant 1): a crash in between redelivers, and the sink's idempotence by event id
/// keeps that from duplicating.
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

  const delivery_counters& counters() const noexcept { return counters_; }
  const sinks::sink& sink() const noexcept { return *sink_; }
  const std::string& name() const noexcept { return opts_.name; }
  /// The last sink error, empty when the last write succeeded.
  std::string last_error() const;

private:
  void run();
  /// Writes `events` with retries; false when stopping cut the retries short.
  bool write_with_retry(std::span<const queue::event_view> events);
  void dead_letter(std::span<const queue::event_view> events, const std::error_code& ec);

  delivery_options opts_;
  std::unique_ptr<queue::subscription> sub_;
  std::unique_ptr<sinks::sink> sink_;
  std::unique_ptr<event_filter> filter_;
  delivery_counters counters_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point deadline_{};
  std::string last_error_;
  std::thread thread_;
};

} // namespace sluice::pipeline
