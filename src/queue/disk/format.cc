#include "queue/disk/format.h"

#include <charconv>

#include <fmt/format.h>

#include "base/crc32c.h"
#include "config/queue_settings.h"

namespace sluice::queue::disk::format {

void encode_segment_header(char* out, position first) noexcept {
  std::memcpy(out, k_segment_magic, 8);
  put_u32(out + 8, k_version);
  put_u32(out + 12, static_cast<std::uint32_t>(k_segment_header_bytes));
  put_u64(out + 16, first);
  put_u32(out + 24, 0);
  put_u32(out + 28, crc32c(out, 28));
}

result<position> decode_segment_header(const char* in, std::size_t size) noexcept {
  if (size < k_segment_header_bytes || std::memcmp(in, k_segment_magic, 8) != 0)
    return fail(errc::corrupt);
  if (get_u32(in + 28) != crc32c(in, 28))
    return fail(errc::corrupt);
  if (get_u32(in + 8) != k_version)
    return fail(errc::bad_format_version);
  if (get_u32(in + 12) != k_segment_header_bytes)
    return fail(errc::corrupt);
  return get_u64(in + 16);
}

void encode_record(char* out, position pos, std::int64_t received_ns,
                   std::string_view payload) noexcept {
  put_u32(out + 4, static_cast<std::uint32_t>(payload.size()));
  put_u64(out + 8, pos);
  put_u64(out + 16, static_cast<std::uint64_t>(received_ns));
  if (!payload.empty())
    std::memcpy(out + k_record_header_bytes, payload.data(), payload.size());
  put_u32(out, crc32c(out + 4, k_record_header_bytes - 4 + payload.size()));
}

parsed parse_record(const char* p, std::size_t avail) noexcept {
  parsed r;
  if (avail < k_record_header_bytes)
    return r;
  std::uint32_t len = get_u32(p + 4);
  position pos = get_u64(p + 8);
  if (len > k_max_payload || pos == 0) {
    r.status = parse_status::bad_header;
    return r;
  }
  r.size = k_record_header_bytes + len;
  if (avail < r.size)
    return r;
  if (get_u32(p) != crc32c(p + 4, r.size - 4)) {
    r.status = parse_status::bad_crc;
    return r;
  }
  r.status = parse_status::ok;
  r.rec.pos = pos;
  r.rec.received_ns = static_cast<std::int64_t>(get_u64(p + 16));
  r.rec.payload = std::string_view(p + k_record_header_bytes, len);
  return r;
}

std::string segment_file_name(position first) {
  return fmt::format("{:020d}.seg", first);
}

std::optional<position> parse_segment_file_name(std::string_view name) {
  if (name.size() != 24 || name.substr(20) != ".seg")
    return std::nullopt;
  position p = 0;
  auto [ptr, ec] = std::from_chars(name.data(), name.data() + 20, p);
  if (ec != std::errc() || ptr != name.data() + 20)
    return std::nullopt;
  return p;
}

} // namespace sluice::queue::disk::format

// A source's longest record, in its envelope of at most 64 KiB, fits the format.
static_assert(sluice::config::k_max_record_bytes + (64u << 10) <=
              sluice::queue::disk::format::k_max_payload);
