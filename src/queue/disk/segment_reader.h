#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "queue/disk/files.h"
#include "queue/disk/watermark_file.h"
#include "queue/queue.h"

namespace sluice::queue::disk {

/// Reads segment files directly, up to the watermark published in DIR/watermark: the same code
/// serves readers inside the appending process and in any other process. Memory: one buffer of
/// `buffer_bytes` (grown only for a larger record).
class segment_reader : public reader {
public:
  /// `stats` (may be null) receives damage counts; it must outlive the reader.
  static result<std::unique_ptr<segment_reader>> open(const std::filesystem::path& dir,
                                                      start_at start, std::size_t buffer_bytes,
                                                      queue_stats* stats);

  result<void> read(batch& out, read_limits limits, std::chrono::milliseconds wait) override;
  position next_position() const noexcept override { return next_pos_; }
  void interrupt() noexcept override;

private:
  segment_reader(std::filesystem::path dir, watermark_file wm, std::size_t buffer_bytes,
                 queue_stats* stats);
  result<void> seek(start_at start);

  result<void> fill(batch& out, const read_limits& limits, const watermark& w);
  result<bool> open_segment_after(position first);
  result<std::vector<segment_entry>> listing();
  result<void> open_segment(const segment_entry& e);
  result<void> skip_damage(batch& out, std::uint64_t limit);

  std::filesystem::path dir_;
  watermark_file wm_;
  queue_stats* stats_ = nullptr;
  std::atomic<bool> interrupted_{false};

  file seg_fd_;
  position seg_first_ = 0;      ///< 0: no segment open
  std::uint64_t seg_limit_ = 0; ///< cached size of a sealed segment, 0 when unknown
  std::uint64_t offset_ = 0;    ///< file offset of the next record to parse
  position next_pos_ = 1;
  position last_seen_ = 0; ///< last valid position passed (returned or skipped)

  std::vector<char> buf_;
  std::uint64_t buf_off_ = 0;
  std::size_t buf_len_ = 0;
};

/// A segment_reader with a durable cursor and the subscription's lock.
class disk_subscription final : public subscription {
public:
  /// Opens `name` at its cursor, or at `start` when it has none (creating the cursor file).
  /// `on_commit` (may be empty) is called after each durable commit.
  static result<std::unique_ptr<disk_subscription>>
  open(const std::filesystem::path& dir, std::string_view name, start_at start,
       std::size_t buffer_bytes, queue_stats* stats, std::function<void()> on_commit,
       std::string* error_detail);

  result<void> read(batch& out, read_limits limits, std::chrono::milliseconds wait) override {
    return reader_->read(out, limits, wait);
  }
  position next_position() const noexcept override { return reader_->next_position(); }
  void interrupt() noexcept override { reader_->interrupt(); }
  const std::string& name() const noexcept override { return name_; }
  result<void> commit(position p) override;
  position committed() const noexcept override { return committed_; }

private:
  disk_subscription() = default;
  std::filesystem::path dir_;
  std::unique_ptr<segment_reader> reader_;
  std::string name_;
  file lock_;
  position committed_ = 0;
  std::function<void()> on_commit_;
};

} // namespace sluice::queue::disk
