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
constexpr std::uint32_t k_version = 1;
constexpr std::size_t k_slot_bytes = 512;
constexpr std::size_t k_record_bytes = 60; // 56 bytes of fields, then the CRC32C

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
  eventlog_position pos;
};

std::optional<slot> decode_slot(const char* p) noexcept {
  if (get_u32(p) != k_magic || get_u32(p + 4) != k_version)
    return std::nullopt;
  if (get_u32(p + 56) != crc32c(p, 56))
    return std::nullopt;
  slot s;
  s.seq = get_u64(p + 8);
  s.pos.last_id = get_u64(p + 16);
  s.pos.file_seq = get_u64(p + 24);
  s.pos.file_opened_ns = static_cast<std::int64_t>(get_u64(p + 32));
  s.pos.file_bytes = get_u64(p + 40);
  s.pos.file_events = get_u64(p + 48);
  return s;
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
    char zeros[2 * k_slot_bytes] = {};
    // Event files already there lost their state file: slot 0 is marked so that a later open()
    // does not take them for files no batch confirmed (see never_saved()).
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (parse_eventlog_file_seq(e.path().filename().string())) {
        std::memcpy(zeros, "lost", 4);
        break;
      }
    if (auto w = pwrite_all(st.fd_.get(), zeros, sizeof zeros, 0); !w)
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
  for (std::size_t i = 0; i < 2; ++i) {
    if (*n < i * k_slot_bytes + k_record_bytes)
      continue;
    auto s = decode_slot(buf + i * k_slot_bytes);
    if (s && (!best || s->seq > best->seq))
      best = s;
  }
  if (best) {
    st.seq_ = best->seq;
    st.saved_ = best->pos;
  } else if (*n == sizeof buf) {
    // Saves alternate slots starting with slot 1: a blank slot 0 means no second save started.
    st.never_saved_ = std::all_of(buf, buf + k_record_bytes, [](char c) { return c == 0; });
  }
  return st;
}

result<void> eventlog_state::save(const eventlog_position& p) {
  char rec[64] = {};
  std::uint64_t seq = seq_ + 1;
  put_u32(rec, k_magic);
  put_u32(rec + 4, k_version);
  put_u64(rec + 8, seq);
  put_u64(rec + 16, p.last_id);
  put_u64(rec + 24, p.file_seq);
  put_u64(rec + 32, static_cast<std::uint64_t>(p.file_opened_ns));
  put_u64(rec + 40, p.file_bytes);
  put_u64(rec + 48, p.file_events);
  put_u32(rec + 56, crc32c(rec, 56));
  auto offset = (seq % 2) * k_slot_bytes;
  if (auto w = pwrite_all(fd_.get(), rec, sizeof rec, offset); !w)
    return fail(w.error());
  if (::fdatasync(fd_.get()) != 0)
    return fail_errno(errno);
  seq_ = seq;
  saved_ = p;
  return {};
}

} // namespace sluice::sinks
