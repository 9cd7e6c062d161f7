#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/pipeline.h"
#include "io/asio.h"
#include "io/reconnect_policy.h"
#include "queue/queue.h"
#include "sources/counters.h"
#include "sources/intake.h"

namespace sluice::sources {

namespace asio = boost::asio;

enum class source_state { connecting, connected, backing_off, stopped, failed };

/// "connecting", "connected", "backing_off", "stopped", "failed".
std::string_view state_name(source_state s) noexcept;

/// A source: reads a stream and appends its records, as events, to the queue. The caller owns the
/// io_context and the threads that run it; a source keeps its own small pool of threads for the
/// queue appends, which block at the queue's cap. state() and stats() may be read from any thread.
/// The source must outlive every handler it queued on the io_context: stop() it, then let the
/// io_context run out (or stop it) before destroying the source.
class source {
public:
  virtual ~source() = default;
  source(const source&) = delete;
  source& operator=(const source&) = delete;

  /// Starts reading; returns at once. Call once, from any thread. An endpoint that cannot be set
  /// up (a listen address in use) is an error and the state becomes failed.
  virtual result<void> start(asio::io_context& io) = 0;

  /// Stops reading and closes connections; waits for an append in flight (which blocks while the
  /// queue is at its cap and when_full = block: drain or close the queue first). Idempotent.
  virtual void stop() = 0;

  source_state state() const noexcept { return state_.load(); }
  const counters& stats() const noexcept { return ctx_.stats; }
  const std::string& name() const noexcept { return ctx_.cfg.name; }
  /// "http", "tcp", "unix", "listen", "stdin".
  std::string_view type() const noexcept { return ctx_.cfg.type(); }

  /// Takes a change of its settings from `before` (what it runs with) to `now` in place, without
  /// a gap, when its type can (an http source: a change of the request alone): true when it did;
  /// false, the caller stops it and makes a new one. Call from the thread that started it.
  virtual bool take_change(const config::source_config& before,
                           const config::source_config& now) {
    (void)before;
    (void)now;
    return false;
  }
  /// Opens a new connection and switches to it without a gap when its type can (an http source):
  /// true when it does; false, the caller stops it and makes a new one. As take_change().
  virtual bool reconnect_in_place() { return false; }
  /// DATA_DIR/dead-letter/NAME.ndjson.
  const std::filesystem::path& dead_letter_path() const noexcept { return ctx_.dead.path(); }

protected:
  source(config::source_config cfg, queue::queue& q, const std::filesystem::path& data_dir)
      : ctx_(std::move(cfg), q, data_dir) {}
  void set_state(source_state s) noexcept { state_.store(s); }

  /// A connection is up: counts it (`connects`; `reconnects` after the first), clears the
  /// back-off gauge, tells `policy` and sets the state to connected.
  void note_connected(io::reconnect_policy& policy);

  /// An attempt failed or a connection ended for `reason`; `what` describes it ("HTTP 503 from
  /// URL", "cannot connect to tcp://HOST:PORT: Connection refused"). Counts it by reason, keeps
  /// `what` as the last error and asks `policy` for the next delay: logs a rate-limited warning
  /// with the reason and that delay, sets the state to backing_off and the gauge, and returns the
  /// delay. When the reason is fatal (`what` should then say what to fix) or the policy gives up
  /// (max_retries), logs an error, sets the state to failed and returns nullopt: the caller
  /// makes no further attempt. Call from the source's connection thread or strand.
  std::optional<std::chrono::nanoseconds>
  note_disconnect(io::reconnect_policy& policy, io::disconnect_reason reason,
                  const std::string& what,
                  std::optional<std::chrono::nanoseconds> retry_after = std::nullopt);

  source_context ctx_;
  std::atomic<source_state> state_{source_state::stopped};
};

/// Makes the source `cfg` describes, by its type (source_type.h): http, tcp, unix, listen, stdin
/// or a registered one. errc::invalid_argument for a type none has.
result<std::unique_ptr<source>> make_source(const config::source_config& cfg, queue::queue& q,
                                            const std::filesystem::path& data_dir);

} // namespace sluice::sources
