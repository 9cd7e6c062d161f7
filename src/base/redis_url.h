#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

/// Where a Redis server is: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (a host in brackets for
/// IPv6). Shared by the configuration's checks and the Redis client (io/redis.h).
struct redis_endpoint {
  std::string host;
  std::uint16_t port = 6379;
  int db = 0;
  std::string user;     ///< ACL user ("" with a password: the default user)
  std::string password; ///< "": no AUTH
  bool operator==(const redis_endpoint&) const = default;
};

/// Parses a redis:// URL (user and password percent-decoded); nullopt when it is not one.
std::optional<redis_endpoint> parse_redis_url(std::string_view url);

} // namespace sluice
