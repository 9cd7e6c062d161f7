#pragma once

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/overlay.h"
#include "api/server.h"
#include "api/view.h"
#include "config/load.h"
#include "pipeline/runner.h"

namespace sluice::api {

/// A change's answer: its HTTP status and JSON body.
struct outcome {
  http::status status = http::status::ok;
  nlohmann::json body;
};

/// The changes the API makes, run on the thread that owns the runner (`sluice run`'s main
/// thread, between signals): each updates the overlay, applies the effective configuration
/// (file + overlay) through runner::reconfigure (new stream parameters through the http source's
/// gap-free switch), persists the overlay once applied, and publishes a fresh view. Main thread
/// only.
class control {
public:
  control(pipeline::runner& r, config::document file, overlay o, board& b);

  /// Replaces the named parameters of an http stream (others stay); an empty list removes one.
  outcome set_stream_params(const std::string& stream,
                            const std::map<std::string, std::vector<std::string>>& params);
  /// Stops (false) or starts (true) a stream; persisted.
  outcome set_stream_enabled(const std::string& stream, bool enabled);
  /// A new connection (gap-free for http); not persisted, nothing to persist.
  outcome restart_stream(const std::string& stream);
  /// POST /subscriptions.json: {"name","sink","filter","start","batch","retry"}. Paths in the
  /// sink are relative to the data directory and may not leave it.
  outcome add_subscription(const nlohmann::json& body);
  outcome delete_subscription(const std::string& name);
  outcome set_paused(const std::string& name, bool paused);
  /// `to`: "beginning", "end", a position, or an RFC 3339 time still in the queue.
  outcome rewind(const std::string& name, const nlohmann::json& to);

  /// HUP: the file read again, the overlay applied on top; false (nothing changed) when the
  /// runner refused it. `what` says what changed or why not.
  bool reload(config::document file, std::string& what);
  /// Takes a fresh view and publishes it (every second, and after each change).
  void publish();

  const config::pipeline_config& effective() const noexcept { return runner_.config(); }

private:
  /// Applies `next` and, once the runner took it, persists it as the overlay. On a failure the
  /// runner gets the previous configuration back and `error` says why.
  bool apply(overlay next, std::string& error);
  outcome stream_outcome(const std::string& stream);
  outcome subscription_outcome(const std::string& name, http::status status = http::status::ok);

  pipeline::runner& runner_;
  config::document file_;
  overlay overlay_;
  std::filesystem::path overlay_file_;
  board& board_;
  view_maker views_;
};

/// Work the API's thread hands to the main thread. post() from any thread; run_pending() on the
/// main thread, which `wake` (given at construction) interrupts.
class command_queue {
public:
  explicit command_queue(std::function<void()> wake) : wake_(std::move(wake)) {}
  /// Queues `run`; when the queue is closed (the daemon stops), calls `refuse` instead, at once
  /// or for a command still waiting at close().
  void post(std::function<void(control&)> run, std::function<void()> refuse);
  /// Runs every command posted so far.
  void run_pending(control& c);
  /// Refuses what waits and everything posted later.
  void close();

private:
  struct command {
    std::function<void(control&)> run;
    std::function<void()> refuse;
  };
  std::mutex mutex_;
  std::deque<command> commands_;
  std::function<void()> wake_;
  bool closed_ = false;
};

/// An error outcome: {"error": message, "detail": detail}.
outcome error_outcome(http::status status, std::string message, nlohmann::json detail = nullptr);

} // namespace sluice::api
