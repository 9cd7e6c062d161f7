#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/redis.h"
#include "queue/queue.h"

// How a record is a Redis Stream entry (docs/queue-format.md, "Redis streams"): two fields, `t`
// (the receive time, decimal nanoseconds) and `r` (the record's bytes as appended). Anything else
// in the stream is not sluice's: it is skipped and counted, never delivered.
namespace sluice::queue::redis {

inline constexpr std::string_view k_time_field = "t";
inline constexpr std::string_view k_record_field = "r";

/// The words of one XADD of `rec` (received at `received_ns`) to `stream`. `words` and `scratch`
/// are reused buffers; the words point into them and into `rec`.
void xadd_words(std::vector<std::string_view>& words, std::string& scratch, std::string_view stream,
                std::int64_t received_ns, const record_in& rec);

/// What parse_entries() found besides records.
struct parsed_entries {
  std::uint64_t foreign = 0;         ///< entries without sluice's fields (or with a foreign id)
  std::vector<std::string> skip_ids; ///< their ids, and deleted entries' ids: to acknowledge
};

/// Appends the entries of an XRANGE-style array (each [id, [field, value, ...]]) to `out` as
/// records pointing into `entries`, which must outlive them. A deleted entry (nil fields, in a
/// pending list) and a foreign one go to `found` instead.
void parse_entries(const io::redis::reply& entries, batch& out, parsed_entries& found);

/// The entries array of one stream in an XREAD/XREADGROUP reply ([[stream, entries]]), or nullptr
/// when the reply holds none (nil: nothing new).
const io::redis::reply* stream_entries(const io::redis::reply& r);

} // namespace sluice::queue::redis
