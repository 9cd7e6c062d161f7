#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/disk/watermark_file.h"

namespace sluice::queue::disk {

/// A growable byte buffer that does not zero what it allocates.
class byte_buffer {
public:
  explicit byte_buffer(std::size_t capacity) : data_(new char[capacity]), cap_(capacity) {}
  char* data() noexcept { return data_.get(); }
  std::size_t size() const noexcept { return len_; }
  std::size_t capacity() const noexcept { return cap_; }
  bool empty() const noexcept { return len_ == 0; }
  /// Appends `n` uninitialised bytes and returns where they start.
  char* grow(std::size_t n);
  void clear() noexcept { len_ = 0; }
  /// Shrinks back to `capacity` when a huge record made it grow.
  void shrink_to(std::size_t capacity);

private:
  std::unique_ptr<char[]> data_;
  std::size_t cap_ = 0;
  std::size_t len_ = 0;
};

/// One segment file being written.
struct open_segment {
  file fd;
  position first = 0;
  std::filesystem::path path;
};

/// Where recovery left the last segment, for the writer to continue.
struct recovered_tail {
  std::shared_ptr<open_segment> segment;
  std::uint64_t offset = 0; ///< where the next record goes
  position next_pos = 1;
  std::uint64_t disk_bytes = 0;
  std::uint64_t segments = 0;
};

/// Scans the last segment, truncates its torn tail, creates the first segment of an empty queue.
/// Runs with the queue's lock held, before the writer starts.
result<recovered_tail> recover(const options& opts, queue_stats& stats);

/// The append path: appenders encode records into the active buffer under one mutex; a writer
/// thread writes full buffers to the current segment (rolling at segment_bytes); a syncer thread
/// fsyncs and publishes the durable watermark, and runs retention.
class writer {
public:
  writer(const options& opts, queue_stats& stats, watermark_file& wm, recovered_tail tail);
  ~writer();

  result<append_result> append(std::span<const record_in> records);
  result<void> wait_durable(position p, std::chrono::milliseconds timeout);
  result<void> sync();
  position durable() const;
  position last_assigned() const;
  /// Appends waiting at the cap (when_full = block) return errc::closed now, and so do later
  /// appends that would wait; everything else keeps working. For a shutdown that must not hang
  /// on a full disk. Any thread.
  void refuse_blocked_appends();
  /// Asks the syncer to run retention soon (after a commit).
  void request_housekeeping();
  /// Writes and fsyncs everything appended, stops the threads. Idempotent.
  result<void> close();

private:
  struct piece {
    std::size_t begin = 0, end = 0;
    bool new_segment = false;
    position segment_first = 0;
    position last = 0;
  };
  struct pending_buffer {
    explicit pending_buffer(std::size_t cap) : bytes(cap) {}
    byte_buffer bytes;
    std::vector<piece> pieces;
    std::size_t written = 0;   ///< pieces write_out() finished (it resumes after a full disk)
    bool segment_made = false; ///< the next piece's new segment exists already
    void clear() {
      bytes.clear();
      pieces.clear();
      written = 0;
      segment_made = false;
    }
  };
  struct mark {
    position last;
    std::int64_t mono_ns;
    std::int64_t received_ns; ///< the call's first record's receipt (unix ns)
    std::uint64_t records;
  };

  void writer_loop();
  void syncer_loop();
  /// Retention on a thread of its own: deleting a large segment can take tens of milliseconds
  /// (ext4 frees its extents in the unlink), which must not delay the group commit.
  void housekeeper_loop();
  /// Frees one step of the deleted segments kept open in shrinking_.
  void shrink_step();
  /// Writes the pieces of `b` not written yet. A failed write is cut back off the segment when
  /// the disk is full (ENOSPC, EDQUOT), so that a later call resumes where this one stopped.
  result<void> write_out(pending_buffer& b);
  /// After write_out() found the disk full: waits and retries until it has written `b` (true,
  /// the lock held again) or the queue closes (false: the records fail back). Intake pauses
  /// meanwhile: appenders wait for buffer space.
  bool wait_for_space(std::unique_lock<std::mutex>& lk, pending_buffer& b, result<void>& r);
  result<std::shared_ptr<open_segment>> create_segment(position first);
  void publish(const watermark& w);
  void handle_failure(std::unique_lock<std::mutex>& lk);
  void housekeeping(std::unique_lock<std::mutex>& lk);
  bool is_lost(position p) const;
  /// Whether any position of [from, to] was lost to a failed commit.
  bool lost_in(position from, position to) const;
  void encode(std::span<const record_in> records, std::int64_t now_ns);
  int injected(std::atomic<int>& counter) const;

  options opts_;
  queue_stats& stats_;
  watermark_file& wm_;

  mutable std::mutex mu_;
  std::condition_variable writer_cv_;
  std::condition_variable syncer_cv_;
  std::condition_variable housekeeping_cv_;
  std::condition_variable space_cv_;
  mutable std::condition_variable durable_cv_;

  pending_buffer active_;
  pending_buffer flushing_; // the writer thread's, outside the lock
  bool big_append_ = false;
  position next_pos_ = 1;
  position enc_segment_first_ = 0;
  std::uint64_t enc_segment_bytes_ = 0;
  std::uint64_t pending_bytes_ = 0;
  std::uint64_t reserved_bytes_ = 0; // appends past the cap check, waiting for buffer room
  std::uint64_t disk_bytes_ = 0;
  std::deque<mark> marks_;

  std::shared_ptr<open_segment> segment_; // current; replaced by the writer thread under mu_
  std::uint64_t segment_offset_ = 0;      // writer thread only
  std::vector<std::shared_ptr<open_segment>> retired_; // sealed, not yet fsynced
  watermark written_;
  watermark durable_;
  std::uint64_t written_bytes_ = 0; // bytes written since open
  std::uint64_t durable_bytes_ = 0; // of those, fsynced
  bool syncing_ = false;
  bool dir_sync_needed_ = false;
  bool sync_requested_ = false;
  bool housekeeping_due_ = true;
  std::int64_t last_housekeeping_ns_ = 0;
  bool failed_ = false;
  std::error_code fail_ec_;
  std::uint64_t fail_epoch_ = 0;
  std::deque<std::pair<position, position>> lost_;
  std::error_code shutdown_ec_;   ///< fsync = "never": the shutdown sync failed
  unsigned restore_failures_ = 0; ///< handle_failure() attempts that could not restore, in a row
  bool store_watermark_ = false;  ///< publish() msyncs the watermark (after lost positions)
  bool closing_ = false;
  bool refuse_blocked_ = false; ///< refuse_blocked_appends() was called
  bool writer_done_ = false;
  bool stop_syncer_ = false;
  bool stop_housekeeper_ = false;
  bool closed_ = false;

  std::thread writer_thread_;
  std::thread syncer_thread_;
  std::thread housekeeper_thread_;

  /// A deleted segment the housekeeper holds open and truncates in steps (its thread only).
  /// Freeing 64 MiB of extents at once puts them all into one journal commit, and on a file
  /// system mounted with `discard` every fdatasync in that commit waits for the discards: the
  /// group commit stalled for 20-60 ms at each deletion. A step per group-commit interval spreads
  /// the cost. Only segments no reader holds (see open_segment_for_reading) are shrunk; the
  /// others are freed when their reader closes them, as with a plain unlink.
  struct shrinking_file {
    file fd;
    std::uint64_t size = 0;
  };
  std::deque<shrinking_file> shrinking_;
};

} // namespace sluice::queue::disk
