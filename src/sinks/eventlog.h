#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/file.h"
#include "sinks/envelope.h"
#include "sinks/eventlog_state.h"
#include "sinks/sink.h"

namespace sluice::sinks {

/// Options of the `eventlog` sink (docs/sinks.md).
struct eventlog_options {
  std::filesystem::path dir; ///< where the files go; created when absent
  bool envelope = false;     ///< one {"id","source","received_at","type","event"} object a line
  std::uint64_t rotate_bytes = 0;                ///< start a new file past this size (0: no limit)
  std::chrono::nanoseconds rotate_interval{0};   ///< ... when the file is this old (0: never)
  std::uint64_t rotate_events = 0;               ///< ... after this many lines (0: no limit)
  const wall_clock* clock = &wall_clock::real(); ///< file names and rotate_interval; not owned
};

/// NDJSON files in a directory, one line per event: events-YYYYmmddTHHMMSSZ-N.ndjson (UTC time
/// the file was created, N increasing across the directory), with a `current` symlink to the
/// file being written. Idempotent by event id through DIR/.eventlog-state (eventlog_state.h):
/// a write() fdatasyncs the data, then the state; on open and after a failed write, data past
/// the saved state is cut off, so each event id is in the files at most once and every line is
/// complete. One sink per directory (DIR/.eventlog.lock); write() from one thread at a time.
class eventlog_sink final : public sink {
public:
  /// Creates the directory if needed, takes its lock, and recovers: truncates the current file
  /// to its confirmed length and removes files created after it. errc::invalid_config for bad
  /// options, errc::in_use when another sink holds the directory, OS errors otherwise.
  static result<std::unique_ptr<eventlog_sink>> open(eventlog_options options);

  /// Appends the events with ids above last_written() (the others are counted as duplicates),
  /// rotating as configured; returns after the data and the new state are fdatasynced (and the
  /// directory fsynced when a file was created). Blocks on disk I/O. On failure nothing counts as
  /// written and the next call first cuts off whatever the failed one left.
  result<void> write(std::span<const queue::event_view> batch) override;

  std::string_view type() const noexcept override { return "eventlog"; }

  /// The id of the last event durably written, 0 when none was.
  queue::position last_written() const noexcept { return pos_.last_id; }
  /// The file being written (empty before the first write into a new directory).
  std::filesystem::path current_file() const;

private:
  explicit eventlog_sink(eventlog_options options);

  result<void> recover();
  result<void> remove_unconfirmed_files();
  result<void> open_confirmed_file();
  result<void> create_file(eventlog_position& pos, std::int64_t now_ns);
  result<void> point_current_at(const std::string& name);
  bool rotation_due(const eventlog_position& pos, std::size_t next_line_bytes,
                    std::int64_t now_ns) const noexcept;
  std::size_t lines_that_fit(const eventlog_position& pos, std::size_t first) const noexcept;
  void format_lines(std::span<const queue::event_view> batch);
  result<void> fail_write(std::error_code ec, const char* what);

  eventlog_options options_;
  file lock_;
  std::optional<eventlog_state> state_;
  eventlog_position pos_;  ///< what the state file holds (the confirmed position)
  file file_; ///< the file pos_ names, open for appending
  std::uint64_t next_seq_ = 1;
  /// The largest N of the event files found with no saved position that could tell what they
  /// hold (a new directory, a lost or damaged state file): recovery leaves them alone.
  std::uint64_t unknown_max_seq_ = 0;
  bool needs_recover_ = false;

  // Reused across batches, so a write allocates only when a batch is larger than any before.
  std::string buf_;
  std::vector<std::size_t> line_ends_; ///< end offset in buf_ of each line, newline included
  queue::position batch_last_id_ = 0;
  envelope::utc_format times_;
};

} // namespace sluice::sinks
