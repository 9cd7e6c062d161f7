#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/json_string.h"
#include "queue/event.h"

/// Text formats the file sinks write: JSON strings, RFC 3339 times, the eventlog envelope.
/// Every function appends to a caller-owned string and allocates only when it must grow.
namespace sluice::sinks::envelope {

/// Whether the eventlog embeds `payload` as raw JSON: after trimming JSON whitespace it starts
/// with '{' and ends with '}', or starts with '[' and ends with ']'. Not a full validation:
/// an event that passed the source's JSON check satisfies it, and anything else becomes a string.
bool embeds_raw(std::string_view payload) noexcept;

/// Formats UTC times, remembering the last second it formatted (events of a batch mostly share
/// one), so most calls only format the nanoseconds. Not thread-safe; one per sink.
class utc_format {
public:
  /// Appends "YYYY-mm-ddTHH:MM:SS.nnnnnnnnnZ".
  void append_rfc3339_ns(std::string& out, std::int64_t unix_ns);

private:
  std::int64_t cached_sec_ = INT64_MIN;
  char cached_[19] = {}; // "YYYY-mm-ddTHH:MM:SS"
};

/// "YYYYmmddTHHMMSSZ" for `unix_ns`, as eventlog file names carry it.
std::string compact_utc(std::int64_t unix_ns);

/// Appends one envelope line without its newline:
/// {"id":N,"source":"..","received_at":"RFC 3339","type":"..","event":<payload>}
/// where <payload> is raw when embeds_raw() says so and a JSON string otherwise.
void append_envelope(std::string& out, const queue::event_view& e, utc_format& times);

} // namespace sluice::sinks::envelope
