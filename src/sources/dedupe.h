#pragma once

#include <cstddef>
#include <deque>
#include <simdjson.h>
#include <string>
#include <string_view>
#include <unordered_set>

#include "base/result.h"
#include "queue/queue.h"

/// Duplicate suppression for streams that overlap: a backfill after a reconnect (the API resends
/// the last N events), or two connections open at once while a stream's parameters change.
namespace sluice::sources {

/// The ids of the most recent events of one source, at most `capacity` of them: a bounded FIFO
/// with a hash index. Not thread-safe (one per source, used on its intake path).
class dedupe_window {
public:
  explicit dedupe_window(std::size_t capacity) : capacity_(capacity) {}

  bool contains(std::string_view id) const { return index_.contains(std::string(id)); }
  /// Remembers `id`, forgetting the oldest beyond the capacity. An id already held is not added
  /// twice.
  void add(std::string_view id);
  /// contains() then add(): true when `id` was new.
  bool insert(std::string_view id);
  std::size_t size() const noexcept { return order_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

private:
  std::size_t capacity_;
  std::deque<std::string> order_;
  std::unordered_set<std::string> index_;
};

/// Reads the value at `field` ("id_str", or a dotted path "user.id") of a JSON object: a string
/// as it is, a number as its JSON text. False when the record is not an object or lacks the
/// field (such events are never deduplicated: delete and limit notices, say).
class id_extractor {
public:
  explicit id_extractor(std::string field);
  bool extract(std::string_view record, std::string& id);

private:
  std::vector<std::string> path_;
  simdjson::dom::parser parser_;
  std::string padded_;
};

/// Fills `window` with the ids of the last events `source` appended to the queue: the window is
/// the queue's own content, so after a crash it holds exactly the events that became durable,
/// no more and no fewer. Reads at most `scan_records` records back from the durable watermark
/// (other sources' records count too). Returns how many ids it added.
result<std::size_t> seed_from_queue(dedupe_window& window, queue::queue& q, std::string_view source,
                                    id_extractor& ids, std::uint64_t scan_records);

} // namespace sluice::sources
