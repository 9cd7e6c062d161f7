#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "queue/queue.h"

/// The bytes on disk, as docs/queue-format.md specifies them. Every field is little-endian.
namespace sluice::queue::disk::format {

inline constexpr std::uint32_t k_version = 1;

// Segment file: <first position, 20 digits>.seg
inline constexpr char k_segment_magic[8] = {'S', 'L', 'U', 'I', 'C', 'S', 'E', 'G'};
inline constexpr std::size_t k_segment_header_bytes = 32;
// 0  8  magic "SLUICSEG"
// 8  4  format version
// 12 4  header size (32)
// 16 8  first position
// 24 4  reserved, 0
// 28 4  CRC32C of bytes 0..27

// Record, repeated after the segment header:
inline constexpr std::size_t k_record_header_bytes = 24;
// 0  4  CRC32C of bytes 4 .. 24+length
// 4  4  payload length
// 8  8  position
// 16 8  receive time, ns since the Unix epoch (signed)
// 24 .  payload
inline constexpr std::uint32_t k_max_payload = 1u << 30; // anything larger is a damaged header

inline void put_u32(char* p, std::uint32_t v) {
  std::memcpy(p, &v, 4);
}
inline void put_u64(char* p, std::uint64_t v) {
  std::memcpy(p, &v, 8);
}
inline std::uint32_t get_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline std::uint64_t get_u64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

/// Writes a segment header for `first` into `out` (k_segment_header_bytes).
void encode_segment_header(char* out, position first) noexcept;

/// Reads a segment header; errc::corrupt or errc::bad_format_version when it is not one of ours.
result<position> decode_segment_header(const char* in, std::size_t size) noexcept;

/// Writes one record (header and payload) into `out`, which has room for
/// k_record_header_bytes + payload.size() bytes.
void encode_record(char* out, position pos, std::int64_t received_ns,
                   std::string_view payload) noexcept;

/// Outcome of looking at the bytes at one offset.
enum class parse_status {
  ok,        ///< a whole valid record
  short_data ///< fewer bytes than the header or the length needs
  ,
  bad_header, ///< length impossible or position 0
  bad_crc,    ///< whole record present, checksum mismatch
};

struct parsed {
  parse_status status = parse_status::short_data;
  record rec;           ///< valid with status ok
  std::size_t size = 0; ///< header + payload bytes (known unless bad_header / short header)
};

/// Looks at the record starting at `p` with `avail` bytes available.
parsed parse_record(const char* p, std::size_t avail) noexcept;

/// "00000000000000000042.seg"
std::string segment_file_name(position first);
/// The first position named by a segment file name, or nothing for other names.
std::optional<position> parse_segment_file_name(std::string_view name);

// The watermark file ("watermark"): one 4096-byte page, shared by mmap between the appending
// process and every reader. A seqlock makes its three values consistent.
inline constexpr char k_watermark_magic[8] = {'S', 'L', 'U', 'I', 'C', 'W', 'M', 'K'};
inline constexpr std::size_t k_watermark_file_bytes = 4096;
// 0  8  magic "SLUICWMK"
// 8  4  format version
// 12 4  sequence (odd while the writer updates; the futex readers wait on)
// 16 8  durable watermark position
// 24 8  first position of the segment holding the watermark
// 32 8  byte offset in that segment just past the watermark record
// 40 8  pid of the appending process

// Cursor file ("cursors/NAME"): 24 bytes, replaced atomically (write NAME.tmp, fsync, rename).
inline constexpr char k_cursor_magic[8] = {'S', 'L', 'U', 'I', 'C', 'C', 'U', 'R'};
inline constexpr std::size_t k_cursor_file_bytes = 24;
// 0  8  magic "SLUICCUR"
// 8  4  format version
// 12 4  CRC32C of bytes 16..23
// 16 8  committed position

} // namespace sluice::queue::disk::format
