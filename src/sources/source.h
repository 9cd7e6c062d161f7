#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/pipeline.h"
#include "io/asio.h"
#include "io/backoff.h"
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
  /// DATA_DIR/dead-letter/NAME.ndjson.
  const std::filesystem::path& dead_letter_path() const noexcept { return ctx_.dead.path(); }

protected:
  source(config::source_config cfg, queue::queue& q, const std::filesystem::path& data_dir)
      : ctx_(std::move(cfg), q, data_dir) {}
  void set_state(source_state s) noexcept { state_.store(s); }

  source_context ctx_;
  std::atomic<source_state> state_{source_state::stopped};
};

/// The reconnect backoff a backoff_config describes (io::backoff, up to 20% jitter taken off
/// each delay); a zero min or max falls back to 100 ms and 30 s.
io::backoff make_backoff(const config::backoff_config& cfg);

/// Makes the source `cfg` describes: http, tcp, unix, listen or stdin.
result<std::unique_ptr<source>> make_source(const config::source_config& cfg, queue::queue& q,
                                            const std::filesystem::path& data_dir);

} // namespace sluice::sources
