#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "config/pipeline.h"
#include "queue/queue.h"

namespace sluice::queue::disk {

using config::fsync_mode;
using config::when_full_mode;

/// Makes the queue's own writes and fsyncs fail, for fault tests. Thread-safe; the queue checks it
/// before each write and fsync when options::faults points at one.
struct fault_probe {
  std::atomic<int> fail_writes{0}; ///< the next N writes fail with `error`
  std::atomic<int> fail_fsyncs{0}; ///< the next N fsyncs fail with `error`
  std::atomic<int> error{5};       ///< errno to fail with (EIO by default)
};

struct options {
  std::filesystem::path dir;
  std::uint64_t segment_bytes = 64ull << 20;
  /// always: append() returns once its records are fsynced (group commit across appenders);
  /// interval: a background fsync every `fsync.interval`; never: the OS writes back.
  config::fsync_setting fsync;
  std::uint64_t max_disk = 0; ///< 0: no cap
  /// What append() does when the queue holds `max_disk` bytes.
  when_full_mode when_full = when_full_mode::block;
  std::uint64_t retain_bytes = 0;            ///< keep at least this many bytes of consumed segments
  std::chrono::nanoseconds retain_age{0};    ///< keep consumed segments younger than this
  std::size_t write_buffer_bytes = 1u << 20; ///< each of the writer's two buffers
  /// Written but not yet fsynced bytes the writer lets build up before it waits for the syncer:
  /// bounds the append-to-durable latency when appends outrun the disk. 0: no bound.
  std::uint64_t max_unsynced_bytes = 128ull << 20;
  std::size_t max_record_bytes = 64u << 20; ///< larger payloads: errc::record_too_large
  std::size_t read_buffer_bytes = 1u << 20; ///< each reader's buffer (grows for larger records)
  const wall_clock* clock = &wall_clock::real();
  fault_probe* faults = nullptr;
};

/// The options a configuration's [queue] table and data_dir describe: the queue lives in
/// DATA_DIR/queue, and its largest record fits the largest source's max_record_bytes.
options options_of(const config::pipeline_config& cfg);

/// Opens (creating if needed) the queue in `opts.dir` for appending: takes its lock (errc::locked,
/// with the holder's pid in `error_detail` when another process has it), recovers a torn tail,
/// and starts the writer and syncer threads.
result<std::unique_ptr<queue>> open(const options& opts, std::string* error_detail = nullptr);

/// Read-only access from a process that does not append (`sluice queue tail`, `drain`): follows
/// the watermark the appending process publishes. No lock on the queue; a subscription takes its
/// own lock.
result<std::unique_ptr<reader>> open_reader(const std::filesystem::path& dir, start_at start);
result<std::unique_ptr<subscription>> subscribe(const std::filesystem::path& dir,
                                                std::string_view name, start_at start,
                                                std::string* error_detail = nullptr);

/// A queue's state as its files show it, without opening it for appending.
struct segment_info {
  std::string file;
  position first = 0;
  std::uint64_t bytes = 0;
};
struct queue_info {
  std::vector<segment_info> segments;
  std::uint64_t bytes = 0;
  position first = 0;     ///< first position still held (0 when empty)
  position last = 0;      ///< last position written (0 when empty)
  position watermark = 0; ///< durable watermark
  int writer_pid = 0;     ///< the process holding the append lock, 0 when none
  std::vector<cursor_info> cursors;
};
result<queue_info> inspect(const std::filesystem::path& dir);

/// One damaged byte range found by verify.
struct damage {
  std::string segment;      ///< segment file name
  std::uint64_t offset = 0; ///< first damaged byte
  std::uint64_t bytes = 0;  ///< damaged bytes
  position after = 0;       ///< last valid position before it (0 when none)
  position before = 0;      ///< first valid position after it (0 when none)
  bool torn_tail = false;   ///< at the end of the last segment: recovery would truncate it
  std::string reason;       ///< "crc mismatch", "bad header", "short record", ...
};
struct verify_report {
  std::uint64_t segments = 0;
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::vector<damage> damages;
  bool clean() const noexcept { return damages.empty(); }
};
/// Checks every record of every segment. Safe while a writer appends (stops at its watermark).
result<verify_report> verify(const std::filesystem::path& dir);

struct repair_report {
  verify_report before;
  std::uint64_t truncated_bytes = 0;
  std::uint64_t quarantined_bytes = 0;
  std::vector<std::string> quarantine_files; ///< under DIR/quarantine/
};
/// Truncates torn tails and moves damaged ranges to DIR/quarantine/, rewriting each damaged segment
/// with only its valid records. Takes the append lock (errc::locked while a writer runs).
result<repair_report> repair(const std::filesystem::path& dir, std::string* error_detail = nullptr);

} // namespace sluice::queue::disk
