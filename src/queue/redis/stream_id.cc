#include "queue/redis/stream_id.h"

#include <charconv>

namespace sluice::queue::redis {

std::optional<position> position_of(std::uint64_t ms, std::uint64_t seq) noexcept {
  if (seq >> k_seq_bits != 0 || ms > k_max_ms || (ms == 0 && seq == 0))
    return std::nullopt;
  return ms << k_seq_bits | seq;
}

std::optional<position> parse_stream_id(std::string_view id) noexcept {
  auto dash = id.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == id.size())
    return std::nullopt;
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  const char* end = id.data() + dash;
  if (auto r = std::from_chars(id.data(), end, ms); r.ec != std::errc{} || r.ptr != end)
    return std::nullopt;
  end = id.data() + id.size();
  if (auto r = std::from_chars(id.data() + dash + 1, end, seq); r.ec != std::errc{} || r.ptr != end)
    return std::nullopt;
  return position_of(ms, seq);
}

std::string stream_id_of(position p) {
  return std::to_string(p >> k_seq_bits) + "-" +
         std::to_string(p & ((std::uint64_t{1} << k_seq_bits) - 1));
}

} // namespace sluice::queue::redis
