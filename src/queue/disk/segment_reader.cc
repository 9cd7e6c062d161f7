#include "queue/disk/segment_reader.h"

#include <algorithm>
#include <fcntl.h>

#include "base/clock.h"
#include "base/log.h"
#include "queue/disk/cursor_file.h"
#include "queue/disk/format.h"
#include "queue/disk/segment_scan.h"

namespace sluice::queue::disk {

segment_reader::segment_reader(std::filesystem::path dir, watermark_file wm,
                               std::size_t buffer_bytes, queue_stats* stats)
    : dir_(std::move(dir)), wm_(std::move(wm)), stats_(stats),
      buf_(std::max<std::size_t>(buffer_bytes, 64 * 1024)) {}

result<std::unique_ptr<segment_reader>> segment_reader::open(const std::filesystem::path& dir,
                                                             start_at start,
                                                             std::size_t buffer_bytes,
                                                             queue_stats* stats) {
  auto wm = watermark_file::open_for_reader(dir);
  if (!wm)
    return fail(wm.error());
  std::unique_ptr<segment_reader> r(new segment_reader(dir, std::move(*wm), buffer_bytes, stats));
  if (auto s = r->seek(start); !s)
    return fail(s.error());
  return r;
}

result<void> segment_reader::open_segment(const segment_entry& e) {
  auto f = open_segment_for_reading(e.path);
  if (!f)
    return fail(f.error());
  seg_fd_ = std::move(*f);
  seg_first_ = e.first;
  seg_limit_ = 0;
  offset_ = format::k_segment_header_bytes;
  buf_len_ = 0;
  last_seen_ = std::max(last_seen_, e.first - 1);
  char header[format::k_segment_header_bytes];
  auto n = pread_full(seg_fd_.get(), header, sizeof header, 0);
  if (!n)
    return fail(n.error());
  auto first = format::decode_segment_header(header, *n);
  if (!first || *first != e.first) {
    SLUICE_WARN_LIMITED("queue {}: segment {} has a damaged header; reading its records anyway",
                        dir_.string(), e.path.filename().string());
    if (stats_)
      stats_->damaged_bytes.add(format::k_segment_header_bytes);
  }
  return {};
}

// Every directory listing a reader makes, counted: a seek, or a segment not where it should be;
// never one per record or per poll.
result<std::vector<segment_entry>> segment_reader::listing() {
  if (stats_)
    stats_->reader_listings.add(1);
  return list_segments(dir_);
}

// Opens the segment that follows `first`; false when there is none (yet). The next segment
// begins where this one's positions end, so it is opened by its name, without listing the
// directory (reading a backlog of N segments costs N opens, not N^2 entries). Only when it is not
// there (positions a failed write lost, or segments removed by hand) is the directory listed, and
// the positions missing before the segment found are warned about and counted.
result<bool> segment_reader::open_segment_after(position first) {
  position expected = std::max(last_seen_, first) + 1;
  segment_entry next{expected, dir_ / format::segment_file_name(expected)};
  if (auto r = open_segment(next); r)
    return true;
  else if (r.error() != std::errc::no_such_file_or_directory)
    return fail(r.error());
  auto segs = listing();
  if (!segs)
    return fail(segs.error());
  auto e = std::find_if(segs->begin(), segs->end(), [&](const auto& s) { return s.first > first; });
  if (e == segs->end())
    return false;
  position missing_from = std::max(expected, next_pos_);
  if (first != 0 && e->first > missing_from) {
    SLUICE_WARN_LIMITED("queue {}: positions {} to {} are not in the queue (lost by a failed "
                        "write before they were acknowledged, or their segment was removed); "
                        "reading on at {}",
                        dir_.string(), missing_from, e->first - 1, e->first);
    if (stats_)
      stats_->gap_records.add(e->first - missing_from);
  }
  if (auto r = open_segment(*e); !r)
    return fail(r.error());
  return true;
}

result<void> segment_reader::seek(start_at start) {
  auto segs = listing();
  if (!segs)
    return fail(segs.error());
  auto w = wm_.load();
  switch (start.where) {
  case start_at::kind::beginning:
    next_pos_ = 1;
    if (!segs->empty())
      return open_segment(segs->front());
    return {};
  case start_at::kind::end:
    next_pos_ = w.pos + 1;
    for (const auto& e : *segs) {
      if (e.first == w.segment) {
        if (auto r = open_segment(e); !r)
          return r;
        offset_ = std::max<std::uint64_t>(w.offset, format::k_segment_header_bytes);
        last_seen_ = w.pos;
        return {};
      }
    }
    if (!segs->empty())
      return open_segment(segs->back());
    return {};
  case start_at::kind::at_position: {
    next_pos_ = std::max<position>(start.pos, 1);
    if (segs->empty())
      return {};
    const segment_entry* pick = &segs->front();
    for (const auto& e : *segs)
      if (e.first <= next_pos_)
        pick = &e;
    return open_segment(*pick);
  }
  }
  return {};
}

void segment_reader::interrupt() noexcept {
  interrupted_.store(true, std::memory_order_release);
  wm_.wake_all();
}

result<void> segment_reader::read(batch& out, read_limits limits, std::chrono::milliseconds wait) {
  out.clear();
  if (limits.max_records == 0)
    limits.max_records = 1;
  auto deadline = now_mono_ns() + std::chrono::nanoseconds(wait).count();
  for (;;) {
    if (interrupted_.load(std::memory_order_acquire))
      return fail(errc::closed);
    std::uint32_t seq = wm_.sequence();
    auto w = wm_.load();
    if (auto r = fill(out, limits, w); !r)
      return r;
    if (!out.empty() || out.damaged_records > 0)
      return {};
    auto left = deadline - now_mono_ns();
    if (left <= 0)
      return fail(errc::timed_out);
    // Bounded slices so interrupt() and a writer that restarted are noticed.
    wm_.wait_change(seq, std::chrono::nanoseconds(std::min<std::int64_t>(left, 100'000'000)));
  }
}

result<void> segment_reader::skip_damage(batch& out, std::uint64_t limit) {
  auto next = find_next_valid(seg_fd_.get(), offset_ + 1, limit, last_seen_);
  if (!next)
    return fail(next.error());
  std::uint64_t to = *next ? (*next)->offset : limit;
  std::uint64_t records = 1;
  if (*next && (*next)->pos > last_seen_ + 1)
    records = (*next)->pos - last_seen_ - 1;
  SLUICE_WARN_LIMITED("queue {}: damaged bytes at segment {:020d} offset {} ({} bytes, positions "
                      "after {}); skipped",
                      dir_.string(), seg_first_, offset_, to - offset_, last_seen_);
  out.damaged_records += records;
  out.damaged_bytes += to - offset_;
  if (stats_) {
    stats_->damaged_records.add(records);
    stats_->damaged_bytes.add(to - offset_);
  }
  offset_ = to;
  buf_len_ = 0;
  return {};
}

result<void> segment_reader::fill(batch& out, const read_limits& limits, const watermark& w) {
  if (seg_first_ == 0) {
    if (w.segment == 0)
      return {};
    auto opened = open_segment_after(0);
    if (!opened)
      return fail(opened.error());
    if (!*opened)
      return {};
  }
  while (out.records.size() < limits.max_records && out.bytes < limits.max_bytes) {
    if (seg_first_ > w.segment)
      return {}; // not durable yet
    std::uint64_t limit;
    if (seg_first_ == w.segment) {
      limit = w.offset;
    } else {
      if (seg_limit_ == 0) {
        auto size = file_size(seg_fd_.get());
        if (!size)
          return fail(size.error());
        seg_limit_ = *size;
      }
      limit = seg_limit_;
    }
    if (offset_ >= limit) {
      if (seg_first_ == w.segment)
        return {}; // caught up with the watermark
      auto opened = open_segment_after(seg_first_);
      if (!opened)
        return fail(opened.error());
      if (!*opened)
        return {};
      continue;
    }
    // Bytes of [offset_, limit) already in the buffer.
    std::size_t avail = 0;
    if (offset_ >= buf_off_ && offset_ < buf_off_ + buf_len_)
      avail =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf_off_ + buf_len_, limit) - offset_);
    auto r = format::parse_record(avail ? buf_.data() + (offset_ - buf_off_) : buf_.data(), avail);
    if (avail == 0 || r.status == format::parse_status::short_data) {
      std::size_t need = std::max(r.size, format::k_record_header_bytes);
      if (avail >= need || offset_ + need > limit) {
        // The durable bytes end inside this record: damage (a sealed segment's torn tail).
        if (auto s = skip_damage(out, limit); !s)
          return s;
        continue;
      }
      if (!out.empty())
        return {}; // refilling would move the bytes `out` points into
      if (buf_.size() < need)
        buf_.resize(need);
      std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), limit - offset_));
      auto n = pread_full(seg_fd_.get(), buf_.data(), want, offset_);
      if (!n)
        return fail(n.error());
      buf_off_ = offset_;
      buf_len_ = *n;
      if (*n < need) {
        if (auto s = skip_damage(out, limit); !s)
          return s;
      }
      continue;
    }
    if (r.status != format::parse_status::ok || r.rec.pos <= last_seen_) {
      if (!out.empty())
        return {}; // deliver what we have; resync on the next read
      if (auto s = skip_damage(out, limit); !s)
        return s;
      continue;
    }
    if (r.rec.pos < next_pos_) { // seeking forward to the start position
      last_seen_ = r.rec.pos;
      offset_ += r.size;
      continue;
    }
    if (!out.empty() && out.bytes + r.rec.payload.size() > limits.max_bytes)
      return {};
    out.records.push_back(r.rec);
    out.bytes += r.rec.payload.size();
    last_seen_ = r.rec.pos;
    next_pos_ = r.rec.pos + 1;
    offset_ += r.size;
  }
  return {};
}

result<std::unique_ptr<disk_subscription>>
disk_subscription::open(const std::filesystem::path& dir, std::string_view name, start_at start,
                        std::size_t buffer_bytes, queue_stats* stats,
                        std::function<void()> on_commit, std::string* error_detail) {
  auto lock = cursor_file::hold(dir, name, error_detail);
  if (!lock)
    return fail(lock.error());
  auto cursor = cursor_file::read(dir, name);
  if (!cursor)
    return fail(cursor.error());
  std::unique_ptr<disk_subscription> s(new disk_subscription());
  s->dir_ = dir;
  s->name_ = std::string(name);
  s->lock_ = std::move(*lock);
  s->on_commit_ = std::move(on_commit);
  start_at where = start;
  if (*cursor) {
    s->committed_ = **cursor;
    where = start_at::at(**cursor + 1);
  } else if (auto hold_all = cursor_file::write(dir, name, 0); !hold_all) {
    // A new subscription holds retention (a cursor at 0 keeps everything) before its reader
    // picks a segment: otherwise retention could delete what the reader is about to read.
    return fail(hold_all.error());
  }
  auto forget_on_failure = [&] {
    if (!*cursor) {
      std::error_code ec;
      std::filesystem::remove(cursor_file::path_of(dir, name), ec);
    }
  };
  auto r = segment_reader::open(dir, where, buffer_bytes, stats);
  if (!r) {
    forget_on_failure();
    return fail(r.error());
  }
  s->reader_ = std::move(*r);
  if (!*cursor) {
    // Now where the reader starts: retention keeps what this subscription has not read yet.
    s->committed_ = s->reader_->next_position() - 1;
    if (auto w = cursor_file::write(dir, name, s->committed_); !w) {
      forget_on_failure();
      return fail(w.error());
    }
  }
  return s;
}

result<void> disk_subscription::commit(position p) {
  if (p <= committed_)
    return {};
  if (auto w = cursor_file::write(dir_, name_, p); !w)
    return w;
  committed_ = p;
  if (on_commit_)
    on_commit_();
  return {};
}

} // namespace sluice::queue::disk
