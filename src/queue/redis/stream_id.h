#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "queue/queue.h"

// How a Redis Stream entry id ("MS-SEQ": the milliseconds of the server's clock and a sequence
// within that millisecond) maps onto queue::position, the same on every sluice instance sharing
// the stream (docs/queue-format.md, "Redis streams"): position = MS << 20 | SEQ. The mapping keeps
// the stream's order, so a sink's idempotence by position holds whichever instance delivers an
// entry. Positions are sparse (they are not 1, 2, 3, ...), never 0.
namespace sluice::queue::redis {

/// Bits of a position that hold the sequence: 1,048,576 entries in one millisecond, far above
/// what one Redis takes (XADD with `*` numbers them from 0 within each millisecond).
inline constexpr unsigned k_seq_bits = 20;
/// Milliseconds fit in the other 44 bits: until the year 2527.
inline constexpr std::uint64_t k_max_ms = (std::uint64_t{1} << (64 - k_seq_bits)) - 1;

/// The position of entry MS-SEQ; nullopt when it has none (SEQ of 2^20 or more, MS past
/// k_max_ms, or 0-0): not an id sluice's XADD makes, so not sluice's entry.
std::optional<position> position_of(std::uint64_t ms, std::uint64_t seq) noexcept;

/// position_of() of an id as Redis writes it ("1700000000000-5"); nullopt for any other text.
std::optional<position> parse_stream_id(std::string_view id) noexcept;

/// The entry id of a position: "MS-SEQ", as XRANGE, XREADGROUP and XACK take it.
std::string stream_id_of(position p);

} // namespace sluice::queue::redis
