#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace sluice::io {

/// Why a stream connection ended or an attempt failed; each is counted per source.
enum class disconnect_reason : std::uint8_t {
  network,      ///< refused, reset, timeout, TLS failure, a malformed or ended response
  http_error,   ///< 5xx and any other status that is neither fatal nor rate limiting
  rate_limited, ///< 420, 429
  fatal,        ///< 401, 403, 404, 406, 413, 416: not retried
  stall,        ///< no byte within the stall timeout (retried as a network error)
};
inline constexpr std::size_t k_disconnect_reason_count = 5;

/// "network", "http_error", "rate_limited", "fatal", "stall".
std::string_view disconnect_reason_name(disconnect_reason r) noexcept;

/// The reason an HTTP status other than 200 ends an attempt with.
disconnect_reason reason_of_status(int status) noexcept;

/// For a fatal status, what the operator should fix ("check auth" for 401); empty otherwise.
std::string_view fatal_status_hint(int status) noexcept;

/// The numbers of a reconnection policy (the defaults).
struct reconnect_settings {
  /// network and stall: initial, then + step per attempt, at most max.
  std::chrono::nanoseconds network_initial = std::chrono::milliseconds(250);
  std::chrono::nanoseconds network_step = std::chrono::milliseconds(250);
  std::chrono::nanoseconds network_max = std::chrono::seconds(16);
  /// http_error: initial, doubled per attempt, at most max.
  std::chrono::nanoseconds http_initial = std::chrono::seconds(5);
  std::chrono::nanoseconds http_max = std::chrono::seconds(320);
  /// rate_limited: initial, doubled per attempt, at most max; a larger Retry-After wins.
  std::chrono::nanoseconds rate_limit_initial = std::chrono::seconds(60);
  std::chrono::nanoseconds rate_limit_max = std::chrono::seconds(960);
  /// Each delay is shortened by a random share of up to this many percent (0..100).
  unsigned jitter_percent = 20;
  /// A connection that has delivered data this long resets every attempt counter.
  std::chrono::nanoseconds stable_after = std::chrono::seconds(30);
  /// Failed attempts in a row (since the last reset) after which the source gives up; none:
  /// never.
  std::optional<std::uint64_t> max_retries;
};

/// The reconnection policy of one source: which delay follows a failed attempt or a lost
/// connection, per class (network and stall linear; http_error and rate_limited exponential),
/// with jitter, Retry-After, the reset after a stable connection and the give-up after
/// `max_retries`. Time and randomness are injected, so tests are exact. Not thread-safe: one
/// thread or strand at a time; never blocks.
class reconnect_policy {
public:
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;
  /// Uniform in [0, 1).
  using random_fn = std::function<double()>;

  /// Defaults: steady_clock::now and a std::mt19937_64 seeded from std::random_device.
  explicit reconnect_policy(reconnect_settings settings, clock_fn now = {}, random_fn random = {});

  /// A connection is up (for http: it answered 200 and delivered its first bytes). Starts the
  /// stable period.
  void connected();

  /// The current connection delivered data: once it has been up for `stable_after` (and
  /// delivered), every counter is reset.
  void delivering();

  /// What to do after a failure.
  struct decision {
    bool give_up = false;              ///< max_retries reached: no further attempt
    std::chrono::nanoseconds delay{0}; ///< before the next attempt (when not giving up)
    std::uint64_t attempt = 0;         ///< of its class, since the last reset (1 for the first)
    std::uint64_t failures = 0;        ///< in a row, every class, since the last reset
  };

  /// An attempt failed or the connection ended, for `reason` (fatal is a programmer error here:
  /// the caller does not retry it: the decision gives up). `retry_after` (a server's
  /// Retry-After, with a 420, 429 or 503) replaces the delay when larger; it is not jittered,
  /// so the next attempt never comes before the server asked. Ends the current connection.
  decision failed(disconnect_reason reason,
                  std::optional<std::chrono::nanoseconds> retry_after = std::nullopt);

  /// Forgets every attempt (after a stable connection, or a restart of the source).
  void reset() noexcept;

  /// Attempts of the class of `reason` since the last reset.
  std::uint64_t attempts(disconnect_reason reason) const noexcept;

  /// The delay of the `attempt`-th failure (1-based) of the class of `reason`, without jitter.
  std::chrono::nanoseconds base_delay(disconnect_reason reason,
                                      std::uint64_t attempt) const noexcept;

private:
  enum cls : std::uint8_t { network_cls, http_cls, rate_cls, k_cls_count };
  static cls class_of(disconnect_reason r) noexcept;
  void check_stable();

  reconnect_settings s_;
  clock_fn now_;
  random_fn random_;
  std::array<std::uint64_t, k_cls_count> attempts_{};
  std::uint64_t failures_ = 0;
  std::optional<std::chrono::steady_clock::time_point> up_since_;
  bool delivered_ = false;
};

} // namespace sluice::io
