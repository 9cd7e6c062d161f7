#include "queue/disk/segment_scan.h"

#include <algorithm>

#include "queue/disk/files.h"
#include "queue/disk/format.h"

namespace sluice::queue::disk {
namespace {

constexpr std::size_t k_window = 1u << 20;
// A resynchronised record's position must be within this distance of the last valid one:
// random bytes almost never pass, and no real gap is this large.
constexpr position k_max_gap = 1ull << 40;

bool plausible(const char* p, position after, std::uint64_t offset, std::uint64_t limit) {
  std::uint32_t len = format::get_u32(p + 4);
  position pos = format::get_u64(p + 8);
  return pos > after && pos - after <= k_max_gap && len <= format::k_max_payload &&
         offset + format::k_record_header_bytes + len <= limit;
}

} // namespace

result<std::optional<resync_point>> find_next_valid(int fd, std::uint64_t from, std::uint64_t limit,
                                                    position after) {
  std::vector<char> window(k_window);
  std::vector<char> whole;
  std::uint64_t base = from;
  while (base + format::k_record_header_bytes <= limit) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(k_window, limit - base));
    auto n = pread_full(fd, window.data(), want, base);
    if (!n)
      return fail(n.error());
    if (*n < format::k_record_header_bytes)
      break;
    std::size_t last_start = *n - format::k_record_header_bytes;
    for (std::size_t i = 0; i <= last_start; ++i) {
      const char* p = window.data() + i;
      if (!plausible(p, after, base + i, limit))
        continue;
      auto r = format::parse_record(p, *n - i);
      if (r.status == format::parse_status::short_data && r.size > 0) {
        // The candidate runs past the window: read it whole to check it.
        whole.resize(r.size);
        auto m = pread_full(fd, whole.data(), r.size, base + i);
        if (!m)
          return fail(m.error());
        r = format::parse_record(whole.data(), *m);
      }
      if (r.status == format::parse_status::ok)
        return resync_point{base + i, r.rec.pos};
    }
    if (base + *n >= limit)
      break;
    base += last_start + 1;
  }
  return std::optional<resync_point>{};
}

result<scan_result>
scan_segment(int fd, std::uint64_t start, std::uint64_t limit, position after,
             const std::function<void(const record&, std::uint64_t)>& on_record) {
  scan_result out;
  out.end_offset = start;
  std::vector<char> buf(k_window);
  std::uint64_t buf_off = start;
  std::size_t buf_len = 0;
  std::uint64_t off = start;
  position last = after;

  auto refill = [&](std::size_t need) -> result<void> {
    if (buf.size() < need)
      buf.resize(need);
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), limit - off));
    auto n = pread_full(fd, buf.data(), want, off);
    if (!n)
      return fail(n.error());
    buf_off = off;
    buf_len = *n;
    return {};
  };

  while (off < limit) {
    std::size_t in_buf = off >= buf_off && off < buf_off + buf_len
                             ? static_cast<std::size_t>(buf_off + buf_len - off)
                             : 0;
    if (in_buf < format::k_record_header_bytes && off + in_buf < limit) {
      if (auto r = refill(k_window); !r)
        return fail(r.error());
      in_buf = buf_len;
    }
    const char* p = buf.data() + (off - buf_off);
    auto r = format::parse_record(p, in_buf);
    if (r.status == format::parse_status::short_data && r.size > 0 && off + r.size <= limit &&
        in_buf < r.size) {
      if (auto f = refill(r.size); !f)
        return fail(f.error());
      p = buf.data();
      r = format::parse_record(p, buf_len);
    }
    if (r.status == format::parse_status::ok && r.rec.pos > last) {
      if (on_record)
        on_record(r.rec, off);
      if (out.first == 0)
        out.first = r.rec.pos;
      out.last = last = r.rec.pos;
      ++out.records;
      off += r.size;
      out.end_offset = off;
      continue;
    }
    damaged_range d;
    d.offset = off;
    d.after = last;
    switch (r.status) {
    case format::parse_status::short_data:
      d.reason = "short record";
      break;
    case format::parse_status::bad_header:
      d.reason = "bad record header";
      break;
    case format::parse_status::bad_crc:
      d.reason = "crc mismatch";
      break;
    case format::parse_status::ok:
      d.reason = "position out of order";
      break;
    }
    auto next = find_next_valid(fd, off + 1, limit, last);
    if (!next)
      return fail(next.error());
    if (*next) {
      d.bytes = (*next)->offset - off;
      d.before = (*next)->pos;
      off = (*next)->offset;
      buf_len = 0;
    } else {
      d.bytes = limit - off;
      off = limit;
    }
    out.damages.push_back(std::move(d));
  }
  return out;
}

} // namespace sluice::queue::disk
