#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/file.h"
#include "queue/queue.h"

namespace sluice::sinks {

/// How far an eventlog has durably written: the id of the last event its files hold and the
/// confirmed end of the file it writes to. Everything past that end, and every file with a
/// larger number, is unconfirmed and gets cut off on recovery.
struct eventlog_position {
  queue::position last_id = 0;     ///< the last event written (0: none yet)
  std::uint64_t file_seq = 0;      ///< N of the file being written (0: none yet)
  std::int64_t file_opened_ns = 0; ///< when that file was created (its name carries it)
  std::uint64_t file_bytes = 0;    ///< its confirmed length
  std::uint64_t file_events = 0;   ///< lines in it
};

/// "events-YYYYmmddTHHMMSSZ-N.ndjson".
std::string eventlog_file_name(std::int64_t opened_ns, std::uint64_t seq);
/// N of an eventlog file name; nullopt for any other name.
std::optional<std::uint64_t> parse_eventlog_file_seq(std::string_view name);

/// DIR/.eventlog-state: two slots, each in a 4 KiB block of its own, written in turn, each
/// holding a position, a sequence number and a CRC32C (layout in docs/sinks.md). A save
/// overwrites the older slot in place and fdatasyncs it, so a torn save leaves the other slot,
/// the previous position, intact. Owned by one sink; not thread-safe.
class eventlog_state {
public:
  static constexpr const char* k_file_name = ".eventlog-state";

  /// Opens DIR/.eventlog-state, creating it (durably) when absent, and reads the newest valid
  /// slot.
  static result<eventlog_state> open(const std::filesystem::path& dir);

  /// The newest position saved, nullopt when none was (a new directory).
  const std::optional<eventlog_position>& saved() const noexcept { return saved_; }

  /// True when the file shows that no position was ever saved in this directory: slot 0 holds
  /// the record written when the file was created and no save is readable (the first save, to
  /// slot 1, may have been torn). Every event file is then unconfirmed. False for a file created
  /// beside event files of a lost one (their content is unknown, not unconfirmed).
  bool never_saved() const noexcept { return never_saved_; }

  /// True when neither slot is readable (the file zeroed or overwritten): damage, reported by the
  /// sink, never taken for "nothing saved"; what the event files hold is unknown and they stay.
  bool damaged() const noexcept { return damaged_; }

  /// Saves `p` durably (pwrite + fdatasync of one slot): returns once a crash would recover it.
  result<void> save(const eventlog_position& p);

private:
  file fd_;
  std::uint64_t seq_ = 0; ///< sequence number of the newest valid slot
  std::optional<eventlog_position> saved_;
  bool never_saved_ = false;
  bool damaged_ = false;
};

} // namespace sluice::sinks
