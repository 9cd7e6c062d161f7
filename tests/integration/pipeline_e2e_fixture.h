#pragma once

// What the end-to-end tests of the whole pipeline share: `sluice firehose` streaming k_events
// events over HTTP into `sluice run`, which queues them and delivers every one to an event log
// and a SQLite table, in a temporary directory per test (pipeline_e2e_test); and the readers of
// what the pipeline leaves: the table, the event log's files.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <signal.h>
#include <sqlite3.h>
#include <string>
#include <sys/wait.h>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "firehose/generator.h"
#include "support/child_process.h"
#include "support/firehose_child.h"
#include "support/text.h"
#include "support/sqlite_rows.h"
#include "support/temp_dir.h"

namespace sluice::testing {

namespace fs = std::filesystem;

inline constexpr std::uint64_t k_events = 200000;
inline constexpr std::uint64_t k_seed = 7;
/// How long the pipeline may take to move everything (it takes a few seconds).
inline constexpr std::chrono::seconds k_pipeline_timeout{120};
/// How long `sluice run` may take to stop on SIGTERM (its shutdown_timeout is 10 s).
inline constexpr std::chrono::seconds k_stop_timeout{30};

inline firehose::stream_options stream_options() {
  return firehose::stream_options{.seed = k_seed};
}

/// The type `sluice run` gives rank `rank`: notices are typed by their key, tweets get the
/// source's default_type.
inline std::string expected_type(std::uint64_t rank) {
  switch (firehose::kind_of(stream_options(), rank)) {
  case firehose::event_kind::delete_notice:
    return "delete";
  case firehose::event_kind::limit_notice:
    return "limit";
  default:
    return "tweet";
  }
}


// ---------------------------------------------------------------------------------------------
// The two processes.

/// `sluice firehose` options: ending after rank k_events, resuming across connections.
inline std::vector<std::string> e2e_firehose_options() {
  return {"--count", std::to_string(k_events), "--seed", std::to_string(k_seed), "--resume"};
}

/// Where one pipeline keeps its files, and the configuration `sluice run` gets.
struct pipeline_paths {
  fs::path root;
  fs::path data() const { return root / "data"; }
  fs::path queue() const { return data() / "queue"; }
  fs::path events() const { return data() / "events"; }
  fs::path db() const { return data() / "sluice.db"; }
  fs::path config() const { return root / "sluice.toml"; }
  fs::path run_log() const { return root / "run.log"; }
  fs::path firehose_log() const { return root / "firehose.log"; }

  /// Writes the configuration: the firehose as an http source, an event log (the payloads as
  /// received) and a SQLite table (named after its subscription: "sqlite"). Small segments and
  /// event files, so that rotation and segment changes happen on the way.
  /// With `backfill`, the source asks every connection for that many events from before it and
  /// drops those already queued (a window a little larger).
  void write_config(std::uint16_t port, bool retain_everything, std::uint64_t backfill = 0) const {
    std::ofstream f(config());
    f << "data_dir = " << toml_string(data().string()) << "\n"
      << "shutdown_timeout = \"10s\"\n\n"
      << "[queue]\n"
      << "segment_bytes = \"8MiB\"\n";
    if (retain_everything)
      f << "retain_bytes = \"10GiB\"\n";
    f << "\n[sources.firehose]\n"
      << "type = \"http\"\n"
      << "url = \"http://127.0.0.1:" << port << "/1.1/statuses/filter.json\"\n"
      << "default_type = \"tweet\"\n";
    if (backfill > 0)
      f << "backfill = " << backfill << "\ndedupe_window = " << backfill + backfill / 5 << "\n";
    f << "reconnect = { network_initial = \"10ms\", network_step = \"10ms\", network_max = "
         "\"200ms\" }\n\n"
      << "[subscriptions.eventlog]\n"
      << "sink = { type = \"eventlog\", dir = " << toml_string(events().string())
      << ", rotate_bytes = \"16MiB\" }\n\n"
      << "[subscriptions.sqlite]\n"
      << "sink = { type = \"sqlite\", path = " << toml_string(db().string()) << " }\n";
  }
};

/// `sluice run -c CONFIG --no-status`, its stderr appended to the run log.
inline std::unique_ptr<child_process> start_run(const pipeline_paths& p) {
  return std::make_unique<child_process>(
      std::vector<std::string>{"run", "-c", p.config().string(), "--no-status"},
      child_stdio{.pipe_stdin = false, .pipe_stdout = false, .log = p.run_log()});
}

/// True (with a test failure) when `run` has ended although nothing stopped it.
inline bool ended_early(child_process& run) {
  auto st = run.wait(std::chrono::milliseconds(0));
  if (!st)
    return false;
  ADD_FAILURE() << "sluice run ended by itself: " << describe_status(*st) << "\n"
                << tail_of(run.log());
  return true;
}

/// Sends SIGTERM and expects exit 0 within k_stop_timeout.
inline void stop_run(child_process& run) {
  run.kill(SIGTERM);
  auto st = run.wait(k_stop_timeout);
  ASSERT_TRUE(st.has_value()) << "sluice run did not stop on SIGTERM\n" << tail_of(run.log());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << "sluice run: " << describe_status(*st) << "\n"
      << tail_of(run.log());
}

// ---------------------------------------------------------------------------------------------
// SQLite, read from this process while sluice writes (WAL mode; support/sqlite_rows.h).

/// The largest row id (the queue position of the last event stored), 0 when none is readable.
inline std::uint64_t sqlite_max_id(const fs::path& path) {
  auto v = sqlite_try_int(path, "SELECT coalesce(max(id), 0) FROM \"sqlite\"");
  return v ? static_cast<std::uint64_t>(*v) : 0;
}

/// One row of the sink's table.
struct sqlite_row {
  std::int64_t id = 0;
  std::string source;
  std::int64_t received_at = 0;
  std::string type;
  std::string payload;
};

/// The table's rows in id order, one at a time, on a read-only connection of its own.
class sqlite_rows {
public:
  explicit sqlite_rows(const fs::path& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      error_ = "sqlite " + path.string() +
               ": cannot open the database: " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
      return;
    }
    sqlite3_busy_timeout(db_, static_cast<int>(k_sqlite_busy.count()));
    if (sqlite3_prepare_v2(db_, k_select, -1, &stmt_, nullptr) != SQLITE_OK)
      error_ = "sqlite " + path.string() + ": " + k_select + ": " + sqlite3_errmsg(db_);
  }
  ~sqlite_rows() {
    sqlite3_finalize(stmt_);
    sqlite3_close(db_);
  }
  sqlite_rows(const sqlite_rows&) = delete;
  sqlite_rows& operator=(const sqlite_rows&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  /// Why the rows cannot be read; "" when they can.
  const std::string& error() const { return error_; }
  std::optional<std::int64_t> count() const { return sqlite_try_count(path_, "\"sqlite\""); }

  /// The next row; false at the end (or when a step fails).
  bool next(sqlite_row& r) {
    if (!stmt_ || sqlite3_step(stmt_) != SQLITE_ROW)
      return false;
    r.id = sqlite3_column_int64(stmt_, 0);
    r.source = sqlite_text(stmt_, 1);
    r.received_at = sqlite3_column_int64(stmt_, 2);
    r.type = sqlite_text(stmt_, 3);
    r.payload = sqlite_text(stmt_, 4);
    return true;
  }

private:
  static constexpr const char* k_select =
      "SELECT id, source, received_at, type, payload FROM \"sqlite\" ORDER BY id";

  fs::path path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string error_;
};

// ---------------------------------------------------------------------------------------------
// The event log: events-YYYYmmddTHHMMSSZ-N.ndjson files and a `current` symlink.

struct eventlog_file {
  std::string name;
  std::uint64_t seq = 0;
};

/// The event files of `dir` in name order.
inline std::vector<eventlog_file> eventlog_files(const fs::path& dir) {
  std::vector<eventlog_file> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (!name.starts_with("events-") || !name.ends_with(".ndjson") || !e.is_regular_file())
      continue;
    auto dash = name.rfind('-');
    eventlog_file f{name, 0};
    std::from_chars(name.data() + dash + 1, name.data() + name.size(), f.seq);
    files.push_back(std::move(f));
  }
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return files;
}

/// The lines of every event file, in name order, one at a time.
class eventlog_lines {
public:
  explicit eventlog_lines(const fs::path& dir) : dir_(dir), files_(eventlog_files(dir)) {}

  const std::vector<eventlog_file>& files() const { return files_; }

  /// The next line without its '\n'; false after the last. A last line without '\n' is
  /// returned with `unterminated` set.
  bool next(std::string& line) {
    for (;;) {
      if (in_.is_open() && std::getline(in_, line)) {
        if (in_.eof())
          unterminated = true;
        ++line_number_;
        return true;
      }
      if (next_file_ == files_.size())
        return false;
      in_ = std::ifstream(dir_ / files_[next_file_++].name, std::ios::binary);
      line_number_ = 0;
    }
  }

  /// The file and the 1-based line number in it of the last line next() returned.
  std::string file_name() const { return next_file_ == 0 ? "" : files_[next_file_ - 1].name; }
  std::uint64_t line_number() const { return line_number_; }

  bool unterminated = false;

private:
  std::uint64_t line_number_ = 0;
  fs::path dir_;
  std::vector<eventlog_file> files_;
  std::size_t next_file_ = 0;
  std::ifstream in_;
};

/// Checks what every test expects of the files: their numbers increase in name order, and a
/// `current` symlink names the last one.
inline void expect_eventlog_layout(const fs::path& dir) {
  auto files = eventlog_files(dir);
  ASSERT_FALSE(files.empty()) << "no event files in " << dir;
  for (std::size_t i = 1; i < files.size(); ++i)
    EXPECT_LT(files[i - 1].seq, files[i].seq)
        << files[i - 1].name << " sorts before " << files[i].name;
  std::error_code ec;
  auto target = fs::read_symlink(dir / "current", ec);
  EXPECT_FALSE(ec) << "current: " << ec.message();
  auto newest = std::max_element(files.begin(), files.end(),
                                 [](const auto& a, const auto& b) { return a.seq < b.seq; });
  EXPECT_EQ(target.filename().string(), newest->name);
}

// ---------------------------------------------------------------------------------------------

class pipeline_e2e_test : public ::testing::Test {
protected:
  // With SLUICE_TEST_KEEP=DIR in the environment, a failed test's files (configuration, logs,
  // queue, event log, database) are copied to DIR/<test name> for a post-mortem.
  void TearDown() override {
    const char* keep = std::getenv("SLUICE_TEST_KEEP");
    if (!HasFailure() || keep == nullptr || *keep == '\0')
      return;
    auto to = fs::path(keep) / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::error_code ec;
    fs::remove_all(to, ec);
    fs::create_directories(to, ec);
    fs::copy(dir_.path(), to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    std::cout << "[ kept     ] " << to.string() << (ec ? ": " + ec.message() : "") << "\n";
  }

  temp_dir dir_;
  pipeline_paths paths_{dir_.path()};
};

} // namespace sluice::testing
