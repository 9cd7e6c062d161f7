#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sluice::daemon {

/// Tells the service manager (systemd, or anything speaking its sd_notify protocol) how the daemon
/// is doing: one datagram of `KEY=VALUE` lines per call, sent to the AF_UNIX datagram socket named
/// by NOTIFY_SOCKET. Written here rather than linked from libsystemd, which sluice does not use.
///
/// A notifier without a socket is disabled: every call then succeeds and sends nothing, so callers
/// never need to ask whether they run under systemd. Each send opens its own socket, so the object
/// is immutable after construction and any thread may call it concurrently. A send may block
/// briefly while the manager's receive queue is full, as sd_notify(3) does.
class notifier {
public:
  /// A disabled notifier.
  notifier() = default;

  /// A notifier for `socket_path`: an absolute filesystem path, or an abstract socket name
  /// written with a leading '@'; an empty path gives a disabled notifier. `watchdog_timeout` is
  /// the manager's WatchdogSec (WATCHDOG_USEC), when it expects pings. For tests and for callers
  /// that learn the socket some other way.
  explicit notifier(std::string socket_path,
                    std::optional<std::chrono::microseconds> watchdog_timeout = std::nullopt);

  /// The notifier the environment describes: NOTIFY_SOCKET, and WATCHDOG_USEC, which counts only
  /// when WATCHDOG_PID is absent or names this process (the manager sets it for the main process;
  /// a child that inherited the environment must not ping on the parent's behalf). A socket
  /// address of a form sluice cannot use (neither '/' nor '@', e.g. "vsock:...") is logged as a
  /// warning and gives a disabled notifier. The variables are left in the environment.
  static notifier from_env();

  /// True when there is a socket to send to.
  bool enabled() const { return !socket_path_.empty(); }

  /// Sends `state` (newline-separated `KEY=VALUE` assignments) as one datagram. Success without
  /// sending anything when disabled; the errno of socket()/sendto() otherwise (ECONNREFUSED or
  /// ENOENT when nobody listens), or std::errc::filename_too_long for a path that does not fit a
  /// sockaddr_un.
  result<void> send(std::string_view state) const;

  /// "READY=1": start-up finished, the pipeline is running.
  result<void> ready() const { return send("READY=1"); }

  /// "RELOADING=1" and "MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>", sent when a reload begins (the
  /// timestamp lets systemd ≥ 253 tell this reload from an earlier one); send ready() when it is
  /// done.
  result<void> reloading() const;

  /// "STOPPING=1": shutdown has begun.
  result<void> stopping() const { return send("STOPPING=1"); }

  /// "WATCHDOG=1": the keep-alive ping, due every watchdog_interval().
  result<void> watchdog() const { return send("WATCHDOG=1"); }

  /// "STATUS=<text>": one line shown by `systemctl status`. Line breaks in `text` become spaces,
  /// since a newline would start a new assignment.
  result<void> status(std::string_view text) const;

  /// How often to ping: half the manager's watchdog timeout, as sd_watchdog_enabled(3)
  /// recommends. Nullopt when no watchdog is expected or the notifier is disabled.
  std::optional<std::chrono::microseconds> watchdog_interval() const;

  /// The socket address as given ('@' for an abstract name); empty when disabled.
  const std::string& socket_path() const { return socket_path_; }

private:
  std::string socket_path_;
  std::optional<std::chrono::microseconds> watchdog_timeout_;
};

} // namespace sluice::daemon
