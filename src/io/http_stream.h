#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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
  bool tls = false; ///< https://
  std::string host;
  std::uint16_t port = 80;  ///< 443 by default for https://
  std::string target = "/"; ///< path and query
};

/// Parses "http[s]://host[:port][/path][?query]"; another scheme is errc::unsupported_scheme.
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
  /// The User-Agent header unless `headers` has one; empty: "sluice/VERSION".
  std::string user_agent;
  /// Sends `Accept-Encoding: gzip`. A `Content-Encoding: gzip` body is inflated whatever this says.
  bool gzip = true;
  // https:// only:
  std::string ca_file;     ///< PEM trust anchors; empty: the system's trust store
  std::string client_cert; ///< PEM client certificate, with client_key
  std::string client_key;
  bool insecure = false; ///< no certificate or host name check (warned about at each connect)
};

/// The User-Agent stream requests send when stream_request::user_agent is empty.
std::string default_user_agent();

/// The request's bytes (request line, headers, body).
std::string build_request(const url_parts& url, const stream_request& req);

struct response_head {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers; ///< names lower-cased
  bool chunked = false;
  bool gzip = false; ///< Content-Encoding: gzip
  std::optional<std::uint64_t> content_length;
  /// `Retry-After` in its delta-seconds form (an HTTP-date is ignored).
  std::optional<std::chrono::seconds> retry_after;
  /// Set by stream_once for errc::tls, errc::tls_config and errc::gzip: what failed, for the log,
  /// e.g. "TLS handshake with example.com: certificate verify failed: self-signed certificate".
  std::string failure;
  std::optional<std::string> header(std::string_view name) const;
};

/// Parses a status line and headers (everything before the blank line).
result<response_head> parse_response_head(std::string_view head);

/// Percent-encodes for a query string or form body.
std::string url_encode(std::string_view s);

/// Lets the owner of a stream_once close it from outside (a source switching to a connection with
/// new parameters closes the old one). Use on the stream's executor only.
class stream_stop {
public:
  /// Closes the stream's socket; stream_once then returns errc::closed. Before the socket
  /// exists, stream_once returns errc::closed as soon as it checks.
  void close();
  bool closed() const noexcept { return closed_; }
  /// For stream_once: what close() does while the stream is open.
  void set_closer(std::function<void()> closer) { closer_ = std::move(closer); }

private:
  std::function<void()> closer_;
  bool closed_ = false;
};

/// Connects (over TLS for https://: SNI, the certificate verified against ca_file or the system
/// store and checked against the URL's host, unless insecure), sends `req`, reads the response
/// head into `head` and then streams the body to `on_data` (body bytes, chunked encoding removed,
/// a gzip body inflated) until the server ends it or something fails.
/// Returns errc::http_status for a status other than 200 (with `head` filled), errc::stalled when
/// no byte came within `stall_timeout`, errc::ended when the server ended the stream, errc::tls
/// for a failed handshake (an untrusted certificate included) or TLS error, errc::tls_config
/// when the certificates cannot be loaded, errc::gzip for a corrupt gzip body (`head.failure`
/// says more for these three), errc::closed after `stop->close()`, or the network error. Runs on
/// the caller's executor; `on_data` runs there too. `on_read_end`, when set, runs after the body
/// bytes of each socket read (up to 256 KiB, any number of chunks) were all handed to `on_data`:
/// where a caller hands on what it gathered, once per read rather than once per chunk.
boost::asio::awaitable<result<void>>
stream_once(const stream_request& req, std::chrono::nanoseconds stall_timeout, response_head& head,
            std::function<void(std::string_view)> on_data,
            std::shared_ptr<stream_stop> stop = nullptr, std::function<void()> on_read_end = {});

} // namespace sluice::io
