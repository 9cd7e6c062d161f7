#include "queue/disk/disk_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/log.h"
#include "base/units.h"
#include "queue/disk/cursor_file.h"
#include "queue/disk/format.h"
#include "queue/disk/segment_reader.h"
#include "queue/disk/segment_scan.h"
#include "queue/disk/writer.h"

namespace sluice::queue::disk {

namespace {

// Moves an unreadable last segment aside so the queue can go on; its bytes stay for inspection.
void quarantine_file(const std::filesystem::path& dir, const std::filesystem::path& p) {
  std::error_code ec;
  (void)create_directories_durably(dir / "quarantine");
  std::filesystem::rename(p, dir / "quarantine" / p.filename(), ec);
  (void)sync_dir(dir / "quarantine"); // recovery syncs `dir` itself at its end
}

// The first segment that may hold a position past `published` (0 when there is none before).
std::size_t first_unpublished(const std::vector<segment_entry>& segs, position published) {
  std::size_t from = 0;
  for (std::size_t i = 0; i < segs.size(); ++i)
    if (segs[i].first <= published + 1)
      from = i;
  return from;
}

// After a power cut, a segment past the last published watermark may have lost its unsynced end
// while a later one survived (created and its directory entry synced, its records not, or only
// some): positions would jump over the lost records inside what recovery publishes. Nothing
// past a torn point was durable, so nothing there was acknowledged or read: at the first segment
// that ends torn, has an unreadable header, or whose last position is not the one before the
// next segment's first, every later segment is removed, and the tail logic of recover() then
// cuts that one as the last. (Past the stored watermark positions run on from one segment to
// the next: the writer stores the watermark durably before it acknowledges anything past
// positions a failed write lost.)
result<void> remove_segments_after_a_torn_one(const options& opts, std::vector<segment_entry>& segs,
                                              position published, queue_stats& stats) {
  for (std::size_t i = first_unpublished(segs, published); i + 1 < segs.size(); ++i) {
    auto f = open_file(segs[i].path, O_RDONLY);
    if (!f)
      return fail(f.error());
    auto size = file_size(f->get());
    if (!size)
      return fail(size.error());
    char header[format::k_segment_header_bytes];
    auto n = pread_full(f->get(), header, sizeof header, 0);
    if (!n)
      return fail(n.error());
    auto first = format::decode_segment_header(header, *n);
    if (first && *first == segs[i].first) {
      auto scan = scan_segment(f->get(), format::k_segment_header_bytes, *size, segs[i].first - 1);
      if (!scan)
        return fail(scan.error());
      bool torn = !scan->damages.empty() && scan->damages.back().before == 0;
      position last = scan->last != 0 ? scan->last : segs[i].first - 1;
      if (!torn && last + 1 == segs[i + 1].first)
        continue; // ends with a whole record, and the next segment goes on from it
    }
    std::uint64_t removed = 0;
    for (std::size_t j = i + 1; j < segs.size(); ++j) {
      std::error_code ec;
      removed += std::filesystem::file_size(segs[j].path, ec);
      if (::unlink(segs[j].path.c_str()) != 0)
        return fail_errno(errno);
    }
    spdlog::warn("queue {}: segment {} ends torn, short or unreadable, as a power cut leaves one; "
                 "the {} segments after it ({} bytes) hold nothing that was durable: removed",
                 opts.dir.string(), segs[i].path.filename().string(), segs.size() - i - 1, removed);
    stats.truncated_bytes.add(removed);
    segs.resize(i + 1);
    break;
  }
  return {};
}

// Recovery publishes what it found as durable: every segment that may hold a position past the
// previous watermark (a kill -9 under an fsync interval keeps written but unsynced records in
// the page cache, and they would be lost to a power cut after sinks had them), then the
// directory (a roll's new segment, the removals and renames above).
result<void> sync_recovered(const std::filesystem::path& dir,
                            const std::vector<segment_entry>& segs, position published) {
  for (std::size_t i = first_unpublished(segs, published); i < segs.size(); ++i) {
    auto f = open_file(segs[i].path, O_RDONLY);
    if (!f)
      return fail(f.error());
    if (::fdatasync(f->get()) != 0)
      return fail_errno(errno);
  }
  return sync_dir(dir);
}

} // namespace

result<recovered_tail> recover(const options& opts, queue_stats& stats) {
  recovered_tail tail;
  // Never reuse a position a reader may have seen: the last watermark published, and every
  // committed cursor (durable files: a cursor past the records left after a power cut must not
  // see new records under positions it takes for delivered).
  position floor = 0;
  if (auto wm = watermark_file::open_for_reader(opts.dir))
    floor = wm->load().pos;
  const position published = floor;
  if (auto cursors = cursor_file::list(opts.dir))
    for (const auto& c : *cursors)
      floor = std::max(floor, c.committed);

  auto segs = list_segments(opts.dir);
  if (!segs)
    return fail(segs.error());
  if (auto r = remove_segments_after_a_torn_one(opts, *segs, published, stats); !r)
    return fail(r.error());
  for (;;) {
    if (segs->empty())
      break;
    auto& last = segs->back();
    auto f = open_file(last.path, O_RDWR);
    if (!f)
      return fail(f.error());
    auto size = file_size(f->get());
    if (!size)
      return fail(size.error());
    char header[format::k_segment_header_bytes];
    auto n = pread_full(f->get(), header, sizeof header, 0);
    if (!n)
      return fail(n.error());
    auto first = format::decode_segment_header(header, *n);
    if (!first || *first != last.first) {
      if (*size <= format::k_segment_header_bytes) {
        // Torn while being created: nothing in it was ever written.
        spdlog::warn("queue {}: segment {} has a torn header; removing it", opts.dir.string(),
                     last.path.filename().string());
        ::unlink(last.path.c_str());
      } else {
        spdlog::warn("queue {}: segment {} has a damaged header; moving it to quarantine/",
                     opts.dir.string(), last.path.filename().string());
        // Its records may hold positions up to some value; scan to keep positions unique.
        auto scan = scan_segment(f->get(), format::k_segment_header_bytes, *size, last.first - 1);
        if (scan)
          floor = std::max(floor, scan->last);
        floor = std::max(floor, last.first);
        quarantine_file(opts.dir, last.path);
      }
      segs->pop_back();
      continue;
    }
    auto scan = scan_segment(f->get(), format::k_segment_header_bytes, *size, last.first - 1);
    if (!scan)
      return fail(scan.error());
    std::uint64_t end = *size;
    for (const auto& d : scan->damages) {
      if (d.before == 0) {
        // Nothing valid after it: a torn tail, cut off.
        spdlog::warn("queue {}: truncating a torn tail of {} bytes at offset {} of segment {} "
                     "({})",
                     opts.dir.string(), d.bytes, d.offset, last.path.filename().string(), d.reason);
        stats.truncated_bytes.add(d.bytes);
        end = d.offset;
      } else {
        spdlog::warn("queue {}: damaged bytes in segment {} at offset {} ({} bytes, between "
                     "positions {} and {}: {}); readers will skip them",
                     opts.dir.string(), last.path.filename().string(), d.offset, d.bytes, d.after,
                     d.before, d.reason);
        stats.damaged_records.add(std::max<position>(1, d.before - d.after - 1));
        stats.damaged_bytes.add(d.bytes);
      }
    }
    if (end < *size) {
      if (::ftruncate(f->get(), static_cast<off_t>(end)) != 0)
        return fail_errno(errno);
    }
    if (::fdatasync(f->get()) != 0)
      return fail_errno(errno);
    auto seg = std::make_shared<open_segment>();
    seg->fd = std::move(*f);
    seg->first = last.first;
    seg->path = last.path;
    tail.segment = std::move(seg);
    tail.offset = end;
    tail.next_pos = std::max({scan->last, last.first - 1, floor}) + 1;
    break;
  }
  if (!tail.segment) {
    // Empty queue (or its only segment was unusable): start a segment.
    position first = floor + 1;
    if (!segs->empty()) {
      // The previous segments' last position: scan the newest remaining one.
      auto f = open_file(segs->back().path, O_RDONLY);
      if (f) {
        auto size = file_size(f->get());
        if (size) {
          auto scan =
              scan_segment(f->get(), format::k_segment_header_bytes, *size, segs->back().first - 1);
          if (scan)
            first = std::max(first, scan->last + 1);
        }
        first = std::max(first, segs->back().first + 1);
      }
    }
    auto seg = std::make_shared<open_segment>();
    seg->first = first;
    seg->path = opts.dir / format::segment_file_name(first);
    auto f = open_file(seg->path, O_RDWR | O_CREAT | O_TRUNC, 0640);
    if (!f)
      return fail(f.error());
    seg->fd = std::move(*f);
    char header[format::k_segment_header_bytes];
    format::encode_segment_header(header, first);
    if (auto w = pwrite_all(seg->fd.get(), header, sizeof header, 0); !w)
      return fail(w.error());
    if (::fdatasync(seg->fd.get()) != 0)
      return fail_errno(errno);
    if (auto d = sync_dir(opts.dir); !d)
      return fail(d.error());
    stats.segments_created.add();
    tail.segment = std::move(seg);
    tail.offset = format::k_segment_header_bytes;
    tail.next_pos = first;
    segs->push_back({first, tail.segment->path});
  }
  if (auto synced = sync_recovered(opts.dir, *segs, published); !synced)
    return fail(synced.error());
  for (const auto& s : *segs) {
    std::error_code ec;
    tail.disk_bytes += std::filesystem::file_size(s.path, ec);
    ++tail.segments;
  }
  return tail;
}

namespace {

class disk_queue final : public queue {
public:
  disk_queue(options opts, dir_lock lock, watermark_file wm)
      : opts_(std::move(opts)), lock_(std::move(lock)), wm_(std::move(wm)) {}

  result<void> start(recovered_tail tail) {
    writer_ = std::make_unique<writer>(opts_, stats_, wm_, std::move(tail));
    return {};
  }

  ~disk_queue() override { (void)close(); }

  result<append_result> append(std::span<const record_in> records) override {
    if (!writer_)
      return fail(errc::closed);
    return writer_->append(records);
  }

  result<void> wait_durable(position p, std::chrono::milliseconds timeout) override {
    if (!writer_)
      return fail(errc::closed);
    return writer_->wait_durable(p, timeout);
  }

  result<void> sync() override {
    if (!writer_)
      return fail(errc::closed);
    return writer_->sync();
  }

  result<std::unique_ptr<subscription>> subscribe(std::string_view name, start_at start) override {
    if (!writer_)
      return fail(errc::closed);
    auto s = disk_subscription::open(
        opts_.dir, name, start, opts_.read_buffer_bytes, &stats_,
        [w = writer_.get()] { w->request_housekeeping(); }, nullptr);
    if (!s)
      return fail(s.error());
    return std::unique_ptr<subscription>(std::move(*s));
  }

  result<std::unique_ptr<reader>> open_reader(start_at start) override {
    if (!writer_)
      return fail(errc::closed);
    auto r = segment_reader::open(opts_.dir, start, opts_.read_buffer_bytes, &stats_);
    if (!r)
      return fail(r.error());
    return std::unique_ptr<reader>(std::move(*r));
  }

  position durable_watermark() const noexcept override {
    return static_cast<position>(stats_.durable_watermark.get());
  }
  position last_position() const noexcept override {
    return static_cast<position>(stats_.last_position.get());
  }

  result<position> first_position() const override {
    auto segs = list_segments(opts_.dir);
    if (!segs)
      return fail(segs.error());
    // The writer keeps one segment at least; none here means the queue is closing.
    return segs->empty() ? last_position() + 1 : segs->front().first;
  }

  std::vector<cursor_info> cursors() const override {
    auto list = cursor_file::list(opts_.dir);
    if (!list)
      return {};
    position wm = durable_watermark();
    for (auto& c : *list)
      c.lag = wm > c.committed ? wm - c.committed : 0;
    return std::move(*list);
  }

  result<std::optional<position>> cursor(std::string_view name) const override {
    return cursor_file::read(opts_.dir, name);
  }

  result<void> set_cursor(std::string_view name, position p) override {
    auto held = cursor_file::hold(opts_.dir, name);
    if (!held)
      return fail(held.error());
    if (auto w = cursor_file::write(opts_.dir, name, p); !w)
      return w;
    if (writer_)
      writer_->request_housekeeping(); // a skip may let segments go
    return {};
  }

  result<void> forget_subscription(std::string_view name) override {
    auto held = cursor_file::hold(opts_.dir, name);
    if (!held)
      return fail(held.error());
    std::error_code ec;
    std::filesystem::remove(cursor_file::path_of(opts_.dir, name), ec);
    if (ec)
      return fail(ec);
    if (auto d = sync_dir(cursor_file::dir_of(opts_.dir)); !d)
      return d;
    if (writer_)
      writer_->request_housekeeping();
    return {};
  }

  std::string location() const override { return opts_.dir.string(); }

  const queue_stats& stats() const noexcept override { return stats_; }

  void refuse_blocked_appends() override {
    if (writer_)
      writer_->refuse_blocked_appends();
  }

  result<void> close() override {
    if (!writer_)
      return {};
    auto r = writer_->close();
    writer_.reset();
    lock_ = dir_lock(); // another process may append now
    return r;
  }

private:
  options opts_;
  dir_lock lock_;
  watermark_file wm_;
  queue_stats stats_;
  std::unique_ptr<writer> writer_;
};

} // namespace

result<std::unique_ptr<queue>> open(const options& opts, std::string* error_detail) {
  if (opts.dir.empty())
    return fail(errc::invalid_argument);
  if (opts.segment_bytes < 4096) {
    if (error_detail)
      *error_detail = "segment_bytes must be at least 4096";
    return fail(errc::invalid_argument);
  }
  if (opts.max_record_bytes > format::k_max_payload) {
    // A longer record would be written, acknowledged, then read back as a damaged header.
    if (error_detail)
      *error_detail = fmt::format("max_record_bytes must be at most {} (the format's limit)",
                                  format::k_max_payload);
    return fail(errc::invalid_argument);
  }
  // The queue's directories survive a power cut with what goes into them.
  for (const auto& dir : {opts.dir, cursor_file::dir_of(opts.dir)})
    if (auto made = create_directories_durably(dir); !made) {
      if (error_detail)
        *error_detail = "cannot create " + dir.string() + ": " + made.error().message();
      return fail(made.error());
    }
  int holder = 0;
  auto lock = dir_lock::acquire(opts.dir, &holder);
  if (!lock) {
    if (error_detail) {
      if (lock.error() == errc::locked)
        *error_detail = "queue " + opts.dir.string() + " is locked by pid " +
                        std::to_string(holder) + " (another sluice appends to it)";
      else
        *error_detail = "cannot lock " + opts.dir.string() + ": " + lock.error().message();
    }
    return fail(lock.error());
  }
  auto q_stats = std::make_unique<queue_stats>();
  auto tail = recover(opts, *q_stats);
  if (!tail) {
    if (error_detail)
      *error_detail = "recovery of " + opts.dir.string() + " failed: " + tail.error().message();
    return fail(tail.error());
  }
  watermark initial{tail->next_pos - 1, tail->segment->first, tail->offset};
  auto wm = watermark_file::open_for_writer(opts.dir, initial);
  if (!wm)
    return fail(wm.error());
  if (auto synced = wm->sync(); !synced)
    return fail(synced.error());
  auto q = std::make_unique<disk_queue>(opts, std::move(*lock), std::move(*wm));
  // Carry recovery's counts into the queue's own stats.
  auto& s = const_cast<queue_stats&>(q->stats());
  s.truncated_bytes.add(q_stats->truncated_bytes.get());
  s.damaged_records.add(q_stats->damaged_records.get());
  s.damaged_bytes.add(q_stats->damaged_bytes.get());
  s.segments_created.add(q_stats->segments_created.get());
  if (auto r = q->start(std::move(*tail)); !r)
    return fail(r.error());
  return std::unique_ptr<queue>(std::move(q));
}

options options_of(const config::pipeline_config& cfg) {
  options o;
  o.dir = cfg.data_dir / "queue";
  o.segment_bytes = cfg.queue.segment_bytes;
  o.fsync = cfg.queue.fsync;
  o.max_disk = cfg.queue.max_disk;
  o.when_full = cfg.queue.when_full;
  o.retain_bytes = cfg.queue.retain_bytes;
  o.retain_age = cfg.queue.retain_age;
  // A record is an event envelope around a payload of at most max_record_bytes.
  std::uint64_t largest = 0;
  for (const auto& s : cfg.sources)
    largest = std::max(largest, s.max_record_bytes);
  o.max_record_bytes = std::max<std::size_t>(o.max_record_bytes, largest + 64 * 1024);
  return o;
}

result<std::unique_ptr<reader>> open_reader(const std::filesystem::path& dir, start_at start) {
  auto r = segment_reader::open(dir, start, 1u << 20, nullptr);
  if (!r)
    return fail(r.error());
  return std::unique_ptr<reader>(std::move(*r));
}

result<std::unique_ptr<subscription>> subscribe(const std::filesystem::path& dir,
                                                std::string_view name, start_at start,
                                                std::string* error_detail) {
  auto s = disk_subscription::open(dir, name, start, 1u << 20, nullptr, {}, error_detail);
  if (!s)
    return fail(s.error());
  return std::unique_ptr<subscription>(std::move(*s));
}

} // namespace sluice::queue::disk
