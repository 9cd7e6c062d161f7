#pragma once

// A blocking HTTP/1.1 client of sluice's control API (the [api] listener of `sluice run`), for
// `sluice ctl` and `sluice console`.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sluice::cli {

/// Where the API listens.
struct api_endpoint {
  std::string host;        ///< TCP host name or address (without "[]"); empty for a Unix socket
  std::uint16_t port = 0;  ///< TCP port
  std::string socket_path; ///< the Unix socket; empty for TCP
  std::string url;         ///< as given, for messages
};

/// The API's address when --url is not given.
inline constexpr std::string_view k_default_api_url = "http://127.0.0.1:4711";

/// Parses "http://HOST[:PORT][/]" (port 80 when omitted) or "unix:/PATH" (HTTP over a Unix
/// socket). Nothing, with `error` saying why, for anything else.
std::optional<api_endpoint> parse_api_url(std::string_view url, std::string& error);

/// The token file to use when --token-file is not given: $SLUICE_TOKEN_FILE when set, else
/// ./sluice-data/api.token when it exists; "" when neither (requests then go without a token).
std::string default_token_file();

/// The token in `path`, trailing whitespace removed. An error (with `error` in words) when the
/// file cannot be read or holds no token.
result<std::string> read_token_file(const std::string& path, std::string& error);

/// `text` percent-encoded for a query value or a path segment: everything but the unreserved
/// characters A-Z a-z 0-9 - . _ ~ becomes %XX.
std::string url_encode(std::string_view text);

/// A whole reply of the API.
struct api_reply {
  unsigned status = 0; ///< the HTTP status
  std::string body;    ///< JSON, as received
};

/// Sends requests to one API endpoint, one connection per request (the API is for commands, not
/// throughput). Immutable once built: send() may be called from any thread.
class api_client {
public:
  /// `token` goes in an `Authorization: Bearer` header of every request when not empty.
  api_client(api_endpoint endpoint, std::string token, std::chrono::milliseconds timeout);

  /// Sends `method` `target` (e.g. "GET", "/meta.json") with `body` as JSON when not empty, and
  /// blocks until the whole reply came or the timeout passed. A reply of any status is a value;
  /// an error (with `error` in plain words, e.g. "connection refused") when none came: the
  /// connection was refused or failed, the reply was cut short or malformed, or it timed out
  /// (std::errc::timed_out).
  result<api_reply> send(std::string_view method, std::string_view target, std::string_view body,
                         std::string& error) const;

  /// The same client with another timeout (the console asks for names with a short one).
  api_client with_timeout(std::chrono::milliseconds timeout) const;

  const api_endpoint& endpoint() const { return endpoint_; }
  bool has_token() const { return !token_.empty(); }
  std::chrono::milliseconds timeout() const { return timeout_; }

private:
  result<api_reply> send_once(std::string_view method, std::string_view target,
                              std::string_view body, std::string& error) const;

  api_endpoint endpoint_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

} // namespace sluice::cli
