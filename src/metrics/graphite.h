#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/asio.h"
#include "metrics/family.h"

namespace sluice::metrics {

namespace detail {
struct graphite_state;
} // namespace detail

/// The Graphite plaintext protocol lines of `families`: `PATH VALUE TIMESTAMP\n`, every line
/// stamped `unix_seconds`. The mapping:
///
///   PATH = PREFIX "." NAME { "." LABEL_VALUE }
///
/// - PREFIX is `prefix` (with an empty prefix the path starts at NAME, without a dot);
/// - NAME is the family name without a leading "sluice_" (`sluice_events_total` becomes
///   `events_total`);
/// - each label contributes its value only (not its name), in label order, sanitized: any
///   character other than [A-Za-z0-9_-] becomes `_` (so `127.0.0.1` becomes `127_0_0_1`), and
///   an empty value becomes `_`; NAME is sanitized the same way (a `:` becomes `_`);
/// - counters and gauges: one line, the value as is (a counter's total; Graphite derives rates);
/// - histograms: four lines, PATH ".count" (observations), PATH ".sum" (their sum, seconds),
///   PATH ".p50" and PATH ".p99" (quantiles estimated from the buckets with estimate_quantile(),
///   in seconds); no p50/p99 line while the histogram has no observations.
///
/// Values are spelled as in Prometheus (integers without exponent); a NaN or infinite value has
/// no line (Graphite cannot store it). Pure; any thread.
std::string render_graphite(std::span<const family> families, std::string_view prefix,
                            std::int64_t unix_seconds);

/// What a graphite_reporter did so far. Every field may be read from any thread at any time.
struct graphite_stats {
  std::atomic<std::uint64_t> lines_sent{0};       ///< written to a connection without error
  std::atomic<std::uint64_t> lines_dropped{0};    ///< oldest lines dropped for a full buffer
  std::atomic<std::uint64_t> connects{0};         ///< connections established
  std::atomic<std::uint64_t> connect_failures{0}; ///< failed resolve or connect attempts
  std::atomic<std::uint64_t> write_failures{0};   ///< writes that failed on their own
  std::atomic<std::uint64_t> disconnects{0};      ///< connections the server closed or reset
};

/// Sends snapshots of the metrics to Graphite (carbon's plaintext protocol over TCP), every
/// `interval`, from the executor it is given: it never blocks that executor (resolve, connect,
/// write and the waits between them are asynchronous) and runs its handlers on a strand of it.
///
/// Each interval it calls `snapshot` (on the executor; it must not block long), renders the
/// families with render_graphite() at the current Unix time, appends the lines to an outgoing
/// buffer and writes the buffer to the connection. The buffer holds at most `max_buffer_bytes`
/// of lines not yet handed to a write (one write of at most that size may be in flight besides):
/// past it the OLDEST whole lines are dropped and counted. While Graphite cannot be reached the
/// lines wait in that buffer; a failed attempt is retried after a delay of 100 ms doubling to
/// 30 s, which a successful connect resets; a lost connection (the server closed it, which the
/// read side sees, or a write failed) is reconnected after that delay; lines of a failed write
/// go back to the front of the buffer and are sent again. Each degraded path (connect failure,
/// write failure, lost connection, dropped lines) counts in stats() and logs a warning at most
/// once per 30 s per kind. Lines still buffered at stop() are discarded.
class graphite_reporter {
public:
  struct options {
    std::string host;       ///< a host name or an IP address
    std::uint16_t port = 0; ///< carbon's plaintext port, usually 2003
    std::string prefix = "sluice";
    std::chrono::milliseconds interval{10000};
    std::size_t max_buffer_bytes = 1 << 20;
  };
  using snapshot_fn = std::function<std::vector<family>()>;

  /// Does nothing until start(). `snapshot` is called on the executor only, never after stop()
  /// returned, and is destroyed by stop().
  graphite_reporter(boost::asio::any_io_executor executor, options opts, snapshot_fn snapshot);
  graphite_reporter(boost::asio::io_context& io, options opts, snapshot_fn snapshot);
  ~graphite_reporter(); ///< stops
  graphite_reporter(const graphite_reporter&) = delete;
  graphite_reporter& operator=(const graphite_reporter&) = delete;

  /// Starts the interval and the first connection attempt; returns at once. Any thread; a second
  /// call, or one after stop(), does nothing.
  void start();

  /// Stops: when it returns, `snapshot` is not running and will not be called again. The socket
  /// and timers are closed on the executor, asynchronously; the state they use lives until
  /// their handlers have finished (or the executor's context is destroyed), so stop() never
  /// waits for the executor and may be called while it does not run. Idempotent; any thread,
  /// the executor's included, but not from inside `snapshot`.
  void stop();

  const graphite_stats& stats() const;

private:
  std::shared_ptr<detail::graphite_state> state_;
};

} // namespace sluice::metrics
