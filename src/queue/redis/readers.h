#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "io/redis_link.h"
#include "queue/queue.h"
#include "queue/redis/redis_queue.h"

// The Redis backend's readers: a plain reader follows the stream with XREAD; a subscription is
// this instance's consumer in the group of its name (XREADGROUP, XACK, XCLAIM). Each has its own
// connection, for the one thread that reads it.
namespace sluice::queue::redis {

/// What the readers share with their queue, and keep while they live (a tool may drop the
/// queue and go on reading): its options and counters, and the highest position any of them saw
/// (which raises the queue's durable watermark: whatever Redis holds is safe).
struct queue_state {
  queue_state(options o, position last) : opts(std::move(o)), seen(last) {}
  const options opts;
  queue_stats stats;
  std::atomic<position> seen;
};
using reader_context = std::shared_ptr<queue_state>;

result<std::unique_ptr<reader>> open_stream_reader(reader_context ctx, start_at start);

/// Opens the group `name` (created at `start` when it does not exist) for this instance's
/// consumer. Its first reads hand back what this consumer had read but not acknowledged before
/// (a restart), then new entries; entries idle on another consumer past claim_idle are taken
/// over, and one delivered more than max_deliveries times goes to the dead-letter stream.
result<std::unique_ptr<subscription>>
open_group_subscription(reader_context ctx, std::string_view name, start_at start);

// Shared by the readers.
/// Raises `seen` to `p` when it is below.
void raise_seen(std::atomic<position>& seen, position p) noexcept;
/// The words of an XREAD or XREADGROUP: `head` (up to COUNT n), then BLOCK (when it may wait
/// `wait`; short of the connection's `timeout`), then STREAMS `stream` `id`. `block` holds the
/// BLOCK number the words point to.
std::vector<std::string_view> read_words(std::initializer_list<std::string_view> head,
                                         std::string& block, std::chrono::milliseconds wait,
                                         std::chrono::milliseconds timeout, std::string_view stream,
                                         std::string_view id);
/// How every read() begins: `out` cleared, errc::closed once `interrupted`, then link.get(), or,
/// while Redis is away, the back-off waited out (at most `wait`, interruptibly) and the failure.
result<io::redis::connection*> start_read(batch& out, io::redis::link& link,
                                          const std::atomic<bool>& interrupted,
                                          std::chrono::milliseconds wait);

} // namespace sluice::queue::redis
