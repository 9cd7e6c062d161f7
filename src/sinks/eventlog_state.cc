#include "sinks/eventlog_state.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "sinks/envelope.h"

namespace sluice::sinks {
namespace {

constexpr std::uint32_t k_magic = 0x4c454c53; // "SLEL" little-endian
// Version 2: each slot in a 4 KiB block of its own, so that one torn block cannot damage both,
// and a record that says the file was created (with nothing saved yet) instead of blank bytes.
constexpr std::uint32_t k_version = 2;
constexpr std::size_t k_slot_bytes = 4096;
constexpr std::size_t k_record_bytes = 64; // 60 bytes of fields, then the CRC32C
constexpr std::uint32_t k_flag_lost = 1;   // created beside event files of a lost state file
// Version 1 (read, never written): two 512-byte slots in one block, 56 bytes then the CRC.
constexpr std::uint32_t k_v1 = 1;
constexpr std::size_t k_v1_slot_bytes = 512;
constexpr std::size_t k_v1_record_bytes = 60;

void put_u32(char* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}
void put_u64(char* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t get_u32(const char* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint64_t get_u64(const char* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

struct slot {
  std::uint64_t seq = 0;
  std::uint32_t flags = 0;
  eventlog_position pos;
};

void decode_position(const char* p, slot& s) noexcept {
  s.seq = get_u64(p + 8);
  s.pos.last_id = get_u64(p + 16);
  s.pos.file_seq = get_u64(p + 24);
  s.pos.file_opened_ns = static_cast<std::int64_t>(get_u64(p + 32));
  s.pos.file_bytes = get_u64(p + 40);
  s.pos.file_events = get_u64(p + 48);
}

/// A valid slot of either version at `p` (`avail` bytes there), nothing for any other bytes.
std::optional<slot> decode_slot(const char* p, std::size_t avail) noexcept {
  if (avail < k_v1_record_bytes || get_u32(p) != k_magic)
    return std::nullopt;
  slot s;
  auto version = get_u32(p + 4);
  if (version == k_v1) {
    if (get_u32(p + 56) != crc32c(p, 56))
      return std::nullopt;
  } else if (version == k_version && avail >= k_record_bytes) {
    if (get_u32(p + 60) != crc32c(p, 60))
      return std::nullopt;
    s.flags = get_u32(p + 56);
  } else {
    return std::nullopt;
  }
  decode_position(p, s);
  return s;
}

/// Slot `seq % 2`'s record: the position `p` (sequence 0: the file was just created).
void encode_slot(char* rec, std::uint64_t seq, std::uint32_t flags, const eventlog_position& p) {
  put_u32(rec, k_magic);
  put_u32(rec + 4, k_version);
  put_u64(rec + 8, seq);
  put_u64(rec + 16, p.last_id);
  put_u64(rec + 24, p.file_seq);
  put_u64(rec + 32, static_cast<std::uint64_t>(p.file_opened_ns));
  put_u64(rec + 40, p.file_bytes);
  put_u64(rec + 48, p.file_events);
  put_u32(rec + 56, flags);
  put_u32(rec + 60, crc32c(rec, 60));
}

} // namespace

std::string eventlog_file_name(std::int64_t opened_ns, std::uint64_t seq) {
  std::string name = "events-";
  name += envelope::compact_utc(opened_ns);
  name += '-';
  // Zero-padded, so names sort in creation order while the clock does not go back.
  auto digits = std::to_string(seq);
  if (digits.size() < 6)
    name.append(6 - digits.size(), '0');
  name += digits;
  name += ".ndjson";
  return name;
}

std::optional<std::uint64_t> parse_eventlog_file_seq(std::string_view name) {
  constexpr std::string_view prefix = "events-", suffix = ".ndjson";
  // events- + 16 characters of time + '-' + at least one digit + .ndjson
  if (name.size() < prefix.size() + 16 + 2 + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix) || name[prefix.size() + 15] != 'Z' || name[prefix.size() + 16] != '-')
    return std::nullopt;
  auto digits = name.substr(prefix.size() + 17);
  digits.remove_suffix(suffix.size());
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size())
    return std::nullopt;
  return n;
}

result<eventlog_state> eventlog_state::open(const std::filesystem::path& dir) {
  auto path = dir / k_file_name;
  bool created = false;
  auto f = open_file(path, O_RDWR);
  if (!f && f.error() == std::errc::no_such_file_or_directory) {
    f = open_file(path, O_RDWR | O_CREAT | O_EXCL, 0640);
    created = true;
  }
  if (!f)
    return fail(f.error());
  eventlog_state st;
  st.fd_ = std::move(*f);
  if (created) {
    // Slot 0 says "created, nothing saved"; event files already there lost their state file,
    // and the record says so: they are unknown, not unconfirmed (see never_saved()).
    std::uint32_t flags = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (parse_eventlog_file_seq(e.path().filename().string())) {
        flags = k_flag_lost;
        break;
      }
    char blocks[2 * k_slot_bytes] = {};
    encode_slot(blocks, 0, flags, eventlog_position{});
    if (auto w = pwrite_all(st.fd_.get(), blocks, sizeof blocks, 0); !w)
      return fail(w.error());
    if (::fdatasync(st.fd_.get()) != 0)
      return fail_errno(errno);
    if (auto s = sync_dir(dir); !s)
      return fail(s.error());
    return st;
  }
  char buf[2 * k_slot_bytes] = {};
  auto n = pread_full(st.fd_.get(), buf, sizeof buf, 0);
  if (!n)
    return fail(n.error());
  std::optional<slot> best;
  for (std::size_t off : {std::size_t{0}, k_v1_slot_bytes, k_slot_bytes}) {
    if (*n <= off)
      continue;
    auto s = decode_slot(buf + off, *n - off);
    if (s && (!best || s->seq > best->seq))
      best = s;
  }
  if (!best) {
    // Neither slot readable (a torn block cannot do that since version 2; a zeroed or
    // overwritten file can): which ids the files hold is unknown, never "nothing".
    st.damaged_ = true;
  } else if (best->seq == 0) {
    st.never_saved_ = (best->flags & k_flag_lost) == 0;
  } else {
    st.seq_ = best->seq;
    st.saved_ = best->pos;
  }
  return st;
}

result<void> eventlog_state::save(const eventlog_position& p) {
  char rec[k_record_bytes] = {};
  std::uint64_t seq = seq_ + 1;
  encode_slot(rec, seq, 0, p);
  auto offset = (seq % 2) * k_slot_bytes;
  if (auto w = pwrite_all(fd_.get(), rec, sizeof rec, offset); !w)
    return fail(w.error());
  if (::fdatasync(fd_.get()) != 0)
    return fail_errno(errno);
  seq_ = seq;
  saved_ = p;
  never_saved_ = false;
  damaged_ = false;
  return {};
}

} // namespace sluice::sinks
