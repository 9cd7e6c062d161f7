#pragma once

// A sink's SQLite database as another process reads it while sluice writes (WAL mode): each
// call opens a connection of its own, read-only (SQLITE_OPEN_READONLY: a missing file is not
// created) with a busy timeout, runs one query and closes. A failure names the database, the SQL
// and SQLite's reason. The test target links SQLite::SQLite3 (sluice::sinks brings it).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <sqlite3.h>
#include <string>

#include <gtest/gtest.h>

namespace sluice::testing {

/// How long a query waits for a lock another connection holds.
inline constexpr std::chrono::milliseconds k_sqlite_busy{2000};

/// The text of column `col` of the row `stmt` is on; "" for NULL.
inline std::string sqlite_text(sqlite3_stmt* stmt, int col) {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, col)))
           : std::string();
}

/// Runs `sql` on the database at `db`, calling `row` for each row it returns. "" once it ran to
/// its end; otherwise why not ("sqlite DB: SQL: reason"): the file cannot be opened (it does not
/// exist yet, say), the statement fails (no such table yet) or a step fails (busy past `busy`).
/// No test failure: a wait may poll with it.
inline std::string sqlite_read(const std::filesystem::path& db, const std::string& sql,
                               const std::function<void(sqlite3_stmt*)>& row,
                               std::chrono::milliseconds busy = k_sqlite_busy) {
  auto failed = [&](const std::string& why) {
    return "sqlite " + db.string() + ": " + sql + ": " + why;
  };
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
    sqlite3_close(h);
    return failed("cannot open: " + why);
  }
  sqlite3_busy_timeout(h, static_cast<int>(busy.count()));
  sqlite3_stmt* stmt = nullptr;
  rc = sqlite3_prepare_v2(h, sql.c_str(), -1, &stmt, nullptr);
  if (rc == SQLITE_OK)
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
      row(stmt);
  std::string error = rc == SQLITE_DONE ? std::string() : failed(sqlite3_errmsg(h));
  sqlite3_finalize(stmt);
  sqlite3_close(h);
  return error;
}

/// sqlite_read() as a test step: false, with a test failure carrying its reason, when the query
/// could not be read to its end.
inline bool sqlite_each_row(const std::filesystem::path& db, const std::string& sql,
                            const std::function<void(sqlite3_stmt*)>& row) {
  auto error = sqlite_read(db, sql, row);
  if (!error.empty())
    ADD_FAILURE() << error;
  return error.empty();
}

/// The first `N` columns of the first row `sql` returns, as integers (sqlite3_column_int64: NULL
/// is 0); nothing, with the reason in `why`, when the query fails or returns no such row.
template <std::size_t N>
std::optional<std::array<std::int64_t, N>>
sqlite_first_ints(const std::filesystem::path& db, const std::string& sql, std::string& why) {
  std::optional<std::array<std::int64_t, N>> out;
  bool narrow = false;
  why = sqlite_read(db, sql, [&](sqlite3_stmt* stmt) {
    if (out || narrow)
      return;
    if (sqlite3_column_count(stmt) < static_cast<int>(N)) {
      narrow = true;
      return;
    }
    std::array<std::int64_t, N> v{};
    for (std::size_t i = 0; i < N; ++i)
      v[i] = sqlite3_column_int64(stmt, static_cast<int>(i));
    out = v;
  });
  if (why.empty() && !out)
    why = "sqlite " + db.string() + ": " + sql + ": " +
          (narrow ? "fewer than " + std::to_string(N) + " columns" : std::string("no row"));
  if (!why.empty())
    out.reset();
  return out;
}

/// sqlite_first_ints() for a wait that polls: nothing while the database, the table or the row
/// is not there (yet). No test failure.
template <std::size_t N = 1>
std::optional<std::array<std::int64_t, N>> sqlite_try_ints(const std::filesystem::path& db,
                                                           const std::string& sql) {
  std::string why;
  return sqlite_first_ints<N>(db, sql, why);
}

/// sqlite_first_ints() as a test step: a test failure with the reason, and zeros, when there is
/// no such row.
template <std::size_t N = 1>
std::array<std::int64_t, N> sqlite_ints(const std::filesystem::path& db, const std::string& sql) {
  std::string why;
  auto v = sqlite_first_ints<N>(db, sql, why);
  if (!v) {
    ADD_FAILURE() << why;
    return {};
  }
  return *v;
}

/// The one integer `sql` selects (a count, a max(id)); 0 with a test failure when it cannot be
/// read.
inline std::int64_t sqlite_int(const std::filesystem::path& db, const std::string& sql) {
  return sqlite_ints<1>(db, sql)[0];
}

/// The one integer `sql` selects; nothing (no test failure) while it cannot be read.
inline std::optional<std::int64_t> sqlite_try_int(const std::filesystem::path& db,
                                                  const std::string& sql) {
  auto v = sqlite_try_ints<1>(db, sql);
  return v ? std::optional<std::int64_t>((*v)[0]) : std::nullopt;
}

/// `SELECT count(*) FROM table [WHERE where]`.
inline std::string sqlite_count_sql(const std::string& table, const std::string& where = "") {
  return "SELECT count(*) FROM " + table + (where.empty() ? "" : " WHERE " + where);
}

/// The rows of `table` (those `where` selects, when given); 0 with a test failure when they
/// cannot be counted.
inline std::int64_t sqlite_count(const std::filesystem::path& db, const std::string& table,
                                 const std::string& where = "") {
  return sqlite_int(db, sqlite_count_sql(table, where));
}

/// The same for a wait that polls: nothing (no test failure) while the database or the table
/// does not exist.
inline std::optional<std::int64_t> sqlite_try_count(const std::filesystem::path& db,
                                                    const std::string& table,
                                                    const std::string& where = "") {
  return sqlite_try_int(db, sqlite_count_sql(table, where));
}

/// The text of the first column of the first row `sql` returns; nothing (no test failure) when
/// the query fails or returns no row.
inline std::optional<std::string> sqlite_try_text(const std::filesystem::path& db,
                                                  const std::string& sql) {
  std::optional<std::string> out;
  auto error = sqlite_read(db, sql, [&](sqlite3_stmt* stmt) {
    if (!out)
      out = sqlite_text(stmt, 0);
  });
  return error.empty() ? out : std::nullopt;
}

} // namespace sluice::testing
