#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

#include "sources/counters.h"

namespace sluice::sources {

/// A source's dead-letter file, DATA_DIR/dead-letter/SOURCE.ndjson: one JSON line per rejected
/// record, `{"time":"RFC 3339","source":..,"reason":..,"length":N,"record":".."}`. The record is
/// stored whole except for too_long, whose line stores its first bytes (framer::k_head_bytes)
/// and its full length. The file and its folder are created (durably) on the first rejection;
/// lines are appended with O_APPEND, and fsynced by sync(), which a source that acknowledges
/// records calls before it acks a rejected one. Thread-safe (one mutex); blocks on the file
/// write.
class dead_letter {
public:
  dead_letter(const std::filesystem::path& data_dir, std::string source, counters& stats);
  ~dead_letter();
  dead_letter(const dead_letter&) = delete;
  dead_letter& operator=(const dead_letter&) = delete;

  /// Counts the rejection by reason and writes its line; false when the line could not be
  /// written, which is counted (dead_letter_failures) and warned about: the source goes on, but
  /// must not acknowledge that record.
  bool reject(reason why, std::string_view record, std::uint64_t length);

  /// Makes every line written so far durable (fdatasync); false, counted and warned about, when
  /// that failed.
  bool sync();

  const std::filesystem::path& path() const noexcept { return path_; }

private:
  bool open_locked();

  std::filesystem::path path_;
  std::string source_;
  counters& stats_;
  std::mutex mu_;
  int fd_ = -1;
  bool dirty_ = false; ///< lines written since the last sync()
  std::string line_;
};

} // namespace sluice::sources
