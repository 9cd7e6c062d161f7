#include "queue/disk/writer.h"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "queue/disk/cursor_file.h"
#include "queue/disk/format.h"

namespace sluice::queue::disk {

namespace {
/// Retention frees a deleted segment by this much per step, one step per pause (about one group
/// commit), 400 MB/s at least: faster than the queue writes.
constexpr std::uint64_t k_shrink_step_bytes = 4u << 20;
// Failed attempts to put the files back after a failed write before the queue says it is failed.
constexpr unsigned k_restore_attempts = 10;
constexpr std::chrono::milliseconds k_shrink_pause{10};
// How often a write that found the disk full is tried again.
constexpr std::chrono::milliseconds k_full_retry{200};

bool disk_full(const std::error_code& ec) {
  return ec == std::errc::no_space_on_device ||
         (ec.category() == std::system_category() && ec.value() == EDQUOT);
}
} // namespace

char* byte_buffer::grow(std::size_t n) {
  if (len_ + n > cap_) {
    std::size_t cap = std::max(len_ + n, cap_ * 2);
    std::unique_ptr<char[]> d(new char[cap]);
    std::memcpy(d.get(), data_.get(), len_);
    data_ = std::move(d);
    cap_ = cap;
  }
  char* p = data_.get() + len_;
  len_ += n;
  return p;
}

void byte_buffer::shrink_to(std::size_t capacity) {
  if (cap_ > capacity && len_ == 0) {
    data_.reset(new char[capacity]);
    cap_ = capacity;
  }
}

writer::writer(const options& opts, queue_stats& stats, watermark_file& wm, recovered_tail tail)
    : opts_(opts), stats_(stats), wm_(wm), active_(opts.write_buffer_bytes),
      flushing_(opts.write_buffer_bytes) {
  next_pos_ = tail.next_pos;
  segment_ = tail.segment;
  segment_offset_ = tail.offset;
  enc_segment_first_ = segment_->first;
  enc_segment_bytes_ = tail.offset;
  disk_bytes_ = tail.disk_bytes;
  written_ = durable_ = watermark{next_pos_ - 1, segment_->first, tail.offset};
  stats_.segments.set(static_cast<std::int64_t>(tail.segments));
  stats_.disk_bytes.set(static_cast<std::int64_t>(disk_bytes_));
  stats_.durable_watermark.set(static_cast<std::int64_t>(durable_.pos));
  stats_.last_position.set(static_cast<std::int64_t>(durable_.pos));
  writer_thread_ = std::thread([this] { writer_loop(); });
  syncer_thread_ = std::thread([this] { syncer_loop(); });
  housekeeper_thread_ = std::thread([this] { housekeeper_loop(); });
}

writer::~writer() {
  (void)close();
}

int writer::injected(std::atomic<int>& counter) const {
  if (!opts_.faults)
    return 0;
  int n = counter.load();
  while (n > 0) {
    if (counter.compare_exchange_weak(n, n - 1))
      return opts_.faults->error.load();
  }
  return 0;
}

bool writer::is_lost(position p) const {
  return lost_in(p, p);
}

bool writer::lost_in(position from, position to) const {
  // lost_ holds disjoint ranges in increasing order: the first one ending at or after `from`.
  auto it = std::lower_bound(lost_.begin(), lost_.end(), from,
                             [](const auto& range, position p) { return range.second < p; });
  return it != lost_.end() && it->first <= to;
}

void writer::encode(std::span<const record_in> records, std::int64_t now_ns) {
  for (const auto& r : records) {
    std::size_t size = format::k_record_header_bytes + r.payload.size();
    if (enc_segment_bytes_ + size > opts_.segment_bytes &&
        enc_segment_bytes_ > format::k_segment_header_bytes) {
      enc_segment_first_ = next_pos_;
      enc_segment_bytes_ = format::k_segment_header_bytes;
      active_.pieces.push_back({active_.bytes.size(), active_.bytes.size(), true, next_pos_, 0});
      pending_bytes_ += format::k_segment_header_bytes;
    } else if (active_.pieces.empty()) {
      active_.pieces.push_back(
          {active_.bytes.size(), active_.bytes.size(), false, enc_segment_first_, 0});
    }
    char* out = active_.bytes.grow(size);
    format::encode_record(out, next_pos_, r.received_ns ? r.received_ns : now_ns, r.payload);
    auto& pc = active_.pieces.back();
    pc.end = active_.bytes.size();
    pc.last = next_pos_;
    ++next_pos_;
    enc_segment_bytes_ += size;
    pending_bytes_ += size;
  }
}

result<append_result> writer::append(std::span<const record_in> records) {
  append_result res;
  if (records.empty())
    return res;
  std::uint64_t total = 0;
  for (const auto& r : records) {
    if (r.payload.size() > opts_.max_record_bytes ||
        r.payload.size() + format::k_record_header_bytes + format::k_segment_header_bytes >
            std::max<std::uint64_t>(opts_.segment_bytes, opts_.max_record_bytes + 4096))
      return fail(errc::record_too_large);
    total += format::k_record_header_bytes + r.payload.size();
  }
  std::int64_t t0 = now_mono_ns();
  std::int64_t now_ns = opts_.clock->now_ns();
  std::unique_lock lk(mu_);
  stats_.append_calls.add();
  while (big_append_ && !closing_)
    space_cv_.wait(lk);
  if (closing_)
    return fail(errc::closed);
  if (failed_)
    return fail(fail_ec_);

  // The disk cap.
  std::size_t keep = records.size();
  // Appends that passed the cap but wait for buffer room count as reserved_bytes_: the lock is
  // let go while they wait, and without them every concurrent appender would pass the cap at once.
  if (opts_.max_disk > 0 &&
      disk_bytes_ + pending_bytes_ + reserved_bytes_ + total > opts_.max_disk) {
    if (opts_.when_full == when_full_mode::drop_newest) {
      std::uint64_t used_now = disk_bytes_ + pending_bytes_ + reserved_bytes_;
      std::uint64_t room = opts_.max_disk > used_now ? opts_.max_disk - used_now : 0;
      std::uint64_t used = 0;
      keep = 0;
      for (const auto& r : records) {
        std::uint64_t size = format::k_record_header_bytes + r.payload.size();
        if (used + size > room)
          break;
        used += size;
        ++keep;
      }
      res.dropped = records.size() - keep;
      total = used;
      stats_.dropped_records.add(res.dropped);
      SLUICE_WARN_LIMITED("queue {}: at max_disk ({} bytes); dropped {} newest records "
                          "(when_full = drop_newest)",
                          opts_.dir.string(), opts_.max_disk, res.dropped);
      if (keep == 0)
        return res;
    } else {
      stats_.blocked_appenders.add(1);
      std::int64_t b0 = now_mono_ns();
      SLUICE_WARN_LIMITED("queue {}: at max_disk ({} bytes); appends wait for subscriptions "
                          "to let segments go",
                          opts_.dir.string(), opts_.max_disk);
      while (!closing_ && !refuse_blocked_ &&
             disk_bytes_ + pending_bytes_ + reserved_bytes_ + total > opts_.max_disk) {
        housekeeping_due_ = true;
        housekeeping_cv_.notify_one();
        space_cv_.wait_for(lk, std::chrono::milliseconds(200));
      }
      stats_.blocked_appenders.add(-1);
      stats_.blocked_ns.add(static_cast<std::uint64_t>(now_mono_ns() - b0));
      if (closing_ || refuse_blocked_)
        return fail(errc::closed);
    }
  }
  auto kept = records.first(keep);
  std::uint64_t epoch = fail_epoch_;
  res.first = next_pos_;
  reserved_bytes_ += total; // moved into pending_bytes_ as the records are encoded
  if (total <= active_.bytes.capacity()) {
    while (!active_.bytes.empty() && active_.bytes.size() + total > active_.bytes.capacity() &&
           !closing_) {
      writer_cv_.notify_one();
      space_cv_.wait(lk);
    }
    reserved_bytes_ -= total;
    if (closing_)
      return fail(errc::closed);
    bool was_empty = active_.bytes.empty();
    res.first = next_pos_;
    encode(kept, now_ns);
    if (was_empty)
      writer_cv_.notify_one();
  } else {
    // Larger than a buffer: encode in parts, keeping other appenders out so it stays contiguous.
    big_append_ = true;
    res.first = next_pos_;
    for (const auto& r : kept) {
      std::size_t size = format::k_record_header_bytes + r.payload.size();
      while (!active_.bytes.empty() && active_.bytes.size() + size > active_.bytes.capacity() &&
             !closing_) {
        writer_cv_.notify_one();
        space_cv_.wait(lk);
      }
      reserved_bytes_ -= size;
      encode(std::span<const record_in>(&r, 1), now_ns);
      writer_cv_.notify_one();
    }
    big_append_ = false;
    space_cv_.notify_all();
  }
  res.last = next_pos_ - 1;
  res.appended = keep;
  marks_.push_back({res.last, t0, kept.empty() ? 0 : kept.front().received_ns, keep});
  stats_.appended_records.add(keep);
  stats_.appended_bytes.add(total - keep * format::k_record_header_bytes);
  stats_.last_position.set(static_cast<std::int64_t>(res.last));

  // A record of this append lost to a failed commit fails it, wherever it is: an append larger
  // than a buffer released the lock between its parts, and a failure then may have taken the
  // first parts but not the last.
  if (opts_.fsync.mode == fsync_mode::always) {
    durable_cv_.wait(
        lk, [&] { return durable_.pos >= res.last || lost_in(res.first, res.last) || closed_; });
    if (lost_in(res.first, res.last) || durable_.pos < res.last)
      return fail(fail_ec_ ? fail_ec_ : errc::closed);
  } else if (fail_epoch_ != epoch && lost_in(res.first, res.last)) {
    return fail(fail_ec_);
  }
  return res;
}

result<void> writer::wait_durable(position p, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  bool done = durable_cv_.wait_for(
      lk, timeout, [&] { return durable_.pos >= p || is_lost(p) || closed_ || p >= next_pos_; });
  // Lost first: a lost position lies below the durable watermark once later records are durable.
  if (is_lost(p))
    return fail(fail_ec_ ? fail_ec_ : make_error_code(errc::write_failed));
  if (durable_.pos >= p)
    return {};
  if (p >= next_pos_)
    return fail(errc::invalid_argument);
  if (closed_)
    return fail(errc::closed);
  (void)done;
  return fail(errc::timed_out);
}

result<void> writer::sync() {
  position target;
  {
    std::lock_guard lk(mu_);
    target = next_pos_ - 1;
    sync_requested_ = true;
    writer_cv_.notify_one();
    syncer_cv_.notify_one();
  }
  if (target == 0)
    return {};
  for (;;) {
    auto r = wait_durable(target, std::chrono::seconds(1));
    if (r || r.error() != errc::timed_out)
      return r;
    std::lock_guard lk(mu_);
    sync_requested_ = true;
    syncer_cv_.notify_one();
  }
}

position writer::durable() const {
  std::lock_guard lk(mu_);
  return durable_.pos;
}

position writer::last_assigned() const {
  std::lock_guard lk(mu_);
  return next_pos_ - 1;
}

void writer::request_housekeeping() {
  std::lock_guard lk(mu_);
  housekeeping_due_ = true;
  housekeeping_cv_.notify_one();
}

result<std::shared_ptr<open_segment>> writer::create_segment(position first) {
  auto seg = std::make_shared<open_segment>();
  seg->first = first;
  seg->path = opts_.dir / format::segment_file_name(first);
  auto f = open_file(seg->path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
  if (!f)
    return fail(f.error());
  seg->fd = std::move(*f);
  char header[format::k_segment_header_bytes];
  format::encode_segment_header(header, first);
  if (int e = opts_.faults ? injected(opts_.faults->fail_writes) : 0)
    return fail_errno(e);
  if (auto w = pwrite_all(seg->fd.get(), header, sizeof header, 0); !w)
    return fail(w.error());
  // The directory entry is made durable by the syncer before the watermark enters the segment,
  // off this thread: a directory fsync here would stall writing for tens of milliseconds.
  stats_.segments_created.add();
  stats_.segments.add(1);
  return seg;
}

result<void> writer::write_out(pending_buffer& b) {
  for (; b.written < b.pieces.size(); ++b.written, b.segment_made = false) {
    const auto& pc = b.pieces[b.written];
    if (pc.new_segment && !b.segment_made) {
      // A failed create leaves at most a short file of that name: created again on a retry, or
      // removed with the segments after the durable one when the records fail back.
      auto seg = create_segment(pc.segment_first);
      if (!seg)
        return fail(seg.error());
      b.segment_made = true;
      std::lock_guard lk(mu_);
      retired_.push_back(segment_);
      segment_ = std::move(*seg);
      dir_sync_needed_ = opts_.fsync.mode != fsync_mode::never;
      segment_offset_ = format::k_segment_header_bytes;
      disk_bytes_ += format::k_segment_header_bytes;
      pending_bytes_ -= format::k_segment_header_bytes;
    }
    if (pc.end == pc.begin)
      continue;
    if (opts_.faults) {
      if (int e = injected(opts_.faults->fail_writes))
        return fail_errno(e);
    }
    if (auto w = pwrite_all(segment_->fd.get(), b.bytes.data() + pc.begin, pc.end - pc.begin,
                            segment_offset_);
        !w) {
      // On a full disk what part of the piece went in is cut off again (which needs no space),
      // so the piece can be written whole later; otherwise the failure path restores the files.
      if (disk_full(w.error()) &&
          ::ftruncate(segment_->fd.get(), static_cast<off_t>(segment_offset_)) != 0)
        return fail_errno(errno);
      return fail(w.error());
    }
    if (opts_.fsync.mode != fsync_mode::never) {
      // Start writeback now, so the syncer's fdatasync has less left to wait for.
      ::sync_file_range(segment_->fd.get(), static_cast<off_t>(segment_offset_),
                        static_cast<off_t>(pc.end - pc.begin), SYNC_FILE_RANGE_WRITE);
    }
    segment_offset_ += pc.end - pc.begin;
    std::lock_guard lk(mu_);
    disk_bytes_ += pc.end - pc.begin;
    written_bytes_ += pc.end - pc.begin;
    pending_bytes_ -= pc.end - pc.begin;
    written_ = watermark{pc.last, segment_->first, segment_offset_};
  }
  return {};
}

void writer::writer_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    writer_cv_.wait(lk, [&] { return !active_.bytes.empty() || closing_ || failed_; });
    if (failed_) {
      // Closing with the files not yet put back (a persistent error): give up, so shutdown
      // finishes; the next open's recovery cuts what was not durable.
      if (closing_ && restore_failures_ > 0)
        break;
      handle_failure(lk);
      continue;
    }
    if (active_.bytes.empty())
      break; // closing and drained
    if (opts_.fsync.mode != fsync_mode::never && opts_.max_unsynced_bytes > 0 &&
        written_bytes_ - durable_bytes_ >= opts_.max_unsynced_bytes) {
      // Appends outrun the disk: let the syncer catch up now (appenders wait on full buffers).
      sync_requested_ = true;
      syncer_cv_.notify_one();
      durable_cv_.wait(lk, [&] {
        return failed_ || closing_ || written_bytes_ - durable_bytes_ < opts_.max_unsynced_bytes;
      });
      continue;
    }
    std::swap(active_, flushing_);
    space_cv_.notify_all();
    lk.unlock();
    auto r = write_out(flushing_);
    lk.lock();
    if (!r && disk_full(r.error()) && wait_for_space(lk, flushing_, r))
      r = {};
    flushing_.clear();
    flushing_.bytes.shrink_to(opts_.write_buffer_bytes);
    stats_.disk_bytes.set(static_cast<std::int64_t>(disk_bytes_));
    if (!r) {
      stats_.write_errors.add();
      SLUICE_WARN_LIMITED("queue {}: write failed: {}; records after position {} are failed "
                          "back to their appenders",
                          opts_.dir.string(), r.error().message(), durable_.pos);
      failed_ = true;
      fail_ec_ = r.error();
      continue;
    }
    if (opts_.fsync.mode == fsync_mode::never) {
      if (!retired_.empty())
        retired_.clear();
      publish(written_);
    } else {
      syncer_cv_.notify_one();
    }
  }
  if (opts_.fsync.mode == fsync_mode::never && !failed_) {
    // Shutdown makes the queue durable whatever the policy: every segment written since the start
    // and the directory's entries, which under "never" nothing synced (syncfs: the queue's
    // filesystem in one call, reporting a writeback error of any of its files).
    lk.unlock();
    int rc = ::syncfs(segment_->fd.get());
    int e = errno;
    lk.lock();
    if (rc != 0) {
      stats_.fsync_errors.add();
      shutdown_ec_ = std::error_code(e, std::system_category());
      SLUICE_WARN_LIMITED("queue {}: the shutdown sync failed: {}; records written since the "
                          "start may not survive a power loss",
                          opts_.dir.string(), shutdown_ec_.message());
    }
  }
  writer_done_ = true;
  syncer_cv_.notify_one();
}

bool writer::wait_for_space(std::unique_lock<std::mutex>& lk, pending_buffer& b, result<void>& r) {
  stats_.disk_full.set(1);
  while (!r && disk_full(r.error())) {
    stats_.disk_full_waits.add();
    SLUICE_WARN_LIMITED("queue {}: the disk is full ({}); {} bytes of records are held and the "
                        "write is retried every {} ms, intake waits",
                        opts_.dir.string(), r.error().message(), b.bytes.size(),
                        k_full_retry.count());
    writer_cv_.wait_for(lk, k_full_retry, [&] { return closing_; });
    if (closing_)
      break;
    lk.unlock();
    r = write_out(b);
    lk.lock();
  }
  stats_.disk_full.set(0);
  if (r)
    spdlog::info("queue {}: there is space again; writing goes on", opts_.dir.string());
  return r.has_value();
}

void writer::publish(const watermark& w) {
  durable_ = w;
  wm_.publish(w);
  if (store_watermark_) {
    // The first publish past positions a failed write lost: stored durably before anything past
    // them is acknowledged, so that recovery finds positions running on from segment to segment
    // past the stored watermark, and takes a jump there for a power cut's torn end.
    if (auto r = wm_.sync(); r)
      store_watermark_ = false;
    else
      SLUICE_WARN_LIMITED("queue {}: cannot store the watermark: {}", opts_.dir.string(),
                          r.error().message());
  }
  stats_.durable_watermark.set(static_cast<std::int64_t>(w.pos));
  std::int64_t now = now_mono_ns();
  std::int64_t wall = now_unix_ns();
  while (!marks_.empty() && marks_.front().last <= w.pos) {
    stats_.durable_ns.record(static_cast<std::uint64_t>(now - marks_.front().mono_ns));
    const auto& m = marks_.front();
    if (m.received_ns > 0 && m.records > 0)
      stats_.receipt_to_durable_ns.record(
          static_cast<std::uint64_t>(std::max<std::int64_t>(0, wall - m.received_ns)), m.records);
    marks_.pop_front();
  }
  durable_cv_.notify_all();
}

void writer::syncer_loop() {
  std::unique_lock lk(mu_);
  std::int64_t last_sync = now_mono_ns();
  const auto interval = opts_.fsync.interval.count();
  for (;;) {
    auto due = [&] {
      if (failed_)
        return false;
      if (written_.pos > durable_.pos || !retired_.empty()) {
        if (sync_requested_ || writer_done_ || opts_.fsync.mode == fsync_mode::always)
          return true;
        if (opts_.fsync.mode == fsync_mode::interval && now_mono_ns() - last_sync >= interval)
          return true;
      }
      return false;
    };
    if (!due()) {
      if (writer_done_ && stop_syncer_)
        break;
      std::int64_t wait_ns = 250'000'000;
      if (opts_.fsync.mode == fsync_mode::interval && written_.pos > durable_.pos)
        wait_ns = std::max<std::int64_t>(0, last_sync + interval - now_mono_ns());
      syncer_cv_.wait_for(lk, std::chrono::nanoseconds(wait_ns));
      continue;
    }
    sync_requested_ = false;
    watermark target = written_;
    std::uint64_t target_bytes = written_bytes_;
    auto to_sync = std::move(retired_);
    retired_.clear();
    to_sync.push_back(segment_);
    bool dir_sync = dir_sync_needed_;
    dir_sync_needed_ = false;
    syncing_ = true;
    // The interval runs from the start of one group commit to the start of the next: a record
    // that just missed a commit then waits at most one interval plus one fdatasync, not two.
    last_sync = now_mono_ns();
    lk.unlock();
    std::error_code ec;
    if (dir_sync) {
      if (auto d = sync_dir(opts_.dir); !d)
        ec = d.error();
    }
    for (const auto& seg : to_sync) {
      if (ec)
        break;
      std::int64_t s0 = now_mono_ns();
      int e = opts_.faults ? injected(opts_.faults->fail_fsyncs) : 0;
      if (e == 0 && ::fdatasync(seg->fd.get()) != 0)
        e = errno;
      if (e != 0) {
        ec = std::error_code(e, std::system_category());
        break;
      }
      stats_.fsyncs.add();
      stats_.fsync_ns.record(static_cast<std::uint64_t>(now_mono_ns() - s0));
    }
    to_sync.clear();
    lk.lock();
    syncing_ = false;
    if (ec) {
      stats_.fsync_errors.add();
      SLUICE_WARN_LIMITED("queue {}: fsync failed: {}; records after position {} are failed back "
                          "to their appenders",
                          opts_.dir.string(), ec.message(), durable_.pos);
      if (!failed_) {
        failed_ = true;
        fail_ec_ = ec;
      }
      writer_cv_.notify_one();
      durable_cv_.notify_all();
      continue;
    }
    if (!failed_ && target.pos >= durable_.pos) {
      durable_bytes_ = target_bytes;
      publish(target);
    } else {
      durable_cv_.notify_all();
    }
  }
}

void writer::handle_failure(std::unique_lock<std::mutex>& lk) {
  syncer_cv_.notify_one();
  durable_cv_.wait(lk, [&] { return !syncing_; });
  std::error_code ec = fail_ec_;
  position lost_from = durable_.pos + 1, lost_to = next_pos_ - 1;
  if (lost_to >= lost_from) {
    // Every lost range is kept (a waiter may ask about one long after), merged with the one
    // before when they touch: a run of failures costs one entry.
    if (!lost_.empty() && lost_.back().second + 1 >= lost_from)
      lost_.back().second = std::max(lost_.back().second, lost_to);
    else
      lost_.emplace_back(lost_from, lost_to);
    stats_.lost_records.add(lost_to - lost_from + 1);
  }
  active_.clear();
  flushing_.clear();
  pending_bytes_ = 0;
  while (!marks_.empty() && marks_.back().last > durable_.pos)
    marks_.pop_back();
  ++fail_epoch_;

  // Put the files back to the durable point: drop newer segments, truncate the durable one.
  auto retry_later = [&](const std::error_code& e) {
    SLUICE_WARN_LIMITED("queue {}: cannot restore the durable point after a failed write: {}; "
                        "retrying",
                        opts_.dir.string(), e.message());
    if (++restore_failures_ == k_restore_attempts) {
      spdlog::error("queue {}: still cannot restore the durable point after {} attempts ({}): the "
                    "queue is failed, appends fail until it can (sources wait and retry)",
                    opts_.dir.string(), k_restore_attempts, e.message());
      stats_.failed.set(1);
    }
    durable_cv_.notify_all();
    writer_cv_.wait_for(lk, std::chrono::milliseconds(100));
  };
  // Every segment after the durable one holds failed-back records only, whether the writer
  // still has it (retired_, segment_) or a failed group commit had taken it to sync: all go.
  retired_.clear();
  bool removed = false;
  if (auto segs = list_segments(opts_.dir); !segs) {
    return retry_later(segs.error());
  } else {
    for (const auto& s : *segs)
      if (s.first > durable_.segment && s.path != segment_->path) {
        if (::unlink(s.path.c_str()) != 0 && errno != ENOENT)
          return retry_later(std::error_code(errno, std::system_category()));
        removed = true;
      }
  }
  if (segment_->first != durable_.segment) {
    if (::unlink(segment_->path.c_str()) != 0 && errno != ENOENT)
      return retry_later(std::error_code(errno, std::system_category()));
    removed = true;
    stats_.segments.add(-1);
    auto f = open_file(opts_.dir / format::segment_file_name(durable_.segment), O_WRONLY);
    if (!f)
      return retry_later(f.error());
    auto seg = std::make_shared<open_segment>();
    seg->fd = std::move(*f);
    seg->first = durable_.segment;
    seg->path = opts_.dir / format::segment_file_name(durable_.segment);
    segment_ = std::move(seg);
  }
  // The cut and the removals are made durable before appends go on: otherwise a power cut could
  // bring the failed-back records back, after newer ones were acknowledged.
  if (::ftruncate(segment_->fd.get(), static_cast<off_t>(durable_.offset)) != 0)
    return retry_later(std::error_code(errno, std::system_category()));
  int e = opts_.faults ? injected(opts_.faults->fail_fsyncs) : 0;
  if (e == 0 && ::fdatasync(segment_->fd.get()) != 0)
    e = errno;
  if (e != 0)
    return retry_later(std::error_code(e, std::system_category()));
  if (removed)
    if (auto d = sync_dir(opts_.dir); !d)
      return retry_later(d.error());
  segment_offset_ = durable_.offset;
  enc_segment_first_ = segment_->first;
  enc_segment_bytes_ = durable_.offset;
  written_ = durable_;
  written_bytes_ = durable_bytes_;
  // Recount the bytes on disk.
  std::uint64_t bytes = 0, count = 0;
  if (auto segs = list_segments(opts_.dir)) {
    for (const auto& s : *segs) {
      std::error_code fe;
      bytes += std::filesystem::file_size(s.path, fe);
      ++count;
    }
  }
  disk_bytes_ = bytes;
  stats_.disk_bytes.set(static_cast<std::int64_t>(bytes));
  stats_.segments.set(static_cast<std::int64_t>(count));
  failed_ = false;
  store_watermark_ = true;
  restore_failures_ = 0;
  stats_.failed.set(0);
  (void)ec;
  durable_cv_.notify_all();
  space_cv_.notify_all();
}

void writer::housekeeper_loop() {
  std::unique_lock lk(mu_);
  while (!stop_housekeeper_) {
    if (housekeeping_due_ || now_mono_ns() - last_housekeeping_ns_ > 1'000'000'000) {
      housekeeping(lk);
      continue;
    }
    if (!shrinking_.empty()) {
      lk.unlock();
      shrink_step();
      lk.lock();
      housekeeping_cv_.wait_for(lk, k_shrink_pause);
      continue;
    }
    housekeeping_cv_.wait_for(lk, std::chrono::milliseconds(250));
  }
  shrinking_.clear(); // what is left is freed at once, as the files close
}

void writer::shrink_step() {
  std::uint64_t backlog = 0;
  for (const auto& s : shrinking_)
    backlog += s.size;
  // Bigger steps when deletions come faster than the steps free them.
  std::uint64_t step = std::max<std::uint64_t>(k_shrink_step_bytes, backlog / 32);
  auto& front = shrinking_.front();
  front.size = front.size > step ? front.size - step : 0;
  if (front.size == 0 || ::ftruncate(front.fd.get(), static_cast<off_t>(front.size)) != 0)
    shrinking_.pop_front();
}

void writer::housekeeping(std::unique_lock<std::mutex>& lk) {
  housekeeping_due_ = false;
  last_housekeeping_ns_ = now_mono_ns();
  position durable_segment = durable_.segment;
  lk.unlock();
  auto segs = list_segments(opts_.dir);
  auto cursors = cursor_file::list(opts_.dir);
  std::vector<segment_entry> doomed;
  std::uint64_t freed = 0;
  if (cursors)
    stats_.unreadable_cursors.set(std::count_if(cursors->begin(), cursors->end(),
                                                [](const auto& c) { return c.unreadable; }));
  if (segs && cursors && !cursors->empty()) {
    position min_cursor = cursors->front().committed;
    for (const auto& c : *cursors)
      min_cursor = std::min(min_cursor, c.committed);
    // Segment i is passed when the next one starts at or before min_cursor + 1 and is durable.
    std::size_t passed = 0;
    while (passed + 1 < segs->size() && (*segs)[passed + 1].first <= min_cursor + 1 &&
           (*segs)[passed + 1].first <= durable_segment)
      ++passed;
    // Retention keeps the newest passed segments within retain_bytes / retain_age.
    std::uint64_t kept_bytes = 0;
    std::int64_t now = opts_.clock->now_ns();
    std::size_t deletable = passed;
    for (std::size_t i = passed; i-- > 0;) {
      struct stat st {};
      if (::stat((*segs)[i].path.c_str(), &st) != 0)
        continue;
      auto size = static_cast<std::uint64_t>(st.st_size);
      std::int64_t mtime =
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      bool keep_for_bytes = opts_.retain_bytes > 0 && kept_bytes < opts_.retain_bytes;
      bool keep_for_age = opts_.retain_age.count() > 0 && now - mtime < opts_.retain_age.count();
      if (keep_for_bytes || keep_for_age) {
        kept_bytes += size;
        deletable = i;
        continue;
      }
      break;
    }
    for (std::size_t i = 0; i < deletable; ++i) {
      const auto& path = (*segs)[i].path;
      auto f = open_file(path, O_WRONLY);
      bool exclusive = f && ::flock(f->get(), LOCK_EX | LOCK_NB) == 0;
      std::uint64_t size = 0;
      if (f) {
        if (auto sz = file_size(f->get()))
          size = *sz;
      }
      if (::unlink(path.c_str()) == 0) {
        doomed.push_back((*segs)[i]);
        freed += size;
        if (exclusive)
          shrinking_.push_back(shrinking_file{std::move(*f), size});
      }
    }
  }
  lk.lock();
  if (!doomed.empty()) {
    disk_bytes_ -= std::min(disk_bytes_, freed);
    stats_.segments_deleted.add(doomed.size());
    stats_.segments.add(-static_cast<std::int64_t>(doomed.size()));
    stats_.disk_bytes.set(static_cast<std::int64_t>(disk_bytes_));
    space_cv_.notify_all();
  }
}

void writer::refuse_blocked_appends() {
  std::lock_guard lk(mu_);
  refuse_blocked_ = true;
  space_cv_.notify_all();
}

result<void> writer::close() {
  std::unique_lock lk(mu_);
  if (closed_)
    return {};
  closing_ = true;
  writer_cv_.notify_all();
  space_cv_.notify_all();
  lk.unlock();
  if (writer_thread_.joinable())
    writer_thread_.join();
  lk.lock();
  stop_syncer_ = true;
  sync_requested_ = true;
  syncer_cv_.notify_all();
  lk.unlock();
  if (syncer_thread_.joinable())
    syncer_thread_.join();
  lk.lock();
  stop_housekeeper_ = true;
  housekeeping_cv_.notify_all();
  lk.unlock();
  if (housekeeper_thread_.joinable())
    housekeeper_thread_.join();
  lk.lock();
  closed_ = true;
  durable_cv_.notify_all();
  if (shutdown_ec_)
    return fail(shutdown_ec_);
  if (failed_) // stopped while the files could not be put back
    return fail(fail_ec_ ? fail_ec_ : make_error_code(errc::write_failed));
  if (durable_.pos < next_pos_ - 1 && !is_lost(next_pos_ - 1))
    return fail(fail_ec_ ? fail_ec_ : make_error_code(errc::write_failed));
  return {};
}

} // namespace sluice::queue::disk
