#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/control.h"
#include "api/routes.h"
#include "api/server.h"
#include "api/view.h"
#include "metrics/graphite.h"

namespace sluice::api {

/// The daemon's API side as `sluice run` holds it: the HTTP server, the views it reads, the
/// commands it hands to the main thread, and the Graphite reporter. The server starts before
/// the pipeline (so /readyz says "starting"); attach() gives it the running pipeline.
class service {
public:
  /// Starts the server on cfg.api.listen (none when empty) and writes the bound addresses to
  /// DATA_DIR/api.address. `wake` interrupts the main thread's wait (a command is waiting). An
  /// address the file set that cannot be bound, or an unusable token file, is an error in
  /// `error`; the default address in use is a warning and no API.
  static result<std::unique_ptr<service>> start(const config::pipeline_config& cfg,
                                                std::function<void()> wake, std::string& error);
  ~service(); ///< stop()

  /// The pipeline runs: changes go to `r` through a control of the file and the overlay.
  /// Main thread.
  void attach(pipeline::runner& r, config::document file, overlay o);
  /// Runs the waiting commands, and publishes a new view when a second passed. Main thread.
  void tick();
  /// The addresses the API listens on ("127.0.0.1:4711", "unix:/path"); empty: no API.
  const std::vector<std::string>& addresses() const noexcept { return addresses_; }
  /// The control (after attach()), for HUP; main thread.
  api::control* control() noexcept { return control_.get(); }
  /// Stopping: /readyz answers 503 and changes are refused from now on.
  void draining();
  /// Stops the Graphite reporter and the server, and removes DATA_DIR/api.address. Idempotent.
  void stop();

private:
  service() = default;
  board board_;
  std::unique_ptr<command_queue> commands_;
  route_context routes_;
  std::unique_ptr<server> server_;
  std::filesystem::path address_file_; ///< DATA_DIR/api.address
  std::vector<std::string> addresses_;
  std::unique_ptr<api::control> control_;
  boost::asio::io_context graphite_io_;
  std::unique_ptr<metrics::graphite_reporter> graphite_;
  std::thread graphite_thread_;
  std::chrono::steady_clock::time_point next_publish_{};
};

} // namespace sluice::api
