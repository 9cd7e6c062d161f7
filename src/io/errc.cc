#include "io/errc.h"

#include <string>

namespace sluice::io {
namespace {

class category final : public std::error_category {
public:
  const char* name() const noexcept override { return "io"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
    case errc::ok:
      return "ok";
    case errc::bad_url:
      return "malformed URL";
    case errc::unsupported_scheme:
      return "unsupported URL scheme (http:// or https://)";
    case errc::http_status:
      return "HTTP status other than 200";
    case errc::protocol:
      return "malformed HTTP response";
    case errc::stalled:
      return "stream stalled (no data within the stall timeout)";
    case errc::ended:
      return "the server ended the stream";
    case errc::tls:
      return "TLS failure";
    case errc::tls_config:
      return "TLS configuration cannot be loaded";
    case errc::gzip:
      return "corrupt gzip stream";
    case errc::closed:
      return "closed by its owner";
    case errc::redis_protocol:
      return "malformed answer from the Redis server";
    case errc::redis_refused:
      return "the Redis server refused AUTH or SELECT";
    case errc::redis_no_primary:
      return "no Redis Sentinel named a reachable primary";
    case errc::backing_off:
      return "not connected (waiting before the next attempt)";
    }
    return "unknown io error";
  }
};

} // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

} // namespace sluice::io
