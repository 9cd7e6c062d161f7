#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "io/http_stream.h"
#include "sources/settings.h"
#include "sources/source.h"

namespace sluice::sources {

/// True when `before` and `now` are http sources that differ only in their request (url, method,
/// params, headers, auth, user_agent, gzip, TLS files): a running source takes such a change
/// with http_source::change_request, without a gap.
bool request_change_only(const config::source_config& before, const config::source_config& now);

class intake;

/// The `http` source: a long-lived streaming GET or POST (Twitter-style filter streams) whose
/// body is newline-delimited records. When the response ends, fails, stalls (no byte for
/// `stall_timeout`) or answers with a status other than 200, it reconnects after the delay its
/// io::reconnect_policy gives for the class of the failure (network and stall linear, error
/// statuses and rate limiting exponential, a larger Retry-After honoured); each failure is
/// warned about (rate-limited) and counted by reason (counters::disconnects). A fatal status
/// (401, 403, 404, 406, 413, 416), unloadable TLS certificates, or `max_retries` failures in a
/// row end in state failed with counters::last_error saying why; nothing is retried after that.
///
/// With `backfill = N` every request asks for the N events sent before it (`count=-N`). With a
/// `dedupe_field`, an event whose key is among the last `dedupe_window` of the source is dropped
/// (counters::duplicates); at start() the window is refilled from the queue's newest events of
/// this source, so a backfill after a crash queues only what was lost. A connection that ends
/// having brought nothing new (a server that closes each connection before it has sent more than
/// the backfill) halves the next request's backfill until one brings new events, then the
/// configured one is asked for again (counters::backfill_stalls).
///
/// change_request() switches to new request settings without a gap: `change_debounce` after the
/// first change of a burst, a second connection opens with the last settings while the first
/// goes on delivering; once the new one delivers its first event it becomes the source's
/// connection (counters::switches). The old one goes on until it caught up with the new one (it
/// delivers an event the new one delivered already), so that what it held in flight is not
/// lost, then closes at a line boundary; after k_overlap_limit at the latest. Events that came
/// on both are dropped by the dedupe window.
///
/// Runs on a thread and io_context of its own (the io_context given to start() is not used):
/// the queue append happens on that thread after each read, so while the queue blocks at its
/// cap nothing is read and the server's writes block (back-pressure, bounded memory).
class http_source final : public source {
public:
  static constexpr std::chrono::seconds k_default_stall_timeout{90};
  /// How many queue records start() reads back, per remembered id, to refill the dedupe window
  /// (other sources' records are read past too).
  static constexpr std::uint64_t k_seed_scan_factor = 4;
  /// After a switch, the old connection is closed once it delivers an event the new one
  /// delivered already (it caught up), or after this long.
  static constexpr std::chrono::seconds k_overlap_limit{5};

  http_source(config::source_config cfg, queue::queue& q, const std::filesystem::path& data_dir,
              std::chrono::nanoseconds stall_timeout = k_default_stall_timeout);
  ~http_source() override;

  result<void> start(asio::io_context& io) override;
  void stop() override;

  /// Switches to the request the http settings `settings` describe (url, method, params,
  /// headers, auth, user_agent, gzip, TLS files; the other options are ignored), without a gap;
  /// debounced. Any thread.
  void change_request(const config::option_values& settings);

  /// A change of the request alone (request_change_only) is taken without a gap.
  bool take_change(const config::source_config& before, const config::source_config& now) override;
  /// A new connection opens and takes over once it delivers: no gap.
  bool reconnect_in_place() override;

  /// The last HTTP status a server answered with (0 before any); any thread.
  int last_status() const noexcept { return last_status_.load(); }

private:
  struct link;

  asio::awaitable<void> run(std::shared_ptr<link> l);
  /// `c` becomes the live link (and its request the source's); counts a switch.
  void make_live(const std::shared_ptr<link>& c);
  /// The candidate `c` delivered its first event: it becomes the live link; the old one retires.
  void promote(const std::shared_ptr<link>& c);
  /// Ends the old link `l`: at once when it is not connected, else once it caught up (see
  /// above).
  void retire(const std::shared_ptr<link>& l);
  void request_changed(io::stream_request req);
  void start_candidate(io::stream_request req);
  /// After a connection that delivered: a backfill that brought only events already queued is
  /// halved for the next request (counted, warned about), so the source always makes progress;
  /// one that brought new events restores the configured backfill.
  void adjust_backfill(link& l, const intake& in);
  /// The reason and the description of a failed attempt or ended connection.
  std::pair<io::disconnect_reason, std::string> failure_of(const std::string& url,
                                                           const std::error_code& why,
                                                           const io::response_head& head) const;

  http_settings settings_;     ///< as configured at construction (a change moves request_ only)
  io::stream_request request_; ///< the live link's
  std::chrono::nanoseconds stall_timeout_;
  asio::io_context io_{1};
  std::thread thread_;
  std::atomic<int> last_status_{0};
  bool started_ = false;
  // On io_'s thread only:
  std::shared_ptr<link> live_;
  std::shared_ptr<link> candidate_;
  std::optional<io::stream_request> pending_; ///< the last change not yet applied
  asio::steady_timer debounce_{io_};
  bool debouncing_ = false;
};

} // namespace sluice::sources
