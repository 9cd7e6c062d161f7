#pragma once

#include <system_error>

namespace sluice::io {

/// Why a stream connection ended. Network failures from the OS come as system or Asio codes.
enum class errc {
  ok = 0,
  bad_url = 1,        ///< the URL does not parse
  unsupported_scheme, ///< neither http:// nor https://
  http_status,        ///< the server answered with a status other than 200
  protocol,           ///< a malformed response head or chunked body
  stalled,            ///< no byte, not even a keep-alive, within the stall timeout
  ended,              ///< the server ended the response
  tls,                ///< TLS handshake or record failure, certificate verification included
                      ///< (network class; response_head::failure names the host and reason)
  tls_config,         ///< ca_file, client_cert or client_key cannot be loaded (a setup error)
  gzip,               ///< a corrupt gzip body (network class)
  closed,             ///< closed by its owner through a stream_stop
  redis_protocol,     ///< a Redis server's answer that does not parse
  redis_refused,      ///< a Redis server refused the connection's AUTH or SELECT
  backing_off,        ///< not connected: waiting out the back-off before the next attempt
  redis_no_primary,   ///< no sentinel named a primary that answers as one
};

const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace sluice::io

template <> struct std::is_error_code_enum<sluice::io::errc> : true_type {};
