#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config/option_values.h"
#include "io/http_stream.h"
#include "io/reconnect_policy.h"

/// Each source type's own settings, read from the values its option table (config/
/// tables_sources.cc) validated: the configuration holds them as config::option_values, and only
/// the source that uses them knows their shape.
namespace sluice::sources {

/// A [sources.NAME.reconnect] table as the reconnection policy takes it.
io::reconnect_settings reconnect_settings_of(const config::option_values& reconnect);

/// type = "http".
struct http_settings {
  io::stream_request request; ///< url, method, params, headers, auth, user_agent, gzip, TLS
  std::chrono::nanoseconds stall_timeout{0};
  std::uint64_t backfill = 0;   ///< count=-N on every connection; 0: none
  std::string dedupe_field;     ///< empty: no duplicate suppression
  std::uint64_t dedupe_window = 0;
  std::chrono::nanoseconds change_debounce{0};
  io::reconnect_settings reconnect;

  static http_settings of(const config::option_values& v);
};

/// type = "tcp" (HOST:PORT) or "unix" (a socket path): where a client source connects.
struct client_settings {
  std::string target; ///< "tcp://HOST:PORT" or "unix:PATH", for messages
  std::string address;
  bool unix_socket = false;
  io::reconnect_settings reconnect;

  static client_settings of(const config::option_values& v);
};

/// type = "listen": the endpoints pushers connect to, and whether each record is acknowledged.
struct listen_settings {
  struct endpoint {
    bool unix_socket = false;
    std::string address; ///< HOST:PORT, or the socket's path
  };
  std::vector<endpoint> endpoints;
  bool ack = false;

  static listen_settings of(const config::option_values& v);
};

} // namespace sluice::sources
