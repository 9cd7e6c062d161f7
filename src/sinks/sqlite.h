#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"
#include "sinks/sink.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sluice::sinks {

/// Options of the `sqlite` sink (docs/sinks.md).
struct sqlite_options {
  std::filesystem::path path;                   ///< the database file; created when absent
  std::string table;                            ///< [A-Za-z_][A-Za-z0-9_]*; created when absent
  std::chrono::milliseconds busy_timeout{5000}; ///< how long a write waits for another writer
  /// Opens the database read-only, as SQLite does by itself when the file is write-protected.
  /// For tests (chmod does not stop root); a write then fails with errc::read_only.
  bool read_only = false;
};

/// Whether `name` is a table name the sqlite sink accepts: [A-Za-z_][A-Za-z0-9_]*.
bool valid_table_name(std::string_view name) noexcept;

/// Rows in a SQLite table: id INTEGER PRIMARY KEY (the queue position), source TEXT,
/// received_at INTEGER (ns since the Unix epoch, UTC), type TEXT, payload TEXT. WAL mode with
/// synchronous=FULL: a committed transaction is durable. The WAL is checkpointed when the
/// delivery is idle (4 MiB not yet copied), or by write() itself past 16 MiB. Each write() is one
/// transaction of INSERT OR IGNORE rows through one prepared statement, so a redelivered event
/// leaves the row that is there. Owns its connection; write() from one thread at a time.
class sqlite_sink final : public sink {
public:
  /// Validates the options and connects (creating the database and the table, checking the
  /// columns of an existing table). errc::invalid_config or errc::schema_mismatch are returned;
  /// a retryable failure to connect (locked, read-only, I/O) is logged and the first write()
  /// tries again.
  static result<std::unique_ptr<sqlite_sink>> open(sqlite_options options);
  ~sqlite_sink() override;
  sqlite_sink(const sqlite_sink&) = delete;
  sqlite_sink& operator=(const sqlite_sink&) = delete;

  /// Inserts the batch in one transaction and returns once it committed (WAL fsynced). Blocks,
  /// up to busy_timeout, while another connection writes. Busy, read-only, full and I/O failures
  /// are retryable (the connection is reopened on the next call where it may be stale); a
  /// damaged database or a changed table is permanent. On failure the transaction is rolled back.
  result<void> write(std::span<const queue::event_view> batch) override;

  /// Checkpoints the WAL into the database when it holds 4 MiB not yet copied.
  void idle() noexcept override;

  std::string_view type() const noexcept override { return "sqlite"; }

private:
  explicit sqlite_sink(sqlite_options options);

  result<void> connect();
  result<void> check_schema();
  /// Registers the WAL hook (which turns SQLite's automatic checkpoint off) and sets the
  /// thresholds of idle() and write() from the page size.
  result<void> watch_wal();
  /// A PASSIVE checkpoint on this connection; its failure is logged and counted, not returned
  /// (the WAL only grows until the next one works).
  void checkpoint() noexcept;
  static int on_wal_commit(void* self, sqlite3* db, const char* name, int frames) noexcept;
  result<void> exec(const char* sql);
  result<sqlite3_stmt*> prepare(const std::string& sql);
  result<void> step_done(sqlite3_stmt* stmt);
  void disconnect() noexcept;
  std::error_code failure(int rc, const char* what);

  sqlite_options options_;
  std::string quoted_table_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  /// Frames in the WAL after the last commit, and how many of them were copied into the
  /// database by the last checkpoint (set back when the WAL starts over).
  int wal_frames_ = 0;
  int backfilled_ = 0;
  int idle_checkpoint_frames_ = 1;   ///< idle() checkpoints from this many frames not copied
  int forced_checkpoint_frames_ = 1; ///< write() checkpoints from this many: a sink never idle
};

} // namespace sluice::sinks
