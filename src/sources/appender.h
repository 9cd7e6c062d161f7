#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "queue/queue.h"
#include "sources/counters.h"

namespace sluice::sources {

/// Gathers the accepted records of one read as encoded event envelopes (queue/event.h) in one
/// reused buffer, and appends them to the queue in one append() call. Not thread-safe: one per
/// byte stream; add() and flush() may run on different threads one after the other.
class appender {
public:
  appender(queue::queue& q, std::string source, counters& stats);

  /// Encodes one event (source, `type`, empty key, `payload`) into the pending batch.
  void add(std::string_view type, std::string_view payload);

  std::size_t pending() const noexcept { return ends_.size(); }

  /// Appends the pending batch, all with receive time `received_ns`, and clears it. Blocks: the
  /// queue's append blocks at its cap (back-pressure) and fsyncs with fsync = "always". A failed
  /// append is counted, warned about and retried (10 ms doubling to 1 s) until it works, the
  /// queue is closed, or `stopping` becomes true; then the batch is dropped and the error
  /// returned. Call from a thread where blocking is acceptable, never an I/O thread.
  result<queue::append_result> flush(std::int64_t received_ns, const std::atomic<bool>& stopping);

private:
  queue::queue& queue_;
  std::string source_;
  counters& stats_;
  std::string buf_;
  std::vector<std::size_t> ends_;
  std::vector<queue::record_in> records_;
  std::uint64_t payload_bytes_ = 0;
};

} // namespace sluice::sources
