#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

struct host_port {
  std::string host; ///< without the brackets of "[v6]"
  std::uint16_t port = 0;
};

/// Parses "HOST:PORT" or "[V6]:PORT". Nothing when there is no colon, the host is empty, or the
/// port is not a whole number from 0 to 65535.
std::optional<host_port> parse_host_port(std::string_view text);

} // namespace sluice
