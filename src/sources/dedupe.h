#pragma once

#include <cstddef>
#include <cstdint>
#include <simdjson.h>
#include <string>
#include <string_view>
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

/// The keys of the most recent events of one source, at most `capacity` of them: a ring of
/// fixed-size key slots (oldest first) with an open-addressing index (linear probing, deletion by
/// backward shift), so that a lookup is one hash and, mostly, one cache line, with no allocation
/// per key. Memory grows with the keys held, to about 72 bytes a key plus 16 of index. Not
/// thread-safe (one per source, used on its intake path).
class dedupe_window {
public:
  /// Keys are at most this long: field_key() and content_key() make no longer ones.
  static constexpr std::size_t k_max_key = 64;

  explicit dedupe_window(std::size_t capacity) : capacity_(capacity) {}
  dedupe_window(const dedupe_window&) = delete;
  dedupe_window& operator=(const dedupe_window&) = delete;

  bool contains(std::string_view key) const;
  /// Remembers `key`, forgetting the oldest beyond the capacity. A key already held is not added
  /// twice.
  void add(std::string_view key);
  /// contains() then add(): true when `key` was new.
  bool insert(std::string_view key);
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }

private:
  struct entry {
    std::uint32_t hash;
    std::uint8_t length;
    char bytes[k_max_key];
  };
  struct slot {
    std::uint32_t hash = 0;
    std::uint32_t ring = 0; ///< the key's ring index + 1; 0: empty
  };

  static std::uint32_t hash_of(std::string_view key) noexcept;
  bool same(const entry& e, std::uint32_t h, std::string_view key) const noexcept;
  /// contains() for a key of at most k_max_key bytes whose hash_of() is `h`.
  bool holds(std::string_view key, std::uint32_t h) const noexcept;
  /// The index slot holding ring entry `ring` (0-based).
  std::size_t slot_of(std::uint32_t ring) const noexcept;
  void place(std::uint32_t h, std::uint32_t ring) noexcept;
  void erase_slot(std::size_t i) noexcept;
  void grow();

  std::size_t capacity_;
  std::vector<entry> ring_; ///< grows up to capacity_, then reused in order
  std::size_t oldest_ = 0;  ///< ring index of the oldest key, once the ring is full
  std::size_t size_ = 0;
  std::vector<slot> index_; ///< a power of two, at least twice size_
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
