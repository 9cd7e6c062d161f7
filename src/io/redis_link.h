#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "io/reconnect_policy.h"
#include "io/redis.h"

namespace sluice::io::redis {

/// One Redis connection that comes back: get() reconnects a lost one, no sooner than the io
/// back-off allows (250 ms, then 250 ms more per failure, at most 5 s), and warns (rate-limited)
/// each time it cannot. For one thread at a time, like the connection it holds; blocks only
/// inside get() (the connect) and the connection's own calls.
class link {
public:
  /// `what` names the link in warnings ("queue sluice:events writer").
  /// `reconnects`, when given, counts reconnections too (a metric of the link's owner).
  link(endpoint at, std::chrono::milliseconds timeout, std::string what,
       std::atomic<std::uint64_t>* reconnects = nullptr);

  /// The connection, connecting first when there is none (or it broke). Fails with the connect
  /// error, or errc::backing_off while the back-off after the last failure runs.
  result<connection*> get();

  /// Drops the connection after a failure of `why` (a broken flush); the next get() reconnects
  /// after the back-off.
  void lost(std::error_code why);

  /// Connections made after the first, and failed connection attempts.
  std::uint64_t reconnects() const noexcept { return reconnects_; }
  std::uint64_t connect_failures() const noexcept { return connect_failures_; }

  /// The back-off still to run before the next attempt (0 when get() would try now).
  std::chrono::milliseconds backoff_left() const;

  const endpoint& at() const noexcept { return at_; }

private:
  endpoint at_;
  std::chrono::milliseconds timeout_;
  std::string what_;
  reconnect_policy policy_;
  std::optional<connection> conn_;
  std::chrono::steady_clock::time_point next_attempt_{};
  bool ever_connected_ = false;
  std::uint64_t reconnects_ = 0;
  std::atomic<std::uint64_t>* reconnect_counter_ = nullptr;
  std::uint64_t connect_failures_ = 0;
};

} // namespace sluice::io::redis
