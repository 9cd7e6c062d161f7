#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "io/redis.h"
#include "queue/queue.h"

// Consumer groups as subscriptions: what the queue, its subscriptions and the tools ask Redis
// about them. Every function runs its commands on `c` and blocks on the answers.
namespace sluice::queue::redis {

/// A Redis error answer as an error code: errc::not_found for NOGROUP, errc::not_primary for
/// READONLY (a failover made the server a replica: the connection must find the primary again),
/// errc::write_failed for every other (OOM, ...); the text goes to the caller's warning.
std::error_code error_of(const io::redis::reply& r);

/// One command on `c`; an error answer is a failure too (error_of).
result<io::redis::reply> ask(io::redis::connection& c, std::span<const std::string_view> words);
inline result<io::redis::reply> ask(io::redis::connection& c,
                                    std::initializer_list<std::string_view> words) {
  return ask(c, std::span<const std::string_view>(words.begin(), words.size()));
}

/// What a group says of itself (XINFO GROUPS and XPENDING).
struct group_state {
  std::string name;
  position last_delivered = 0;      ///< the last entry handed to any consumer
  std::uint64_t pending = 0;        ///< handed out, not acknowledged
  position first_pending = 0;       ///< the oldest of those (0 when none)
  position before_pending = 0;      ///< the entry before that one (0 when none or no pending)
  std::optional<std::uint64_t> lag; ///< entries not yet handed out (Redis 7; unknown after
                                    ///< trimming or deletions)
  /// Every entry at or before it is done: just before the oldest pending one, else the last
  /// delivered.
  position committed() const noexcept {
    return first_pending != 0 ? before_pending : last_delivered;
  }
};

/// Every group of `stream` (none when the stream does not exist).
result<std::vector<group_state>> list_groups(io::redis::connection& c, std::string_view stream);

/// The group called `name`, nullopt when it does not exist.
result<std::optional<group_state>> find_group(io::redis::connection& c, std::string_view stream,
                                              std::string_view name);

/// Creates group `name` so that its next entry is the first after `after` (0: the stream's
/// beginning), creating the stream if needed. Success when it exists already (BUSYGROUP).
result<void> create_group(io::redis::connection& c, std::string_view stream, std::string_view name,
                          position after);

/// Moves group `name` (which exists) so that its next entry is the first after `after`, telling
/// Redis how many entries that passes so that it can go on counting the group's lag.
result<void> move_group(io::redis::connection& c, std::string_view stream, std::string_view name,
                        position after);

/// Where `start` says a new group begins: after 0, after the stream's last entry (end), or
/// before position p.
result<position> start_after(io::redis::connection& c, std::string_view stream, start_at start);

/// The stream's last entry id as a position (last-generated-id; 0 for an empty or missing stream),
/// its length and its first entry's position (0 when empty).
struct stream_state {
  position last = 0;
  position first = 0;
  std::uint64_t length = 0;
  std::uint64_t added = 0; ///< entries ever added (Redis 7)
};
result<stream_state> stream_info(io::redis::connection& c, std::string_view stream);

} // namespace sluice::queue::redis
