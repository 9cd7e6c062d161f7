#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "io/asio.h"
#include "io/errc.h"

namespace sluice::io {

struct url_parts {
  std::string host;
  std::uint16_t port = 80;
  std::string target = "/"; ///< path and query
};

/// Parses "http://host[:port][/path][?query]". https:// is errc::unsupported_scheme for now.
result<url_parts> parse_url(std::string_view url);

/// A long-lived streaming request (Twitter-style filter streams).
struct stream_request {
  std::string url;
  bool post = false; ///< POST with the params form-encoded in the body; GET puts them in the query
  /// Values of one parameter are joined with commas, as the streaming APIs expect.
  std::vector<std::pair<std::string, std::vector<std::string>>> params;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::pair<std::string, std::string>> basic_auth; ///< user, password
  std::optional<std::string> bearer;
  std::string user_agent = "sluice/0.1";
};

/// The request's bytes (request line, headers, body).
std::string build_request(const url_parts& url, const stream_request& req);

struct response_head {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers; ///< names lower-cased
  bool chunked = false;
  std::optional<std::uint64_t> content_length;
  std::optional<std::string> header(std::string_view name) const;
};

/// Parses a status line and headers (everything before the blank line).
result<response_head> parse_response_head(std::string_view head);

/// Percent-encodes for a query string or form body.
std::string url_encode(std::string_view s);

/// Connects, sends `req`, reads the response head into `head` and then streams the body to
/// `on_data` (body bytes, chunked encoding removed) until the server ends it or something fails.
/// Returns errc::http_status for a status other than 200 (with `head` filled), errc::stalled when
/// no byte came within `stall_timeout`, errc::ended when the server ended the stream, or the
/// network error. Runs on the caller's executor; `on_data` runs there too.
boost::asio::awaitable<result<void>> stream_once(const stream_request& req,
                                                 std::chrono::nanoseconds stall_timeout,
                                                 response_head& head,
                                                 std::function<void(std::string_view)> on_data);

} // namespace sluice::io
