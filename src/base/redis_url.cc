#include "base/redis_url.h"

#include <charconv>

#include "base/url.h"

namespace sluice {
namespace {

constexpr std::string_view k_scheme = "redis://";
constexpr std::string_view k_sentinel_scheme = "redis-sentinel://";

template <class T> bool number(std::string_view s, T& into) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), into);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

/// HOST[:PORT] or [V6]:PORT into `host` and `port` (left as it is without one).
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view port_text;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return false;
    host = std::string(text.substr(1, close - 1));
    text.remove_prefix(close + 1);
    if (text.starts_with(':'))
      port_text = text.substr(1);
    else if (!text.empty())
      return false;
  } else {
    auto colon = text.find(':');
    host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos)
      port_text = text.substr(colon + 1);
  }
  if (host.empty())
    return false;
  return port_text.empty() || (number(port_text, port) && port != 0);
}

} // namespace

std::optional<redis_endpoint> parse_redis_url(std::string_view url) {
  const bool sentinel = url.starts_with(k_sentinel_scheme);
  if (!sentinel && !url.starts_with(k_scheme))
    return std::nullopt;
  url.remove_prefix(sentinel ? k_sentinel_scheme.size() : k_scheme.size());
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
  std::string_view path;
  if (auto slash = url.find('/'); slash != std::string_view::npos) {
    path = url.substr(slash + 1);
    url = url.substr(0, slash);
  }
  if (sentinel) {
    // HOST:PORT,HOST:PORT/MASTER[/DB]
    for (;;) {
      auto comma = url.find(',');
      redis_endpoint::address a{.port = 26379};
      if (!parse_host_port(url.substr(0, comma), a.host, a.port))
        return std::nullopt;
      e.sentinels.push_back(std::move(a));
      if (comma == std::string_view::npos)
        break;
      url.remove_prefix(comma + 1);
    }
    auto slash = path.find('/');
    e.master = std::string(path.substr(0, slash));
    if (e.master.empty())
      return std::nullopt;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  } else if (!parse_host_port(url, e.host, e.port)) {
    return std::nullopt;
  }
  if (!path.empty() && (!number(path, e.db) || e.db < 0))
    return std::nullopt;
  return e;
}

} // namespace sluice
