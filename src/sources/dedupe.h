#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <simdjson.h>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "queue/queue.h"

/// Duplicate suppression for streams that overlap: a backfill after a reconnect (the API resends
/// the last N events), or two connections open at once while a stream's parameters change.
///
/// An event's dedupe key is the value of its `dedupe_field` (a string as it is, a number as its
/// JSON text) or, for an event without that field (delete and limit notices, say), a 128-bit
/// hash of its exact bytes; a key over 64 bytes is hashed too, so the window's memory is bounded.
namespace sluice::sources {

/// The keys of the most recent events of one source, at most `capacity` of them: a bounded FIFO
/// with a hash index. Not thread-safe (one per source, used on its intake path).
class dedupe_window {
public:
  explicit dedupe_window(std::size_t capacity) : capacity_(capacity) {}
  dedupe_window(const dedupe_window&) = delete;
  dedupe_window& operator=(const dedupe_window&) = delete;

  bool contains(std::string_view key) const { return index_.contains(key); }
  /// Remembers `key`, forgetting the oldest beyond the capacity. A key already held is not added
  /// twice.
  void add(std::string_view key);
  /// contains() then add(): true when `key` was new.
  bool insert(std::string_view key);
  std::size_t size() const noexcept { return order_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

private:
  std::size_t capacity_;
  std::deque<std::string> order_;              ///< oldest first; elements never move
  std::unordered_set<std::string_view> index_; ///< views of order_'s strings
};

/// "user.id" -> {"user", "id"}; "" -> {}.
std::vector<std::string> split_field_path(std::string_view field);

/// The value at `path` in `doc`, as a dedupe key, into `key`; false when `doc` lacks it (or it
/// is neither a string nor a number).
bool field_key(simdjson::dom::element doc, const std::vector<std::string>& path, std::string& key);

/// The key of an event identified by its bytes (or of an over-long field value): a marker byte
/// and a 128-bit hash.
void content_key(std::string_view bytes, std::string& key);

/// Computes dedupe keys of records given as text (the queue's, when seeding a window).
class key_extractor {
public:
  explicit key_extractor(std::string_view field) : path_(split_field_path(field)) {}
  /// The value at the field, as it is: false when `record` is not a JSON object with it.
  bool extract(std::string_view record, std::string& id);
  /// The dedupe key of `record`: its field's value, or its content key.
  void key(std::string_view record, std::string& key);

private:
  std::vector<std::string> path_;
  simdjson::dom::parser parser_;
  std::string padded_;
};

/// Fills `window` with the keys of the last events `source` appended to the queue: the window is
/// the queue's own content, so after a crash it holds exactly the events that became durable,
/// no more and no fewer. Reads at most `scan_records` records back from the durable watermark
/// (other sources' records count too). Returns how many keys it added.
result<std::size_t> seed_from_queue(dedupe_window& window, queue::queue& q, std::string_view source,
                                    key_extractor& keys, std::uint64_t scan_records);

} // namespace sluice::sources
