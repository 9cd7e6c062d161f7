#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/pipeline.h"
#include "queue/queue.h"
#include "sources/appender.h"
#include "sources/counters.h"
#include "sources/dead_letter.h"
#include "sources/dedupe.h"
#include "sources/framer.h"
#include "sources/record_check.h"

namespace sluice::sources {

/// What every byte stream of one source shares: its configuration, the queue, its counters and
/// its dead-letter file. Owned by the source; outlives every stream of it.
struct source_context {
  source_context(config::source_config c, queue::queue& q, const std::filesystem::path& data_dir)
      : cfg(std::move(c)), queue(q), dead(data_dir, cfg.name, stats) {}

  config::source_config cfg;
  queue::queue& queue;
  counters stats;
  dead_letter dead;
  std::atomic<bool> stopping{false};
  /// Duplicate suppression (http sources with a dedupe_field): every intake of the source drops
  /// an accepted record whose key is in the window, and adds the others'. The intakes using it
  /// must run on one thread. Null: none.
  std::unique_ptr<dedupe_window> dedupe;
  std::string dedupe_field;
};

/// One byte stream's path into the queue: frames what is read, checks each record, writes
/// rejects to the dead-letter file and stages the accepted ones as one batch, which commit()
/// appends. Not thread-safe; feed() and commit() may run on different threads one after the
/// other (feed on an I/O thread, commit where blocking is acceptable).
class intake : private framer::handler {
public:
  explicit intake(source_context& ctx);

  /// Frames `chunk`. Does not block on the queue (a reject's dead-letter line is a file write).
  void feed(std::string_view chunk);

  /// At the end of the stream: the unterminated last line becomes a record.
  void finish() { framer_.finish(*this); }

  /// The connection was lost: an unterminated last line is dropped, counted and warned about.
  void drop_partial();

  /// Records this intake staged for the queue (accepted and not duplicates): what it brought new.
  std::uint64_t added() const noexcept { return added_; }

  /// Records this intake dropped as duplicates (see source_context::dedupe).
  std::uint64_t duplicates() const noexcept { return duplicates_; }
  /// Of those, the ones dropped by their id (the dedupe field) rather than by their text: only
  /// these say for certain that another connection delivered the same event.
  std::uint64_t id_duplicates() const noexcept { return id_duplicates_; }

  /// Part of a line is held, waiting for its end.
  bool has_partial() const noexcept { return framer_.has_partial(); }

  /// Records framed (accepted or rejected) since the last commit().
  std::uint64_t framed() const noexcept { return framed_; }

  /// Whether the records rejected since the last call are safely set aside: each line written
  /// to the dead-letter file, and the file synced. What an ack may count (blocks on the sync).
  bool rejects_durable();

  /// Appends the staged records in one append (see appender::flush; blocks). Returns the
  /// append's result; `framed()` is reset either way.
  result<queue::append_result> commit();

private:
  void on_record(std::string_view record) override;
  void on_too_long(std::string_view head, std::uint64_t length) override;
  void set_aside(reason why, std::string_view record, std::uint64_t length);

  source_context& ctx_;
  bool rejects_written_ = false; ///< a reject's line was written since rejects_durable()
  bool rejects_failed_ = false;  ///< a reject's line could not be written since then
  framer framer_;
  record_check check_;
  appender appender_;
  std::int64_t received_ns_ = 0;
  std::uint64_t framed_ = 0;
  std::uint64_t added_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t id_duplicates_ = 0;
};

} // namespace sluice::sources
