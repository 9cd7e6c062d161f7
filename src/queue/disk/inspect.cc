#include <fcntl.h>

#include "queue/disk/cursor_file.h"
#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/disk/format.h"
#include "queue/disk/segment_scan.h"
#include "queue/disk/watermark_file.h"

namespace sluice::queue::disk {

namespace {

result<void> require_queue(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return fail(errc::not_found);
  // A directory a queue was never opened in (a mistyped path that exists) is not a queue.
  if (!std::filesystem::exists(dir / "watermark", ec) && !std::filesystem::exists(dir / "lock", ec))
    return fail(errc::not_found);
  return {};
}

// The last valid position of a segment (scanning it), 0 when it holds none.
position last_position_of(const segment_entry& e, std::uint64_t limit_hint = 0) {
  auto f = open_segment_for_reading(e.path);
  if (!f)
    return 0;
  auto size = file_size(f->get());
  if (!size)
    return 0;
  auto limit = limit_hint ? std::min(limit_hint, *size) : *size;
  auto scan = scan_segment(f->get(), format::k_segment_header_bytes, limit, e.first - 1);
  return scan ? scan->last : 0;
}

} // namespace

result<queue_info> inspect(const std::filesystem::path& dir) {
  if (auto r = require_queue(dir); !r)
    return fail(r.error());
  queue_info info;
  auto segs = list_segments(dir);
  if (!segs)
    return fail(segs.error());
  for (const auto& s : *segs) {
    std::error_code ec;
    auto bytes = std::filesystem::file_size(s.path, ec);
    info.segments.push_back({s.path.filename().string(), s.first, ec ? 0 : bytes});
    info.bytes += ec ? 0 : bytes;
  }
  info.writer_pid = dir_lock::holder(dir);
  if (auto wm = watermark_file::open_for_reader(dir))
    info.watermark = wm->load().pos;
  if (!segs->empty()) {
    // The last position on disk: the newest segment's last record (or the one before, if the
    // newest holds none yet).
    for (auto it = segs->rbegin(); it != segs->rend(); ++it) {
      if (auto p = last_position_of(*it)) {
        info.last = p;
        break;
      }
    }
    info.last = std::max(info.last, info.watermark);
    // The first position held: the first record of the oldest segment.
    auto f = open_segment_for_reading(segs->front().path);
    if (f) {
      char buf[format::k_segment_header_bytes + format::k_record_header_bytes];
      auto n = pread_full(f->get(), buf, sizeof buf, 0);
      if (n && *n == sizeof buf) {
        position p = format::get_u64(buf + format::k_segment_header_bytes + 8);
        info.first = p >= segs->front().first ? p : segs->front().first;
      } else if (info.last >= segs->front().first) {
        info.first = segs->front().first;
      }
    }
  }
  auto cursors = cursor_file::list(dir);
  if (cursors) {
    for (auto& c : *cursors)
      c.lag = info.watermark > c.committed ? info.watermark - c.committed : 0;
    info.cursors = std::move(*cursors);
  }
  return info;
}

result<verify_report> verify(const std::filesystem::path& dir) {
  if (auto r = require_queue(dir); !r)
    return fail(r.error());
  verify_report rep;
  auto segs = list_segments(dir);
  if (!segs)
    return fail(segs.error());
  bool writer_running = dir_lock::holder(dir) != 0;
  watermark w;
  if (auto wm = watermark_file::open_for_reader(dir))
    w = wm->load();
  position last = 0;
  for (std::size_t i = 0; i < segs->size(); ++i) {
    const auto& s = (*segs)[i];
    bool newest = i + 1 == segs->size();
    auto f = open_segment_for_reading(s.path);
    if (!f)
      return fail(f.error());
    auto size = file_size(f->get());
    if (!size)
      return fail(size.error());
    std::uint64_t limit = *size;
    // While a writer appends, bytes past the watermark may be in flight: stop there.
    if (writer_running && s.first >= w.segment) {
      if (s.first > w.segment)
        continue;
      limit = std::min(limit, w.offset);
    }
    ++rep.segments;
    rep.bytes += limit;
    char header[format::k_segment_header_bytes];
    auto n = pread_full(f->get(), header, sizeof header, 0);
    if (!n)
      return fail(n.error());
    auto first = format::decode_segment_header(header, *n);
    if (!first || *first != s.first) {
      rep.damages.push_back({s.path.filename().string(), 0,
                             std::min<std::uint64_t>(limit, format::k_segment_header_bytes), last,
                             0, false, "bad segment header"});
    }
    auto scan =
        scan_segment(f->get(), format::k_segment_header_bytes, limit, std::max(last, s.first - 1));
    if (!scan)
      return fail(scan.error());
    rep.records += scan->records;
    for (const auto& d : scan->damages) {
      damage dm;
      dm.segment = s.path.filename().string();
      dm.offset = d.offset;
      dm.bytes = d.bytes;
      dm.after = d.after;
      dm.before = d.before;
      dm.reason = d.reason;
      dm.torn_tail = d.before == 0 && newest;
      if (d.before == 0 && !newest) {
        // Runs to the end of a sealed segment: the next record is the next segment's first.
        dm.before = (*segs)[i + 1].first;
      }
      rep.damages.push_back(std::move(dm));
    }
    if (scan->last)
      last = scan->last;
  }
  return rep;
}

} // namespace sluice::queue::disk
