#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "config/pipeline.h"
#include "io/asio.h"
#include "pipeline/delivery.h"
#include "queue/queue.h"
#include "sinks/sink.h"
#include "sources/source.h"

namespace sluice::pipeline {

/// One source's figures at a moment.
struct source_status {
  std::string name;
  std::string type; ///< "http", "tcp", ...
  sources::source_state state = sources::source_state::stopped;
  bool enabled = true; ///< false: stopped through the API (or `enabled = false`)
  /// Every cumulative count (sources::source_count_fields()), over the source's restarts.
  sources::source_counts counts;
  /// Accepted records by event type, in the order the types were first seen.
  std::vector<std::pair<std::string, std::uint64_t>> types;
  std::int64_t last_event_ns = 0;   ///< unix ns of the last records' receipt; 0: none yet
  std::int64_t connected_at_ns = 0; ///< unix ns the current connection began; 0: none
  std::uint64_t open_connections = 0; ///< listen: pushers connected now
  std::int64_t backoff_ns = 0; ///< the delay being waited before the next attempt; 0: none
  std::uint64_t limit_skipped = 0; ///< on the current connection, as the last notice said
  std::int64_t limit_last_ns = 0;  ///< unix ns of the last notice; 0: none
  double coverage = 100;           ///< received / (received + skipped) x 100, this connection
  /// The last failure ("HTTP 401 from URL: check auth", "gave up after 3 attempts: ..."); with
  /// state failed, why the source stopped.
  std::string last_error;
};

/// A source's figures from its counters (`enabled` left true).
source_status status_of(const sources::source& src);
/// Adds `from`'s cumulative counts (events, bytes, connections, types, ...) to `into`; the
/// figures of a moment (state, backoff, coverage, errors) stay `into`'s.
void add_counts(source_status& into, const source_status& from);

/// One subscription's figures at a moment.
struct subscription_status {
  std::string name;
  std::string sink; ///< "eventlog", "sqlite"
  std::uint64_t delivered = 0;
  std::uint64_t filtered = 0;
  std::uint64_t retries = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t dead_letter_failures = 0; ///< dead-letter writes that failed (batch kept)
  queue::position committed = 0;
  std::uint64_t lag = 0; ///< durable records past the cursor
  /// false for a deliver = "drain" subscription: no delivery thread, `sluice drain` delivers it;
  /// then only `committed` and `lag` are filled (the cursor read without its lock).
  bool continuous = true;
  bool paused = false; ///< no delivery runs until resumed
  /// From an event's receipt by its source to its sink's confirmation, over every event the sink
  /// confirmed so far (delivery_counters::receipt_to_delivered_ns; within 12.5%); 0 when none.
  std::uint64_t receipt_to_delivered_p50_ns = 0;
  std::uint64_t receipt_to_delivered_p99_ns = 0;
  std::string last_error;
  sinks::sink_counts sink_counts; ///< its sink's counts, over every sink it had
};

/// A delivery's cumulative counts (delivered, filtered, retries, dead_lettered, and its sink's)
/// as a subscription_status; its other fields left empty.
subscription_status counts_of(const delivery& d);
/// Adds `from`'s cumulative counts to `into`; the figures of a moment stay `into`'s.
void add_counts(subscription_status& into, const subscription_status& from);

struct pipeline_status {
  std::vector<source_status> sources;
  queue::position last = 0;    ///< last position assigned
  queue::position durable = 0; ///< durable watermark
  std::uint64_t disk_bytes = 0;
  std::uint64_t blocked_appenders = 0;
  bool queue_failed = false; ///< the queue cannot put its files back after a failed write
  std::vector<subscription_status> subscriptions;
};

/// The first position whose record was received at or after `unix_ns`, scanning the queue from
/// its oldest record; nullopt when every record is older (or the queue is empty). Blocks on
/// reads; reads the whole queue in the worst case.
result<std::optional<queue::position>> position_at_time(queue::queue& q, std::int64_t unix_ns);

/// Opens a subscription's sink as its configuration describes it.
result<std::unique_ptr<sinks::sink>> open_sink(const config::subscription_config& s);
/// The sink's target for messages: the event log's directory, "PATH table T" for sqlite.
std::string sink_target(const config::subscription_config& s);
/// A subscription's delivery options: batch, filter, retry and its dead-letter file
/// DATA_DIR/dead-letter/sub-NAME.ndjson.
delivery_options delivery_options_of(const config::pipeline_config& cfg,
                                     const config::subscription_config& s);
/// Where a subscription without a cursor starts, from its `start` setting.
queue::start_at start_of(const config::subscription_config& s);

/// A running pipeline: the queue (queue/open.h), every source writing to it, and every subscription's
/// continuous delivery reading from it. A deliver = "drain" subscription gets no delivery: open()
/// creates its cursor (so retention keeps its records) and lets go of it, for `sluice drain`
/// (pipeline/drain.h) to take. The sources' I/O runs on two threads of the runner's own; each
/// subscription delivers on a thread of its own (pipeline/delivery.h); the http and stdin
/// sources keep a thread each.
class runner {
public:
  /// Opens the queue, the continuous subscriptions' sinks and cursors (creating the drain ones'
  /// cursors), and makes the sources; nothing runs yet. On failure, `error` says what failed, by
  /// name (the queue locked by another process, a sink that cannot open).
  static result<std::unique_ptr<runner>> open(const config::pipeline_config& cfg,
                                              std::string& error);
  ~runner(); ///< stop() with the configuration's shutdown_timeout
  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;

  /// Starts the deliveries, then the sources. A source that cannot start (a listen address in
  /// use) is an error naming it, and nothing is left running.
  result<void> start(std::string& error);

  /// The graceful stop: the sources stop reading (an append waiting at the queue's cap is given
  /// until half the time left, then refused), each delivery finishes its batch in flight and
  /// commits its cursor (retries end at `deadline`), and the queue closes, making everything it
  /// holds durable. Idempotent; call from one thread.
  result<void> stop(std::chrono::steady_clock::time_point deadline);

  /// The figures now; after stop(), those at the stop.
  pipeline_status status() const;
  queue::queue& queue() noexcept { return *queue_; }

  /// Applies a new configuration to the running pipeline (HUP): sources and subscriptions whose
  /// settings did not change keep running untouched; changed ones are stopped (a delivery
  /// finishes its batch and commits) and started with their new settings; new ones start,
  /// removed ones stop. A change of data_dir or [queue] is refused (it takes a restart): false,
  /// nothing changed. Otherwise true, with `what` naming each change (and any that failed to
  /// start, which are logged and left out). Call from the thread that calls stop().
  bool reconfigure(const config::pipeline_config& next, std::string& what);
  /// Stops every source and starts it again on a new connection (USR1); how many restarted.
  std::size_t reconnect_sources();
  /// Stops the named source and starts it again on a new connection (an http source switches
  /// connections without a gap); false when no enabled source has that name. Call from the
  /// thread that calls stop().
  bool restart_source(const std::string& name);
  /// Moves a subscription's cursor so that `first` is the next position it delivers (its
  /// delivery, if running, finishes its batch, commits, and starts again from there). Errors:
  /// errc-like codes with `error` in words: no such subscription, its cursor held by a drain.
  /// Call from the thread that calls stop().
  result<void> rewind(const std::string& name, queue::position first, std::string& error);
  /// Deletes the cursor of a subscription the configuration no longer has (after reconfigure()
  /// removed it), so retention no longer keeps records for it. Call from the stop() thread.
  result<void> forget_cursor(const std::string& name, std::string& error);
  const config::pipeline_config& config() const noexcept { return cfg_; }
  /// Calls `fn` with each running delivery's name and counters. Call from the stop() thread.
  void
  each_delivery(const std::function<void(const std::string&, const delivery_counters&)>& fn) const {
    for (const auto& d : deliveries_)
      fn(d->name(), d->counters());
  }

private:
  explicit runner(config::pipeline_config cfg);
  /// A continuous subscription's sink, cursor and delivery (not started); `error` names what
  /// failed. For open() and reconfigure().
  result<std::unique_ptr<delivery>> make_delivery(const config::pipeline_config& cfg,
                                                  const config::subscription_config& s,
                                                  std::string& error);
  /// Whether the configuration has the named source enabled (true for one it does not have).
  bool enabled(const std::string& source) const;
  /// Stops sources_[i] and keeps it in retired_sources_ until the runner ends.
  void retire_source(std::size_t i);
  /// Stops deliveries_[i] by `deadline` and removes it, its counts carried on to the
  /// subscription's next delivery (a pause, a rewind, a change of settings).
  void retire_delivery(std::size_t i, std::chrono::steady_clock::time_point deadline);

  config::pipeline_config cfg_;
  std::unique_ptr<queue::queue> queue_;
  std::vector<std::unique_ptr<delivery>> deliveries_;
  std::vector<std::unique_ptr<sources::source>> sources_;
  /// Sources stopped by reconfigure() or reconnect_sources(): handlers of theirs may still be
  /// queued on the I/O threads, so they are destroyed after those stopped.
  std::vector<std::unique_ptr<sources::source>> retired_sources_;
  /// What retired sources counted, by name: a source started again (a change, a stop and a
  /// start) goes on from these, so its counts never go back while the process runs.
  std::map<std::string, source_status> carried_;
  /// What stopped deliveries counted, by subscription: a pause, a rewind or a change of settings
  /// does not set a subscription's counts back; removing it does.
  std::map<std::string, subscription_status> carried_subscriptions_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::vector<std::thread> io_threads_;
  bool started_ = false;
  bool stopped_ = false;
  std::optional<pipeline_status> final_status_;
};

} // namespace sluice::pipeline
