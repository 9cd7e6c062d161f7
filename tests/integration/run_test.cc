// `sluice run` as a user runs it: the demo, a configuration file, a bad file, a locked queue,
// and the signals that stop it.

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sqlite3.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/child_process.h"
#include "support/eventually.h"
#include "support/socket_sender.h"
#include "support/sqlite_rows.h"
#include "support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using namespace sluice::testing;

struct db_rows {
  std::int64_t count = 0, min = 0, max = 0, tweets = 0;
};

// The rows of `table` now (zeros when the database or table is not there yet).
db_rows rows_of(const std::filesystem::path& db, const std::string& table) {
  auto v = sqlite_try_ints<4>(db, "select count(*), coalesce(min(id),0), coalesce(max(id),0), "
                                  "coalesce(sum(type = 'tweet'),0) from " +
                                      table)
               .value_or(std::array<std::int64_t, 4>{});
  return db_rows{v[0], v[1], v[2], v[3]};
}

// Waits (bounded) until `table` has at least `n` rows.
db_rows wait_rows(const std::filesystem::path& db, const std::string& table, std::int64_t n,
                  std::chrono::seconds limit = 60s) {
  db_rows r;
  eventually(limit, [&] { return (r = rows_of(db, table)).count >= n; });
  return r;
}

// Waits (bounded) until `log` contains `text`.
bool wait_log(const child_process& c, const std::string& text, std::chrono::seconds limit = 30s) {
  return eventually(
      limit, [&] { return c.log().find(text) != std::string::npos; }, 10ms);
}

std::size_t count_lines(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".ndjson")
      continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);)
      ++n;
  }
  return n;
}

// Sends {"n":FIRST} .. {"n":LAST} to the listen source's socket (it may still be starting: the
// connection is tried for 5 s).
void push_lines(const std::filesystem::path& sock, int first, int last) {
  send_to_unix(sock, numbered_json_lines(first, last), 5s);
}

class run_test : public ::testing::Test {
protected:
  // A pipeline: a listen source on ROOT/push.sock into an eventlog and a sqlite subscription.
  std::filesystem::path write_config(const std::string& extra = "") {
    auto p = root_ / "pipeline.toml";
    std::ofstream f(p);
    f << "data_dir = \"" << (root_ / "data").string() << "\"\n"
      << "shutdown_timeout = \"30s\"\n"
      << extra << "\n"
      << "[queue]\nfsync = \"5ms\"\n\n"
      << "[sources.push]\ntype = \"listen\"\nlisten = [\"unix:" << (root_ / "push.sock").string()
      << "\"]\n\n"
      << "[subscriptions.log]\nsink = { type = \"eventlog\", dir = \""
      << (root_ / "events").string() << "\" }\n\n"
      << "[subscriptions.db]\nsink = { type = \"sqlite\", path = \""
      << (root_ / "db.sqlite").string()
      << "\", table = \"rows\" }\nretry = { initial = \"10ms\", max = \"50ms\" }\n";
    return p;
  }

  child_stdio logged(const std::string& name) {
    child_stdio io;
    io.pipe_stdin = false;
    io.pipe_stdout = false;
    io.log = root_ / (name + ".log");
    io.cwd = root_;
    return io;
  }

  temp_dir dir_{"run"};
  std::filesystem::path root_ = dir_.path();
};

// The demo, twice in the same directory: tweets flow from the built-in firehose into
// ./sluice-data, TERM stops it cleanly, and the second run resumes without a gap or a repeat.
TEST_F(run_test, the_demo_runs_stops_and_resumes) {
  auto db = root_ / "sluice-data" / "sluice.db";
  std::int64_t first_max = 0;
  for (int round = 0; round < 2; ++round) {
    child_process c({"run", "--demo-rate", "5000"}, logged("demo"));
    auto r = wait_rows(db, "events", first_max + 3000);
    ASSERT_GE(r.count, first_max + 3000) << c.log();
    c.kill(SIGTERM);
    auto status = c.wait(30s);
    ASSERT_TRUE(status.has_value()) << c.log();
    EXPECT_EQ(exit_code(*status), 0) << c.log();
    r = rows_of(db, "events");
    // Ids are the queue's positions: 1..N, none missing, none twice.
    EXPECT_EQ(r.min, 1);
    EXPECT_EQ(r.max, r.count);
    EXPECT_GT(r.max, first_max);
    EXPECT_GT(r.tweets, 0);
    EXPECT_LT(r.tweets, r.count); // delete and limit notices have their own types
    first_max = r.max;
  }
  auto log = file_text(root_ / "demo.log");
  EXPECT_NE(log.find("demo: a fictional firehose on http://127.0.0.1:"), std::string::npos) << log;
  EXPECT_NE(log.find("subscription sqlite:"), std::string::npos) << log;
  // The event log holds the tweets (its filter), each line a whole JSON object.
  auto lines = count_lines(root_ / "sluice-data" / "events");
  EXPECT_GT(lines, 0u);
  EXPECT_LE(static_cast<std::int64_t>(lines), rows_of(db, "events").tweets);
  EXPECT_TRUE(std::filesystem::is_symlink(root_ / "sluice-data" / "events" / "current"));
}

TEST_F(run_test, an_invalid_file_names_key_and_line_and_starts_nothing) {
  auto p = root_ / "bad.toml";
  std::ofstream(p) << "data_dir = \"" << (root_ / "data").string() << "\"\n"
                   << "[queue]\nfsync = \"sometimes\"\n[sources.s]\ntype = \"stdin\"\nformt = 1\n";
  auto r = run_sluice({"run", "-c", p.string()});
  EXPECT_EQ(r.status, 78) << r.err;
  EXPECT_NE(r.err.find("queue.fsync"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("queue.fsync (line 3)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sources.s.formt (line 6)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean \"format\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing started"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(root_ / "data"));
}

TEST_F(run_test, a_second_run_on_the_same_queue_is_refused) {
  auto cfg = write_config();
  child_process first({"run", "-c", cfg.string()}, logged("first"));
  ASSERT_TRUE(wait_log(first, "running:")) << first.log();
  auto second = run_sluice({"run", "-c", cfg.string()});
  EXPECT_EQ(second.status, 75) << second.err;
  EXPECT_NE(second.err.find(std::to_string(first.pid())), std::string::npos) << second.err;
  first.kill(SIGINT);
  auto status = first.wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(exit_code(*status), 0) << first.log();
}

// Pushed lines reach both sinks; TERM finishes and commits, and the summary says so.
TEST_F(run_test, term_delivers_what_was_pushed_and_exits_0) {
  auto cfg = write_config();
  child_process c({"run", "-c", cfg.string()}, logged("run"));
  push_lines(root_ / "push.sock", 1, 5000);
  auto r = wait_rows(root_ / "db.sqlite", "rows", 5000);
  EXPECT_EQ(r.count, 5000);
  c.kill(SIGTERM);
  auto status = c.wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(exit_code(*status), 0) << c.log();
  EXPECT_EQ(count_lines(root_ / "events"), 5000u);
  auto log = c.log();
  EXPECT_NE(log.find("source push: 5000 events collected, 0 set aside"), std::string::npos) << log;
  EXPECT_NE(log.find("subscription db: 5000 delivered, 0 filtered out, cursor at 5000, lag 0"),
            std::string::npos)
      << log;
}

// A stop that waits (the sqlite sink is locked by another connection, its batch in flight) is
// cut short by a second signal: exit 1 at once. Nothing is lost: the next run delivers all.
TEST_F(run_test, a_second_signal_exits_at_once_without_loss) {
  auto cfg = write_config();
  sqlite3* lock = nullptr;
  {
    // Create the table first so the lock can be taken before sluice writes.
    child_process c({"run", "-c", cfg.string()}, logged("setup"));
    ASSERT_TRUE(wait_log(c, "running:")) << c.log();
    c.kill(SIGTERM);
    ASSERT_TRUE(c.wait(30s).has_value());
  }
  ASSERT_EQ(sqlite3_open((root_ / "db.sqlite").c_str(), &lock), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(lock, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  {
    child_process c({"run", "-c", cfg.string()}, logged("run"));
    push_lines(root_ / "push.sock", 1, 2000);
    ASSERT_TRUE(wait_log(c, "sink failed")) << c.log();
    c.kill(SIGTERM);
    ASSERT_TRUE(wait_log(c, "stopping within")) << c.log();
    c.kill(SIGTERM);
    auto status = c.wait(30s);
    ASSERT_TRUE(status.has_value()) << c.log();
    EXPECT_EQ(exit_code(*status), 1) << c.log();
    EXPECT_NE(c.log().find("SIGTERM again: exiting now"), std::string::npos) << c.log();
  }
  sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(lock);
  EXPECT_EQ(rows_of(root_ / "db.sqlite", "rows").count, 0);
  child_process c({"run", "-c", cfg.string()}, logged("after"));
  auto r = wait_rows(root_ / "db.sqlite", "rows", 2000);
  EXPECT_EQ(r.count, 2000);
  EXPECT_EQ(r.max, 2000);
  c.kill(SIGTERM);
  auto status = c.wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(exit_code(*status), 0) << c.log();
  EXPECT_EQ(count_lines(root_ / "events"), 2000u);
}

} // namespace
