#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "queue/errc.h"
#include "queue/stats.h"

namespace sluice::queue {

/// A record's place in the queue: 1, 2, 3, ... assigned at append, strictly increasing, never
/// reused (a failed write leaves a gap rather than reusing). 0 means "before the first record".
/// Backends that keep their own ids (a Redis Stream's "ms-seq") map them onto this ordered
/// 64-bit space, so callers compare and commit positions the same way on every backend.
using position = std::uint64_t;

/// A record to append: its receive time and its payload (copied during append).
struct record_in {
  std::int64_t received_ns = 0;
  std::string_view payload;
};

/// A record read back. `payload` points into memory the reader owns; it stays valid until the
/// next read() on that reader or the reader's destruction.
struct record {
  position pos = 0;
  std::int64_t received_ns = 0;
  std::string_view payload;
  /// Its position may be below one this reader returned before: an entry taken over from
  /// another consumer of a shared queue, or read again after a restart. A sink that skips
  /// events at or below the last position it wrote must not skip this one.
  bool unordered = false;
};

/// What one read() returned: the records in position order, and what it had to skip.
struct batch {
  std::vector<record> records;
  std::uint64_t bytes = 0;           ///< payload bytes in `records`
  std::uint64_t damaged_records = 0; ///< records skipped as damaged during this read
  std::uint64_t damaged_bytes = 0;   ///< bytes skipped as damaged during this read

  bool empty() const noexcept { return records.empty(); }
  std::size_t size() const noexcept { return records.size(); }
  position last() const noexcept { return records.empty() ? 0 : records.back().pos; }
  void clear() noexcept {
    records.clear();
    bytes = damaged_records = damaged_bytes = 0;
  }
};

/// Bounds on one read().
struct read_limits {
  std::size_t max_records = 500;
  std::size_t max_bytes = 4u << 20;
};

/// Where a reader without a committed cursor starts.
struct start_at {
  enum class kind { beginning, end, at_position };
  kind where = kind::beginning;
  position pos = 0; ///< with at_position: the first position to return

  static start_at beginning() noexcept { return {kind::beginning, 0}; }
  static start_at end() noexcept { return {kind::end, 0}; }
  static start_at at(position p) noexcept { return {kind::at_position, p}; }
  /// "beginning", "end" or a decimal position; errc::invalid_argument otherwise.
  static result<start_at> parse(std::string_view text);
};

/// The outcome of one append() call.
struct append_result {
  position first = 0;       ///< position of the first appended record (0 when none was)
  position last = 0;        ///< position of the last appended record (0 when none was)
  std::size_t appended = 0; ///< records given positions
  std::size_t dropped = 0;  ///< newest records dropped at the disk cap (when_full = drop_newest)
};

/// A subscription's cursor as the queue sees it, for stats and retention.
struct cursor_info {
  std::string name;
  position committed = 0; ///< every record at or before this one is done
  std::uint64_t lag = 0;  ///< records between the cursor and the durable watermark
  /// Its stored cursor cannot be read (damaged): `committed` is 0, which holds every record
  /// from retention until the cursor is set again.
  bool unreadable = false;
};

/// Reads records in position order up to the durable watermark. One thread at a time; interrupt()
/// may be called from any thread.
class reader {
public:
  virtual ~reader() = default;

  /// Replaces `out` with the next records (at most `limits`), never past the durable watermark.
  /// When none is available, waits up to `wait` for one; errc::timed_out if none came, with
  /// `out` empty. Damaged records on the way are skipped and counted in `out`, never fatal.
  virtual result<void> read(batch& out, read_limits limits, std::chrono::milliseconds wait) = 0;

  /// The smallest position the next read() can return.
  virtual position next_position() const noexcept = 0;

  /// Makes a read() blocked in another thread return errc::closed soon, and every later one too.
  virtual void interrupt() noexcept = 0;
};

/// A named reader with a durable cursor. On the disk backend only one subscription object per
/// name exists at a time across every process (errc::subscription_busy for the second).
class subscription : public reader {
public:
  virtual const std::string& name() const noexcept = 0;

  /// Marks every record this subscription returned up to and including `p` as done, durably:
  /// when it returns, a crash or restart resumes after `p`. Commits are cumulative; committing a
  /// position below the current cursor is ignored.
  virtual result<void> commit(position p) = 0;

  /// The last committed position (0 when nothing was).
  virtual position committed() const noexcept = 0;
};

/// The ordered, durable, append-only queue every source writes to and every subscription reads
/// from. All members are thread-safe.
class queue {
public:
  virtual ~queue() = default;

  /// Appends `records` in order and assigns their positions. Any number of threads may append;
  /// each call's records stay contiguous. With fsync "always" it returns once they are durable
  /// (concurrent calls share one fsync); otherwise once they are buffered, and wait_durable()
  /// tells when they are durable. At the disk cap it blocks (when_full = block) or drops the
  /// newest records and counts them (drop_newest). On a write or fsync failure it returns that
  /// error and nothing of this call is kept; the queue recovers and later appends work again.
  virtual result<append_result> append(std::span<const record_in> records) = 0;

  /// Waits until the record at `p` is durable: success, errc::timed_out, or the write error
  /// that lost it.
  virtual result<void> wait_durable(position p, std::chrono::milliseconds timeout) = 0;

  /// Makes everything appended so far durable now and waits for it.
  virtual result<void> sync() = 0;

  /// Opens the named subscription: at its committed cursor when it has one, otherwise at `start`
  /// (and the cursor file is created, so retention keeps what it has not read).
  virtual result<std::unique_ptr<subscription>> subscribe(std::string_view name,
                                                          start_at start) = 0;

  /// Opens a reader without a cursor (for tailing).
  virtual result<std::unique_ptr<reader>> open_reader(start_at start) = 0;

  /// The last position a reader may see: everything up to it is durable.
  virtual position durable_watermark() const noexcept = 0;

  /// The last position assigned (durable or not).
  virtual position last_position() const noexcept = 0;

  /// The oldest position the queue still holds: where a reader opened at the beginning starts
  /// (past durable_watermark() while the queue holds nothing yet). Lists the queue's files,
  /// opens none: cheap enough for a status page.
  virtual result<position> first_position() const = 0;

  /// Every subscription's cursor, including those of other processes.
  virtual std::vector<cursor_info> cursors() const = 0;

  /// The named subscription's committed position, read without taking the subscription (another
  /// process may deliver it now): nullopt when it has no cursor.
  virtual result<std::optional<position>> cursor(std::string_view name) const = 0;

  /// Moves the named subscription's cursor durably so that the next record it reads is the first
  /// after `p` (a rewind or a skip; creating the cursor when it has none). errc::subscription_busy
  /// while a subscription object of that name is open (here or in another process): close it
  /// first. errc::invalid_argument for a name base/name.h refuses.
  virtual result<void> set_cursor(std::string_view name, position p) = 0;

  /// Forgets the named subscription: its cursor goes, so retention no longer keeps records for
  /// it. Nothing when it has none; errc::subscription_busy while it is open (see set_cursor).
  virtual result<void> forget_subscription(std::string_view name) = 0;

  /// Where the queue lives, for messages and the tools (`sluice queue stats LOCATION`): a
  /// directory for the disk backend.
  virtual std::string location() const = 0;

  virtual const queue_stats& stats() const noexcept = 0;

  /// Whether positions run 1, 2, 3, ... without holes (the disk queue), so that a lag is a
  /// difference of positions. A shared queue's positions are sparse (Redis ids): its lags come
  /// from cursors().
  virtual bool dense_positions() const noexcept { return true; }

  /// Appends waiting at the disk cap (when_full = block) return errc::closed at once, and so do
  /// later appends that would wait there; appends with room, reads and commits go on. For a
  /// shutdown that must finish even while a stuck subscription holds the queue at its cap.
  virtual void refuse_blocked_appends() = 0;

  /// Stops accepting appends, makes everything appended durable, stops the queue's threads.
  /// Idempotent. Readers opened from this queue must be destroyed first.
  virtual result<void> close() = 0;
};

} // namespace sluice::queue
