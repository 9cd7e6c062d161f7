#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// Where a Redis server is: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (a host in brackets for
/// IPv6), or the primary Redis Sentinel names:
/// `redis-sentinel://[[USER]:PASSWORD@]HOST[:PORT],HOST[:PORT]/MASTER[/DB]` (sentinels on port
/// 26379 unless given; the credentials and DB are the primary's). Shared by the configuration's
/// checks and the Redis client (io/redis.h).
struct redis_endpoint {
  struct address {
    std::string host;
    std::uint16_t port = 0;
    bool operator==(const address&) const = default;
  };
  std::vector<address> sentinels; ///< empty: `host` and `port` are the server
  std::string master;             ///< the name the sentinels know the primary by
  std::string host;
  std::uint16_t port = 6379;
  int db = 0;
  std::string user;     ///< ACL user ("" with a password: the default user)
  std::string password; ///< "": no AUTH
  bool operator==(const redis_endpoint&) const = default;
};

/// Parses a redis:// or redis-sentinel:// URL (user and password percent-decoded); nullopt when it
/// is not one.
std::optional<redis_endpoint> parse_redis_url(std::string_view url);

} // namespace sluice
