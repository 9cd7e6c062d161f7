// The whole pipeline under a sink fault, the real `sluice run` as a child process: a sqlite sink
// that cannot write (its database locked) lags alone while the event log and the intake go on,
// and catches up exactly once the lock is gone.

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "firehose/generator.h"
#include "pipeline_faults_fixture.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

/// The type the http source gives the firehose's line at `rank` (default_type "event").
std::string type_of(const sluice::firehose::stream_options& o, std::uint64_t rank) {
  switch (sluice::firehose::kind_of(o, rank)) {
  case sluice::firehose::event_kind::delete_notice:
    return "delete";
  case sluice::firehose::event_kind::limit_notice:
    return "limit";
  default:
    return "event";
  }
}

// 1. A sink that cannot write lags alone: the event log and the intake go on, and once the
// database is writable again the sqlite subscription catches up without loss or duplicate.
TEST(pipeline_faults, locked_sqlite_lags_alone_then_catches_up_exactly) {
  constexpr std::uint64_t k_events = 50000;
  const sluice::firehose::stream_options stream{.seed = 3};
  temp_dir dir;
  auto db_path = dir / "sluice.db";
  auto data = dir / "data";
  auto events = dir / "events";
  // Locked before the firehose sends anything: the sink connects, but every write waits
  // busy_timeout (5 s) and fails as busy.
  write_lock lock(db_path, "events");
  ASSERT_TRUE(lock.held());

  firehose_child fh({"--count", "50000", "--seed", "3", "--resume"}, dir / "firehose.log");
  ASSERT_NE(fh.port(), 0);
  write_file(dir / "sluice.toml", "data_dir = " + toml_path(data) +
                                      "\n"
                                      "shutdown_timeout = \"20s\"\n\n"
                                      "[sources.firehose]\n"
                                      "type = \"http\"\n"
                                      "url = \"http://127.0.0.1:" +
                                      std::to_string(fh.port()) + "/1.1/statuses/filter.json\"\n\n" +
                                      eventlog_subscription(events) + sqlite_subscription(db_path));
  sluice_daemon sluice(dir / "sluice.toml", dir / "sluice.log");
  sqlite_db reader(db_path);

  // While locked: the event log receives all 50,000 and its cursor passes them ...
  ASSERT_TRUE(sluice.wait_for([&] { return eventlog_line_count(events) >= k_events; }))
      << "event log lines: " << eventlog_line_count(events) << "\n"
      << tail_of(sluice.log());
  json stats;
  ASSERT_TRUE(sluice.wait_for([&] {
    stats = queue_stats(data / "queue");
    auto e = subscription_of(stats, "eventlog");
    return e.is_object() && e["committed"] == k_events;
  })) << stats.dump();
  EXPECT_EQ(stats["last"], k_events) << stats.dump();
  // ... while the sqlite subscription has committed nothing: its lag is the whole stream.
  auto sq = subscription_of(stats, "sqlite");
  ASSERT_TRUE(sq.is_object()) << stats.dump();
  EXPECT_EQ(sq["committed"], 0) << stats.dump();
  EXPECT_EQ(sq["lag"], k_events) << stats.dump();
  EXPECT_EQ(reader.count("events"), 0);
  // The failure is a warning, with the retry.
  ASSERT_TRUE(sluice.wait_for_log("subscription sqlite: sqlite sink failed"))
      << tail_of(sluice.log());
  auto log = sluice.log();
  EXPECT_TRUE(contains(log, "database is locked")) << tail_of(log);
  EXPECT_TRUE(contains(log, "retrying in")) << tail_of(log);
  EXPECT_EQ(reader.count("events"), 0);
  EXPECT_LT(subscription_of(queue_stats(data / "queue"), "sqlite")["committed"], k_events);

  lock.release();
  ASSERT_TRUE(sluice.wait_for([&] { return reader.count("events") >= std::int64_t{k_events}; }))
      << "rows: " << reader.count("events") << "\n"
      << tail_of(sluice.log());

  // Exactly ids 1..50000, each the firehose's line at that rank, with its type.
  sluice::firehose::generator gen(stream);
  std::uint64_t expect_id = 1, wrong = 0;
  std::string first_wrong;
  ASSERT_TRUE(reader.each_row(
      "SELECT id, source, type, payload FROM events ORDER BY id", [&](sqlite3_stmt* s) {
        auto id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        bool ok = id == expect_id && sqlite_text(s, 1) == "firehose" &&
                  sqlite_text(s, 2) == type_of(stream, id) && sqlite_text(s, 3) == gen.line_at(id);
        if (!ok && wrong++ == 0)
          first_wrong = "row " + std::to_string(id) + " (expected id " + std::to_string(expect_id) +
                        "): " + sqlite_text(s, 2) + " " + sqlite_text(s, 3).substr(0, 200);
        ++expect_id;
      }));
  EXPECT_EQ(expect_id - 1, k_events);
  EXPECT_EQ(wrong, 0u) << first_wrong;
  EXPECT_EQ(reader.scalar("SELECT COUNT(DISTINCT payload) FROM events"), k_events);

  // The event log holds the same stream, in order, once.
  bool unterminated = false;
  auto lines = eventlog_lines(events, unterminated);
  EXPECT_FALSE(unterminated);
  ASSERT_EQ(lines.size(), k_events);
  std::size_t differ = 0;
  for (std::uint64_t rank = 1; rank <= k_events; ++rank)
    if (lines[rank - 1] != gen.line_at(rank) && differ++ == 0)
      ADD_FAILURE() << "event log line " << rank << ": " << lines[rank - 1].substr(0, 200);
  EXPECT_EQ(differ, 0u);

  EXPECT_EQ(sluice.stop(), 0) << tail_of(sluice.log());
  log = sluice.log();
  EXPECT_TRUE(contains(log, "subscription sqlite: 50000 delivered")) << tail_of(log);
  EXPECT_TRUE(contains(log, "subscription eventlog: 50000 delivered")) << tail_of(log);
  expect_clean_stop(fh.proc(), "firehose");
}

} // namespace
} // namespace sluice::testing
