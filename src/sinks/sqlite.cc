#include "sinks/sqlite.h"

#include <algorithm>
#include <array>
#include <sqlite3.h>

#include <spdlog/spdlog.h>

#include "base/log.h"
#include "config/tables.h"
#include "sinks/sink_type.h"

namespace sluice::sinks {
namespace {

constexpr std::array<std::string_view, 5> k_columns = {"id", "source", "received_at", "type",
                                                       "payload"};

bool ascii_alpha(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// Whether the connection may be stale after this failure (opened read-only, I/O trouble), so the
// next write reconnects.
bool reconnect_after(int rc) noexcept {
  switch (rc & 0xff) {
  case SQLITE_READONLY:
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
  case SQLITE_PROTOCOL:
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
  case SQLITE_ERROR:
  case SQLITE_SCHEMA:
    return true;
  default:
    return false;
  }
}

errc classify(int rc) noexcept {
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return errc::busy;
  case SQLITE_READONLY:
    return errc::read_only;
  case SQLITE_FULL:
    return errc::disk_full;
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
  case SQLITE_PROTOCOL:
    return errc::io_error;
  case SQLITE_NOMEM:
  case SQLITE_INTERRUPT:
    return errc::retryable;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return errc::corrupt;
  case SQLITE_ERROR: // "no such table/column": the table was changed under us
  case SQLITE_SCHEMA:
    return errc::schema_mismatch;
  default:
    return errc::permanent;
  }
}

} // namespace

bool valid_table_name(std::string_view name) noexcept {
  if (name.empty() || !(ascii_alpha(name[0]) || name[0] == '_'))
    return false;
  for (char c : name)
    if (!(ascii_alpha(c) || c == '_' || (c >= '0' && c <= '9')))
      return false;
  return true;
}

sqlite_sink::sqlite_sink(sqlite_options options)
    : options_(std::move(options)), quoted_table_('"' + options_.table + '"') {}

sqlite_sink::~sqlite_sink() {
  disconnect();
}

result<std::unique_ptr<sqlite_sink>> sqlite_sink::open(sqlite_options options) {
  if (options.path.empty()) {
    spdlog::error("sqlite sink: no database path");
    return fail(errc::invalid_config);
  }
  if (!valid_table_name(options.table)) {
    spdlog::error("sqlite sink: table name '{}' is not [A-Za-z_][A-Za-z0-9_]*", options.table);
    return fail(errc::invalid_config);
  }
  std::unique_ptr<sqlite_sink> s(new sqlite_sink(std::move(options)));
  if (auto r = s->connect(); !r) {
    s->disconnect();
    if (!is_retryable(r.error()))
      return fail(r.error());
  }
  return s;
}

result<void> sqlite_sink::connect() {
  int flags =
      SQLITE_OPEN_NOMUTEX |
      (options_.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(options_.path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK)
    return fail(failure(rc, "opening"));
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, static_cast<int>(options_.busy_timeout.count()));
  // A new database gets 64 KiB pages (an existing one keeps its own): rows arrive in id order,
  // and SQLite writes each WAL frame with write() calls of its own, so a batch then takes a few
  // dozen calls rather than hundreds (`sluice bench pipeline --sink sqlite`: about 1.6 times the
  // events per second of 4 KiB pages).
  if (auto r = exec("PRAGMA page_size=65536"); !r)
    return r;
  if (auto r = exec("PRAGMA journal_mode=WAL"); !r)
    return r;
  if (auto r = exec("PRAGMA synchronous=FULL"); !r)
    return r;
  if (auto r = watch_wal(); !r)
    return r;
  auto create = "CREATE TABLE IF NOT EXISTS " + quoted_table_ +
                " (id INTEGER PRIMARY KEY, source TEXT NOT NULL, received_at INTEGER NOT NULL,"
                " type TEXT NOT NULL, payload TEXT NOT NULL)";
  if (auto r = exec(create.c_str()); !r)
    return r;
  if (auto r = check_schema(); !r)
    return r;
  auto begin = prepare("BEGIN IMMEDIATE");
  auto commit = begin ? prepare("COMMIT") : begin;
  auto rollback = commit ? prepare("ROLLBACK") : commit;
  auto insert = rollback ? prepare("INSERT OR IGNORE INTO " + quoted_table_ +
                                   " (id, source, received_at, type, payload)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5)")
                         : rollback;
  if (!insert)
    return fail(insert.error());
  begin_ = *begin;
  commit_ = *commit;
  rollback_ = *rollback;
  insert_ = *insert;
  return {};
}

result<void> sqlite_sink::check_schema() {
  auto info = prepare("PRAGMA table_info(" + quoted_table_ + ")");
  if (!info)
    return fail(info.error());
  std::array<bool, k_columns.size()> seen{};
  bool id_is_key = false;
  int rc;
  while ((rc = sqlite3_step(*info)) == SQLITE_ROW) {
    auto name = reinterpret_cast<const char*>(sqlite3_column_text(*info, 1));
    auto decl = reinterpret_cast<const char*>(sqlite3_column_text(*info, 2));
    std::string_view n = name ? name : "";
    for (std::size_t i = 0; i < k_columns.size(); ++i)
      if (n == k_columns[i])
        seen[i] = true;
    if (n == "id" && sqlite3_column_int(*info, 5) == 1 && decl &&
        sqlite3_stricmp(decl, "INTEGER") == 0)
      id_is_key = true;
  }
  sqlite3_finalize(*info);
  if (rc != SQLITE_DONE)
    return fail(failure(rc, "reading the table's columns"));
  std::string missing;
  for (std::size_t i = 0; i < k_columns.size(); ++i)
    if (!seen[i])
      missing += fmt::format("{}{}", missing.empty() ? "" : ", ", k_columns[i]);
  if (!missing.empty() || !id_is_key) {
    spdlog::error("sqlite sink {}: table {} exists without the columns sluice writes "
                  "(missing: {}; id must be INTEGER PRIMARY KEY{})",
                  options_.path.string(), options_.table, missing.empty() ? "none" : missing,
                  id_is_key ? "" : ", it is not");
    disconnect();
    return fail(errc::schema_mismatch);
  }
  return {};
}

// A checkpoint copies the WAL into the database and fsyncs it: a few milliseconds per MiB.
// SQLite's own (wal_autocheckpoint) runs inside the commit that crossed the limit, so every event
// behind that commit waits for it; with 64 KiB pages its default of 1000 pages is 64 MB, long
// enough to show in the p99 (`sluice bench pipeline --sink sqlite` at 100,000 events/s: 67-75 ms
// against 25-42 ms for 4 MiB). A checkpoint thread with its own connection was worse (46-55 ms):
// its fsyncs competed with the commits'. So the delivery thread checkpoints when it has caught up
// (idle()), in the gap before the queue's next group commit makes more events readable, from
// 1 MiB on; a delivery that never catches up checkpoints in write() past 4 times that. With 4 MiB
// instead of 1 the sink's share of the p99 was larger and much less even (8 runs of 300,000
// events each: 3-50 ms, median 6.3, against 4-7 ms, median 4.7), for 7% more throughput.
// Registering a WAL hook turns SQLite's automatic checkpoints off.
result<void> sqlite_sink::watch_wal() {
  constexpr int k_checkpoint_bytes = 1 << 20;
  auto size = prepare("PRAGMA page_size");
  if (!size)
    return fail(size.error());
  int page = sqlite3_step(*size) == SQLITE_ROW ? sqlite3_column_int(*size, 0) : 0;
  sqlite3_finalize(*size);
  if (page <= 0)
    page = 4096;
  idle_checkpoint_frames_ = std::max(1, k_checkpoint_bytes / page);
  forced_checkpoint_frames_ = 4 * idle_checkpoint_frames_;
  wal_frames_ = backfilled_ = 0;
  sqlite3_wal_hook(db_, &sqlite_sink::on_wal_commit, this);
  return {};
}

int sqlite_sink::on_wal_commit(void* self, sqlite3*, const char*, int frames) noexcept {
  auto* s = static_cast<sqlite_sink*>(self);
  if (frames < s->backfilled_)
    s->backfilled_ = 0; // the WAL started over from its beginning
  s->wal_frames_ = frames;
  return SQLITE_OK;
}

void sqlite_sink::checkpoint() noexcept {
  int log = 0, copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  if (rc != SQLITE_OK) {
    // Busy (another connection checkpoints) or an I/O error: the next commit or idle tries again.
    SLUICE_WARN_LIMITED("sqlite sink {}: checkpointing the WAL failed ({}): {}",
                        options_.path.string(), rc, sqlite3_errmsg(db_));
    counters_.add(counters_.checkpoint_failures);
    return;
  }
  counters_.add(counters_.checkpoints);
  wal_frames_ = std::max(log, 0);
  backfilled_ = std::max(copied, 0);
}

void sqlite_sink::idle() noexcept {
  if (db_ != nullptr && wal_frames_ - backfilled_ >= idle_checkpoint_frames_)
    checkpoint();
}

result<void> sqlite_sink::exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK)
    return fail(failure(rc, sql));
  return {};
}

result<sqlite3_stmt*> sqlite_sink::prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK)
    return fail(failure(rc, "preparing a statement"));
  return stmt;
}

result<void> sqlite_sink::step_done(sqlite3_stmt* stmt) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE)
    return fail(failure(rc, sqlite3_sql(stmt)));
  return {};
}

void sqlite_sink::disconnect() noexcept {
  for (auto* s : {begin_, commit_, rollback_, insert_})
    sqlite3_finalize(s);
  begin_ = commit_ = rollback_ = insert_ = nullptr;
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

// Logs the failure with SQLite's message and maps it; drops a connection that may be stale.
std::error_code sqlite_sink::failure(int rc, const char* what) {
  auto ec = make_error_code(classify(rc));
  const char* msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  if (is_retryable(ec))
    SLUICE_WARN_LIMITED("sqlite sink {}: {} failed ({}): {}; will retry", options_.path.string(),
                        what, rc, msg);
  else
    spdlog::error("sqlite sink {}: {} failed ({}): {}", options_.path.string(), what, rc, msg);
  if (db_ && reconnect_after(rc)) {
    if (!sqlite3_get_autocommit(db_))
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    disconnect();
  }
  return ec;
}

result<void> sqlite_sink::write(std::span<const queue::event_view> batch) {
  if (db_ == nullptr)
    if (auto r = connect(); !r) {
      disconnect();
      counters_.add(counters_.failures);
      return r;
    }
  if (batch.empty())
    return {};
  if (auto r = step_done(begin_); !r) {
    counters_.add(counters_.failures);
    return r;
  }
  std::uint64_t inserted = 0, bytes = 0;
  for (const auto& e : batch) {
    sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(e.id));
    sqlite3_bind_text(insert_, 2, e.source.data(), static_cast<int>(e.source.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 3, e.received_ns);
    sqlite3_bind_text(insert_, 4, e.type.data(), static_cast<int>(e.type.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert_, 5, e.payload.data(), static_cast<int>(e.payload.size()),
                      SQLITE_STATIC);
    int rc = sqlite3_step(insert_);
    sqlite3_reset(insert_);
    if (rc != SQLITE_DONE) {
      auto ec = failure(rc, "inserting");
      if (db_ && !sqlite3_get_autocommit(db_))
        (void)step_done(rollback_);
      counters_.add(counters_.failures);
      return fail(ec);
    }
    if (sqlite3_changes(db_) > 0) {
      ++inserted;
      bytes += e.payload.size();
    }
  }
  if (auto r = step_done(commit_); !r) {
    if (db_ && !sqlite3_get_autocommit(db_))
      (void)step_done(rollback_);
    counters_.add(counters_.failures);
    return r;
  }
  counters_.add(counters_.events_written, inserted);
  counters_.add(counters_.bytes_written, bytes);
  counters_.add(counters_.duplicates_skipped, batch.size() - inserted);
  counters_.add(counters_.batches);
  if (wal_frames_ - backfilled_ >= forced_checkpoint_frames_)
    checkpoint(); // the batch is committed whatever this does
  return {};
}

// The sqlite type: options in config/tables_sinks.cc (sqlite_sink_options).
namespace {

result<std::unique_ptr<sink>> open_sqlite(const config::option_values& v, const sink_context&) {
  sqlite_options o;
  o.path = v.string("path");
  o.table = v.string("table"); // the subscription's name unless set
  auto r = sqlite_sink::open(std::move(o));
  if (!r)
    return fail(r.error());
  return std::unique_ptr<sink>(std::move(*r));
}

} // namespace

extern const sink_type sqlite_type{
    .name = "sqlite",
    .options = &config::sqlite_sink_options,
    .open = open_sqlite,
    .target = [](const config::option_values& v) {
      return v.string("path") + " table " + v.string("table");
    },
};

} // namespace sluice::sinks
