#pragma once

#include <optional>
#include <string>

#include "api/control.h"
#include "api/server.h"
#include "api/view.h"

namespace sluice::api {

/// What the routes need. The board and the command queue outlive the server.
struct route_context {
  board* views = nullptr;
  command_queue* commands = nullptr;
  const server_stats* stats = nullptr;
  /// The bearer token; nullopt: none configured (changes open to loopback and Unix clients).
  std::optional<std::string> token;
  std::string host;
  int pid = 0;
};

/// Handles one request (the server's handler): reading routes answer at once from the latest
/// view; changing routes check the token and run on the main thread through the command queue.
void handle_request(const route_context& ctx, exchange& ex, std::function<void(response)> reply);

} // namespace sluice::api
