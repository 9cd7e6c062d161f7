#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sink_helpers.h"
#include "sinks/sqlite.h"
#include "support/sqlite_rows.h"
#include "support/temp_dir.h"

namespace sluice::sinks {
namespace {

using testing::event_batch;

struct row {
  std::int64_t id, received_at;
  std::string source, type, payload;
  bool operator==(const row&) const = default;
};

/// A second connection, as another process would have, for exec(); rows() reads on a read-only
/// connection of its own (support/sqlite_rows.h).
class db_reader {
public:
  explicit db_reader(const std::filesystem::path& p) : path_(p) {
    EXPECT_EQ(sqlite3_open(p.c_str(), &db_), SQLITE_OK);
  }
  ~db_reader() { sqlite3_close(db_); }
  std::vector<row> rows(const std::string& table) {
    using sluice::testing::sqlite_text;
    std::vector<row> out;
    sluice::testing::sqlite_each_row(
        path_, "SELECT id, source, received_at, type, payload FROM " + table + " ORDER BY id",
        [&](sqlite3_stmt* st) {
          out.push_back({sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 2),
                         sqlite_text(st, 1), sqlite_text(st, 3), sqlite_text(st, 4)});
        });
    return out;
  }
  int exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

std::vector<row> expected_rows(const event_batch& b, std::size_t from, std::size_t to) {
  std::vector<row> out;
  for (const auto& e : b.views(from, to))
    out.push_back({static_cast<std::int64_t>(e.id), e.received_ns, std::string(e.source),
                   std::string(e.type), std::string(e.payload)});
  return out;
}

std::unique_ptr<sqlite_sink> open_sink(const std::filesystem::path& db, bool read_only = false) {
  sqlite_options o;
  o.path = db;
  o.table = "events";
  o.busy_timeout = std::chrono::milliseconds(50);
  o.read_only = read_only;
  auto s = sqlite_sink::open(o);
  EXPECT_TRUE(s) << s.error().message();
  return std::move(*s);
}

TEST(sqlite_sink, writes_exact_rows) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir / "s.db");
  auto b = event_batch::make(1, 5, 3); // ids 1, 4, 7, 10, 13
  ASSERT_TRUE(sink->write(b.views()));
  EXPECT_EQ(db_reader(dir / "s.db").rows("events"), expected_rows(b, 0, 5));
  EXPECT_EQ(sink->counters().events_written.load(), 5u);
  EXPECT_EQ(sink->counters().batches.load(), 1u);
  EXPECT_EQ(sink->type(), "sqlite");
}

TEST(sqlite_sink, uses_wal_mode) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir / "s.db");
  ASSERT_TRUE(sink->write(event_batch::make(1, 1).views()));
  auto mode = sluice::testing::sqlite_try_text(dir / "s.db", "PRAGMA journal_mode");
  ASSERT_TRUE(mode.has_value());
  EXPECT_EQ(*mode, "wal");
}

TEST(sqlite_sink, redelivery_leaves_the_same_rows) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 8);
  {
    auto sink = open_sink(dir / "s.db");
    ASSERT_TRUE(sink->write(b.views(0, 5)));
    ASSERT_TRUE(sink->write(b.views(0, 5)));
    EXPECT_EQ(sink->counters().duplicates_skipped.load(), 5u);
  }
  auto sink = open_sink(dir / "s.db");
  ASSERT_TRUE(sink->write(b.views(2, 8)));
  EXPECT_EQ(sink->counters().duplicates_skipped.load(), 3u);
  EXPECT_EQ(sink->counters().events_written.load(), 3u);
  EXPECT_EQ(db_reader(dir / "s.db").rows("events"), expected_rows(b, 0, 8));
}

TEST(sqlite_sink, ten_thousand_events_in_one_batch) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir / "s.db");
  auto b = event_batch::make(100, 10000, 1, 300);
  ASSERT_TRUE(sink->write(b.views()));
  EXPECT_EQ(db_reader(dir / "s.db").rows("events"), expected_rows(b, 0, 10000));
}

std::uintmax_t size_of(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

// The WAL is copied into the database when the delivery is idle, once 1 MiB waits there; not
// before, and not inside a write below 4 MiB.
TEST(sqlite_sink, an_idle_sink_checkpoints_the_wal_past_1_mib) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir / "s.db");
  constexpr std::size_t k_batch = 500, k_batches = 10; // 10 x 500 x 300 bytes: 1.5 MB
  auto all = event_batch::make(1, k_batch * k_batches, 1, 300);
  ASSERT_TRUE(sink->write(all.views(0, k_batch)));
  sink->idle(); // 150 KB in the WAL: too little
  EXPECT_EQ(sink->counters().checkpoints.load(), 0u);
  for (std::size_t i = 1; i < k_batches; ++i)
    ASSERT_TRUE(sink->write(all.views(i * k_batch, (i + 1) * k_batch)));
  EXPECT_EQ(sink->counters().checkpoints.load(), 0u); // under the 4 MiB of write()
  auto db_before = size_of(dir / "s.db");
  EXPECT_LT(db_before, 1u << 20);
  EXPECT_GE(size_of(dir / "s.db-wal"), 1'500'000u);

  sink->idle();
  EXPECT_EQ(sink->counters().checkpoints.load(), 1u);
  EXPECT_GE(size_of(dir / "s.db"), 1'500'000u);
  sink->idle(); // everything was copied
  EXPECT_EQ(sink->counters().checkpoints.load(), 1u);
  EXPECT_EQ(sink->counters().failures.load(), 0u);
  EXPECT_EQ(sink->counters().checkpoint_failures.load(), 0u);
  EXPECT_EQ(db_reader(dir / "s.db").rows("events"), expected_rows(all, 0, k_batch * k_batches));

  // The WAL starts over: the next writes reuse it rather than growing it.
  auto wal = size_of(dir / "s.db-wal");
  auto more = event_batch::make(100'000, k_batch, 1, 300);
  ASSERT_TRUE(sink->write(more.views()));
  EXPECT_EQ(size_of(dir / "s.db-wal"), wal);
}

// A delivery that never catches up still gets its WAL checkpointed, by write() past 4 MiB.
TEST(sqlite_sink, a_sink_never_idle_checkpoints_in_write_past_4_mib) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir / "s.db");
  constexpr std::size_t k_batch = 1000, k_batches = 20; // 20 x 1000 x 300 bytes: 6 MB
  auto all = event_batch::make(1, k_batch * k_batches, 1, 300);
  for (std::size_t i = 0; i < k_batches; ++i)
    ASSERT_TRUE(sink->write(all.views(i * k_batch, (i + 1) * k_batch)));
  // About 7.5 MiB of WAL frames (each commit rewrites the last leaf and the interior pages).
  EXPECT_GE(sink->counters().checkpoints.load(), 1u);
  EXPECT_LE(sink->counters().checkpoints.load(), 2u);
  EXPECT_LT(size_of(dir / "s.db-wal"), 5u << 20);
  EXPECT_EQ(db_reader(dir / "s.db").rows("events"), expected_rows(all, 0, k_batch * k_batches));
}

TEST(sqlite_sink, busy_database_is_retryable_and_nothing_is_lost) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 10);
  auto sink = open_sink(dir / "s.db");
  ASSERT_TRUE(sink->write(b.views(0, 5)));
  db_reader other(dir / "s.db");
  ASSERT_EQ(other.exec("BEGIN IMMEDIATE"), SQLITE_OK);
  auto r = sink->write(b.views(5, 10));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::busy);
  EXPECT_TRUE(is_retryable(r.error()));
  ASSERT_EQ(other.exec("COMMIT"), SQLITE_OK);
  ASSERT_TRUE(sink->write(b.views(5, 10)));
  EXPECT_EQ(other.rows("events"), expected_rows(b, 0, 10));
}

TEST(sqlite_sink, read_only_database_is_retryable_and_nothing_is_lost) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 10);
  ASSERT_TRUE(open_sink(dir / "s.db")->write(b.views(0, 5)));
  {
    // Opened read-only, as SQLite opens a write-protected file (chmod cannot stop root).
    auto ro = open_sink(dir / "s.db", true);
    auto r = ro->write(b.views(5, 10));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::read_only) << r.error().message();
    EXPECT_TRUE(is_retryable(r.error()));
    EXPECT_EQ(ro->counters().failures.load(), 1u);
  }
  EXPECT_EQ(db_reader(dir / "s.db").rows("events"), expected_rows(b, 0, 5));
  ASSERT_TRUE(open_sink(dir / "s.db")->write(b.views(5, 10)));
  EXPECT_EQ(db_reader(dir / "s.db").rows("events"), expected_rows(b, 0, 10));
}

TEST(sqlite_sink, write_protected_file_is_retryable_until_writable_again) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "running as root: chmod does not stop writes (the read_only test covers it)";
  sluice::testing::temp_dir dir;
  auto db = dir / "s.db";
  auto b = event_batch::make(1, 10);
  ASSERT_TRUE(open_sink(db)->write(b.views(0, 5)));
  ::chmod(db.c_str(), 0444);
  ::chmod(dir.path().c_str(), 0555);
  sqlite_options o;
  o.path = db;
  o.table = "events";
  auto sink = sqlite_sink::open(o);
  ASSERT_TRUE(sink);
  auto r = (*sink)->write(b.views(5, 10));
  ::chmod(dir.path().c_str(), 0755);
  ::chmod(db.c_str(), 0644);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_retryable(r.error())) << r.error().message();
  ASSERT_TRUE((*sink)->write(b.views(5, 10))); // the same sink reconnects
  EXPECT_EQ(db_reader(db).rows("events"), expected_rows(b, 0, 10));
}

TEST(sqlite_sink, bad_table_name_is_invalid_config) {
  sluice::testing::temp_dir dir;
  for (const char* name : {"", "1abc", "a-b", "x\"; DROP TABLE y; --", "a b"}) {
    sqlite_options o;
    o.path = dir / "s.db";
    o.table = name;
    auto s = sqlite_sink::open(o);
    ASSERT_FALSE(s) << name;
    EXPECT_EQ(s.error(), errc::invalid_config);
  }
  EXPECT_TRUE(valid_table_name("_Events_2"));
}

TEST(sqlite_sink, existing_table_with_other_columns_is_a_permanent_schema_mismatch) {
  sluice::testing::temp_dir dir;
  {
    db_reader db(dir / "s.db");
    ASSERT_EQ(db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)"), SQLITE_OK);
  }
  sqlite_options o;
  o.path = dir / "s.db";
  o.table = "events";
  auto s = sqlite_sink::open(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), errc::schema_mismatch);
  EXPECT_FALSE(is_retryable(s.error()));
}

TEST(sqlite_sink, existing_table_with_extra_columns_is_accepted) {
  sluice::testing::temp_dir dir;
  {
    db_reader db(dir / "s.db");
    ASSERT_EQ(db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, source TEXT, received_at "
                      "INTEGER, type TEXT, payload TEXT, note TEXT DEFAULT 'x')"),
              SQLITE_OK);
  }
  auto sink = open_sink(dir / "s.db");
  auto b = event_batch::make(1, 2);
  ASSERT_TRUE(sink->write(b.views()));
  EXPECT_EQ(db_reader(dir / "s.db").rows("events"), expected_rows(b, 0, 2));
}

} // namespace
} // namespace sluice::sinks
