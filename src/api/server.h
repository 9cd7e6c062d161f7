#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "base/result.h"
#include "io/asio.h"

namespace sluice::api {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

/// Why the server refused a connection or a request, for `sluice_api_refused_total{reason}`.
enum class refusal : std::uint8_t {
  max_connections,  ///< a connection past max_connections, answered 503 and closed
  rate_limited,     ///< a request past request_rate, answered 429
  header_too_large, ///< 431
  body_too_large,   ///< 413
  timeout,          ///< a request that did not arrive whole within request_timeout: 408
  bad_request,      ///< unparseable HTTP: 400
};
inline constexpr std::size_t k_refusal_count = 6;
std::string_view refusal_name(refusal r) noexcept;

/// What the server counts; any thread may read.
struct server_stats {
  std::atomic<std::uint64_t> connections{0};      ///< accepted
  std::atomic<std::uint64_t> open_connections{0}; ///< held now
  std::atomic<std::uint64_t> requests{0};         ///< handed to the handler
  std::array<std::atomic<std::uint64_t>, k_refusal_count> refused{};
  std::uint64_t refused_by(refusal r) const noexcept {
    return refused[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }
};

struct server_options {
  std::vector<std::string> listen; ///< "HOST:PORT" or "unix:PATH"
  std::size_t max_connections = 4096;
  std::uint64_t max_header_bytes = 16 << 10;
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint32_t request_rate = 200; ///< per connection per second; 0: no limit
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::nanoseconds request_timeout = std::chrono::seconds(10);
};

/// A request as the handler sees it. `trusted`: the peer is on loopback or a Unix socket.
struct exchange {
  request req;
  bool trusted = false;
};

/// Called on the server's thread for each request; it must call `reply` exactly once, from any
/// thread, at any later time (a change runs on the daemon's main thread and replies from
/// there). It must not block.
using handler = std::function<void(exchange&, std::function<void(response)> reply)>;

/// An HTTP/1.1 server (Boost.Beast) on TCP and Unix sockets, on one thread of its own: keep-alive
/// connections, limits on header and body size, a per-connection request rate, idle and
/// request timeouts, and a cap on connections held; each refusal is answered in JSON where the
/// connection allows it, and counted. A slow or idle client holds only its own connection.
class server {
public:
  server(server_options opts, handler h);
  ~server(); ///< stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds every address (a stale Unix socket file is replaced) and starts the thread. Returns
  /// the addresses bound ("127.0.0.1:41234", "unix:/path"); on failure `error` names the address
  /// and why, and nothing runs.
  result<std::vector<std::string>> start(std::string& error);
  /// Closes the listeners and every connection and joins the thread. Idempotent.
  void stop();

  const server_stats& stats() const noexcept { return stats_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  server_stats stats_;
};

/// How a bound address (server::start) is written for a person: "http://127.0.0.1:41234", or
/// "unix:/path" as it is.
std::string address_url(std::string_view bound);

/// A JSON error response: {"error": message, "detail": detail} (detail omitted when null).
response error_response(http::status status, std::string_view message,
                        std::string_view detail_json = "null", unsigned version = 11);
/// A response with a JSON body.
response json_response(http::status status, std::string body, unsigned version = 11);

} // namespace sluice::api
