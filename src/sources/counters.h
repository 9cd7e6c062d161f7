#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/reconnect_policy.h"

namespace sluice::sources {

/// Why a record was rejected (and written to the dead-letter file instead of the queue).
enum class reason : std::uint8_t {
  too_long,     ///< longer than max_record_bytes
  not_utf8,     ///< not valid UTF-8
  invalid_json, ///< format = "json" and not one valid JSON document
};
inline constexpr std::size_t k_reason_count = 3;

/// "too_long", "not_utf8", "invalid_json".
std::string_view reason_name(reason r) noexcept;

/// Events counted by type ("tweet", "delete", "limit", ...), for `events:<type>_count`: the
/// first k_slots types seen get a slot each, later ones count under "other". Any thread may
/// count and read; a type's slot is claimed once under a lock, counting after that is a compare
/// and an atomic add.
class type_counts {
public:
  static constexpr std::size_t k_slots = 16;

  void count(std::string_view type) noexcept {
    std::size_t used = used_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < used; ++i)
      if (names_[i] == type) {
        counts_[i].fetch_add(1, std::memory_order_relaxed);
        return;
      }
    claim(type).fetch_add(1, std::memory_order_relaxed);
  }

  /// Every type counted so far with its count, in the order first seen.
  std::vector<std::pair<std::string, std::uint64_t>> snapshot() const {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    std::size_t used = used_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < used; ++i)
      out.emplace_back(names_[i], counts_[i].load(std::memory_order_relaxed));
    if (auto o = other_.load(std::memory_order_relaxed); o > 0)
      out.emplace_back("other", o);
    return out;
  }

private:
  std::atomic<std::uint64_t>& claim(std::string_view type) noexcept {
    std::lock_guard lock(mutex_);
    std::size_t used = used_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < used; ++i)
      if (names_[i] == type)
        return counts_[i];
    if (used == k_slots)
      return other_;
    names_[used].assign(type);
    used_.store(used + 1, std::memory_order_release); // the name is written before it is seen
    return counts_[used];
  }

  std::mutex mutex_;
  std::array<std::string, k_slots> names_;
  std::array<std::atomic<std::uint64_t>, k_slots> counts_{};
  std::atomic<std::uint64_t> other_{0};
  std::atomic<std::size_t> used_{0};
};

/// A source's cumulative counts at one moment (counters::snapshot()): every count of
/// source_count_fields(), summed over the source objects a source had (a restart makes a new one).
struct source_counts {
  std::uint64_t records = 0; ///< appended to the queue
  std::uint64_t bytes = 0;   ///< payload bytes of those records
  std::uint64_t rejected_too_long = 0;
  std::uint64_t rejected_not_utf8 = 0;
  std::uint64_t rejected_invalid_json = 0;
  std::uint64_t dropped_at_cap = 0;
  std::uint64_t truncated = 0;
  std::uint64_t append_failures = 0;
  std::uint64_t dead_letter_failures = 0;
  std::uint64_t connects = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t acks = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t switches = 0;
  std::uint64_t backfill_stalls = 0;
  std::uint64_t disconnects_network = 0;
  std::uint64_t disconnects_http_error = 0;
  std::uint64_t disconnects_rate_limited = 0;
  std::uint64_t disconnects_fatal = 0;
  std::uint64_t disconnects_stall = 0;
  std::uint64_t limit_notices = 0;

  /// Rejected records, every reason.
  std::uint64_t rejected() const noexcept {
    return rejected_too_long + rejected_not_utf8 + rejected_invalid_json;
  }
  source_counts& operator+=(const source_counts& o) noexcept;
};

struct counters;

/// One count of source_counts, for every place that shows them (/metrics, /meta.json, `sluice
/// ctl meta` and the console): `name` is its key; `metric` its family,
/// sluice_source_<metric>_total, with a `reason` label when `reason` is not empty (the rejections
/// and the disconnects).
struct source_count_field {
  const char* name;
  const char* metric;
  const char* reason;
  const char* help; ///< the family's help
  std::uint64_t source_counts::*member;
  std::uint64_t (*load)(const counters&) noexcept;
};
/// Every count of source_counts, in declaration order.
std::span<const source_count_field> source_count_fields() noexcept;

/// One source's counters. Every member may be read and incremented from any thread.
struct counters {
  std::atomic<std::uint64_t> records{0};        ///< records appended to the queue
  std::atomic<std::uint64_t> bytes{0};          ///< payload bytes of those records
  type_counts types;                            ///< accepted records by event type
  std::atomic<std::int64_t> last_event_ns{0};   ///< receipt of the last records (unix ns; 0: none)
  std::atomic<std::int64_t> connected_at_ns{0}; ///< the current connection's start (unix ns)
  std::array<std::atomic<std::uint64_t>, k_reason_count> rejected{}; ///< by reason
  std::atomic<std::uint64_t> dropped_at_cap{0};       ///< dropped by the queue (drop_newest)
  std::atomic<std::uint64_t> truncated{0};            ///< partial lines lost with a connection
  std::atomic<std::uint64_t> append_failures{0};      ///< failed queue appends (retried)
  std::atomic<std::uint64_t> dead_letter_failures{0}; ///< rejected records not written
  std::atomic<std::uint64_t> connects{0};             ///< connections made or accepted
  std::atomic<std::uint64_t> reconnects{0};           ///< connection attempts after the first
  std::atomic<std::uint64_t> connect_failures{0};     ///< connection attempts that failed
  std::atomic<std::uint64_t> open_connections{0};     ///< listen: pushers connected now
  std::atomic<std::uint64_t> acks{0};                 ///< listen: ack lines written
  std::atomic<std::uint64_t> duplicates{0};           ///< http: dropped by dedupe_field
  std::atomic<std::uint64_t> switches{0};             ///< http: connections replaced after a change
  std::atomic<std::uint64_t> backfill_stalls{0}; ///< http: connections that brought nothing new
  /// http, tcp, unix: failed attempts and lost connections, by reason (io::disconnect_reason).
  std::array<std::atomic<std::uint64_t>, io::k_disconnect_reason_count> disconnects{};
  /// http, tcp, unix: the delay being waited before the next attempt, in ns (a gauge; 0 while
  /// connecting or connected).
  std::atomic<std::int64_t> backoff_ns{0};
  /// Limit notices ({"limit":{"track":N}}, N cumulative for the connection): how many came, the
  /// events the API reported skipped on the current connection (the last N), and when the last
  /// one came (unix ns; 0: never).
  std::atomic<std::uint64_t> limit_notices{0};
  std::atomic<std::uint64_t> limit_skipped{0};
  std::atomic<std::int64_t> limit_last_ns{0};
  /// Events (not limit notices) received on the current connection: coverage's numerator.
  std::atomic<std::uint64_t> connection_events{0};

  /// received / (received + skipped) x 100 since the connection began; 100 with neither.
  double coverage() const noexcept {
    auto got = static_cast<double>(connection_events.load(std::memory_order_relaxed));
    auto skipped = static_cast<double>(limit_skipped.load(std::memory_order_relaxed));
    return got + skipped == 0 ? 100.0 : got * 100.0 / (got + skipped);
  }
  /// A new connection: coverage starts again at 100.
  void connection_began() noexcept {
    connection_events.store(0, std::memory_order_relaxed);
    limit_skipped.store(0, std::memory_order_relaxed);
  }

  std::uint64_t disconnects_by(io::disconnect_reason r) const noexcept {
    return disconnects[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }
  void count_disconnect(io::disconnect_reason r) noexcept {
    disconnects[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  /// The last failure's description ("HTTP 503 from URL", "connection refused"); empty before
  /// any. Any thread; takes a lock.
  std::string last_error() const {
    std::lock_guard lock(error_mutex_);
    return last_error_;
  }
  void set_last_error(std::string e) {
    std::lock_guard lock(error_mutex_);
    last_error_ = std::move(e);
  }

  /// Every count of source_count_fields() now.
  source_counts snapshot() const noexcept;

  std::uint64_t rejected_by(reason r) const noexcept {
    return rejected[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }
  std::uint64_t rejected_total() const noexcept {
    std::uint64_t n = 0;
    for (const auto& c : rejected)
      n += c.load(std::memory_order_relaxed);
    return n;
  }

private:
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

} // namespace sluice::sources
