#include "base/redis_url.h"

#include <charconv>

#include "base/url.h"

namespace sluice {

namespace {
constexpr std::string_view k_scheme = "redis://";
} // namespace

std::optional<redis_endpoint> parse_redis_url(std::string_view url) {
  if (!url.starts_with(k_scheme))
    return std::nullopt;
  url.remove_prefix(k_scheme.size());
  redis_endpoint e;
  if (auto at = url.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = url.substr(0, at);
    url.remove_prefix(at + 1);
    auto colon = userinfo.find(':');
    auto user = url_decode(userinfo.substr(0, colon));
    auto pass = url_decode(colon == std::string_view::npos ? "" : userinfo.substr(colon + 1));
    if (!user || !pass || colon == std::string_view::npos)
      return std::nullopt;
    e.user = *user;
    e.password = *pass;
  }
  std::string_view db;
  if (auto slash = url.find('/'); slash != std::string_view::npos) {
    db = url.substr(slash + 1);
    url = url.substr(0, slash);
  }
  std::string_view port;
  if (url.starts_with('[')) { // [v6]:port
    auto close = url.find(']');
    if (close == std::string_view::npos)
      return std::nullopt;
    e.host = std::string(url.substr(1, close - 1));
    url.remove_prefix(close + 1);
    if (url.starts_with(':'))
      port = url.substr(1);
    else if (!url.empty())
      return std::nullopt;
  } else {
    auto colon = url.find(':');
    e.host = std::string(url.substr(0, colon));
    if (colon != std::string_view::npos)
      port = url.substr(colon + 1);
  }
  if (e.host.empty())
    return std::nullopt;
  auto number = [](std::string_view s, auto& into) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), into);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size();
  };
  if (!port.empty() && (!number(port, e.port) || e.port == 0))
    return std::nullopt;
  if (!db.empty() && (!number(db, e.db) || e.db < 0))
    return std::nullopt;
  return e;
}

} // namespace sluice
