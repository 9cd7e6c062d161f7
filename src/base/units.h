#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sluice {

/// Parses a size such as "64MiB", "512 KiB", "1GB", "4096" (bytes). Binary (KiB, MiB, GiB, TiB)
/// and decimal (KB, MB, GB, TB) suffixes; "B" or none means bytes. Errors:
/// std::errc::invalid_argument for anything else, std::errc::result_out_of_range on overflow.
result<std::uint64_t> parse_size(std::string_view text);

/// Parses a duration such as "10ms", "2s", "1.5s", "5m", "1h", "250us", "100ns", "7d".
result<std::chrono::nanoseconds> parse_duration(std::string_view text);

/// A duration as parse_duration reads it back exactly, in the largest unit that divides it:
/// "10ms", "2s", "5m", "250us", "7ns".
std::string format_duration(std::chrono::nanoseconds d);

/// "64 MiB", "1.5 GiB": for humans.
std::string format_size(std::uint64_t bytes);

} // namespace sluice
