#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "queue/queue.h"

namespace sluice::queue {

/// An event as the pipeline sees it: a queue record whose payload carries the event's envelope
/// (source, type, routing key) before the bytes as received. Views point into the record's
/// payload and live as long as it does.
struct event_view {
  position id = 0; ///< the queue position
  std::int64_t received_ns = 0;
  std::string_view source;
  std::string_view type;
  std::string_view key;     ///< routing key, may be empty
  std::string_view payload; ///< the event as received (usually one JSON object)
  bool unordered = false;   ///< see queue::record::unordered
};

/// Envelope layout (little-endian), specified in docs/queue-format.md:
/// 0 2 marker 0x00 0x45 ("\0E": a received line never starts with NUL)
/// 2 1 envelope version (1)
/// 3 1 source length S, 4 1 type length T, 5 2 key length K
/// 7 S source, T type, K key, then the payload.
inline constexpr std::size_t k_event_header_bytes = 7;

/// Bytes encode_event writes. Source and type are at most 255 bytes, the key at most 65535.
inline std::size_t encoded_event_size(std::string_view source, std::string_view type,
                                      std::string_view key, std::string_view payload) noexcept {
  return k_event_header_bytes + source.size() + type.size() + key.size() + payload.size();
}

/// Writes the envelope and payload to `out` (encoded_event_size bytes). Longer source, type or
/// key are cut to their limits.
void encode_event(char* out, std::string_view source, std::string_view type, std::string_view key,
                  std::string_view payload) noexcept;

/// Appends the encoding to `out`.
void encode_event(std::string& out, std::string_view source, std::string_view type,
                  std::string_view key, std::string_view payload);

/// Reads a record as an event. A record without an envelope (appended by `sluice queue append`)
/// is an event of type "event" with no source; a damaged envelope is errc::corrupt.
result<event_view> decode_event(const record& r) noexcept;

} // namespace sluice::queue
