#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "queue/queue.h"
#include "queue/redis/redis_queue.h"

// The seeds' reliable queue on Redis lists (`[queue] backend = "redis-list"`), for the consumers
// written for it: every record's payload is LPUSHed onto the work list (the `stream` option's
// key), oldest at the tail. A consumer moves an item into its own busy list (LMOVE work -> busy),
// and removes it from there (LREM) only once its sink confirmed it; a consumer whose heartbeat
// key expired has its busy items given back to the work list, oldest first, by any other. Every
// consumer and every subscription of the list share its items: a work list is consumed, not
// replayed. Positions are handed out at read time from a counter in Redis (KEY:seq): unique and
// increasing, but an item read again gets a new one. See docs/redis.md, "The list backend".
namespace sluice::queue::redis {

/// Opens the work list `opts.stream` on `opts.at` (errors as redis::open).
result<std::unique_ptr<queue>> open_list(const options& opts, std::string* error_detail);

/// The keys beside the work list: KEY:busy:CONSUMER, KEY:alive:CONSUMER, KEY:seq.
std::string busy_key(const options& opts, std::string_view consumer);
std::string alive_key(const options& opts, std::string_view consumer);

} // namespace sluice::queue::redis
