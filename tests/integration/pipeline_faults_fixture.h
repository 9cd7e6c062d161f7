#pragma once

// What the tests of the whole pipeline under faults share: the real `sluice run` as a child
// process (sluice_daemon) fed by `sluice firehose`, the sink's database and the event log read
// from the test's side, a lock that keeps the sqlite sink from writing, and the configuration
// pieces. Every wait polls a condition up to a deadline.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <signal.h>
#include <sqlite3.h>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/eventually.h"
#include "support/firehose_child.h"
#include "support/socket_sender.h"
#include "support/sqlite_rows.h"
#include "support/temp_dir.h"
#include "support/text.h"

namespace sluice::testing {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// Bound of every polled condition: far above what each takes on the 2-core machine.
inline constexpr std::chrono::seconds k_wait{60};

/// How long a stopping sluice may take (its shutdown_timeout is 20 s).
inline constexpr std::chrono::seconds k_stop_wait{40};

// ---------------------------------------------------------------------------------------------
// SQLite, from the test's side.

/// A sink's database as the test reads it while sluice writes: each call on a read-only
/// connection of its own (support/sqlite_rows.h).
class sqlite_db {
public:
  explicit sqlite_db(fs::path path) : path_(std::move(path)) {}

  /// The one integer `sql` selects; nothing when it fails (no such table yet, for instance).
  std::optional<std::int64_t> scalar(const std::string& sql) const {
    return sqlite_try_int(path_, sql);
  }

  /// Calls `row` for each row `sql` selects; false (with a test failure naming the database and
  /// the SQL) when the statement failed.
  bool each_row(const std::string& sql, const std::function<void(sqlite3_stmt*)>& row) const {
    return sqlite_each_row(path_, sql, row);
  }

  /// Rows in `table`, 0 while it does not exist.
  std::int64_t count(const std::string& table) const {
    return sqlite_try_count(path_, table).value_or(0);
  }

private:
  fs::path path_;
};

/// Holds the database's write lock from the test process, so the sqlite sink's writes wait
/// (busy_timeout) and fail as busy until release(). In WAL mode `BEGIN IMMEDIATE` takes the one
/// writer lock (EXCLUSIVE is the same there), and readers, the test's counts among them, go on.
/// Creates the sink's table first, in WAL mode, exactly as the sink would.
class write_lock {
public:
  write_lock(const fs::path& db_path, const std::string& table) {
    int rc =
        sqlite3_open_v2(db_path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << db_path << ": " << sqlite3_errstr(rc);
    sqlite3_busy_timeout(db_, 2000);
    held_ = exec("PRAGMA journal_mode=WAL") &&
            exec("CREATE TABLE IF NOT EXISTS " + table +
                 " (id INTEGER PRIMARY KEY, source TEXT NOT NULL, received_at INTEGER NOT "
                 "NULL, type TEXT NOT NULL, payload TEXT NOT NULL)") &&
            exec("BEGIN IMMEDIATE");
  }
  ~write_lock() { sqlite3_close_v2(db_); }
  write_lock(const write_lock&) = delete;
  write_lock& operator=(const write_lock&) = delete;

  bool held() const { return held_; }
  void release() {
    if (held_)
      exec("ROLLBACK");
    held_ = false;
  }

private:
  // Runs `sql`; false (with a test failure) when it fails.
  bool exec(const std::string& sql) {
    char* msg = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
    if (rc != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (msg ? msg : sqlite3_errstr(rc));
      sqlite3_free(msg);
      return false;
    }
    return true;
  }

  sqlite3* db_ = nullptr;
  bool held_ = false;
};

// ---------------------------------------------------------------------------------------------
// The event log's files.

/// The event log's files in the order they were written (by the time in the name, then N).
inline std::vector<fs::path> eventlog_files(const fs::path& dir) {
  std::vector<std::pair<std::pair<std::string, std::uint64_t>, fs::path>> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with("events-") || !name.ends_with(".ndjson"))
      continue;
    std::string stem = name.substr(0, name.size() - 7);
    auto dash = stem.rfind('-');
    std::uint64_t n = 0;
    std::from_chars(stem.data() + dash + 1, stem.data() + stem.size(), n);
    files.push_back({{stem.substr(0, dash), n}, e.path()});
  }
  std::sort(files.begin(), files.end());
  std::vector<fs::path> out;
  for (auto& f : files)
    out.push_back(f.second);
  return out;
}

/// Whole lines in the event log so far.
inline std::size_t eventlog_line_count(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& f : eventlog_files(dir)) {
    auto text = file_text(f);
    n += static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }
  return n;
}

/// Every line of the event log, in order; `unterminated` is set when a file ends mid-line.
inline std::vector<std::string> eventlog_lines(const fs::path& dir, bool& unterminated) {
  std::vector<std::string> lines;
  unterminated = false;
  for (const auto& f : eventlog_files(dir)) {
    auto text = file_text(f);
    std::size_t at = 0;
    while (at < text.size()) {
      auto nl = text.find('\n', at);
      if (nl == std::string::npos) {
        unterminated = true;
        break;
      }
      lines.emplace_back(text, at, nl - at);
      at = nl + 1;
    }
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The processes.

/// `sluice run -c CONFIG --no-status`, stdout and stderr in a log file.
class sluice_daemon {
public:
  /// `env`: added to the daemon's environment (power_cut::env(), say).
  sluice_daemon(const fs::path& config, const fs::path& log,
                const std::vector<std::string>& env = {})
      : log_(log) {
    proc_ = std::make_unique<child_process>(
        std::vector<std::string>{"run", "-c", config.string(), "--no-status"},
        child_stdio{.pipe_stdin = false, .pipe_stdout = false, .log = log, .env = env});
  }

  std::string log() const { return file_text(log_); }
  /// False once the process has ended (it is reaped then).
  bool running() { return !proc_->wait(std::chrono::milliseconds(0)).has_value(); }

  /// Polls `done` until it holds; false when the daemon ended first or at the timeout.
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = k_wait) {
    bool ended = false;
    bool ok = eventually(
        timeout,
        [&] {
          if (done())
            return true;
          ended = !running();
          return ended;
        },
        std::chrono::milliseconds(50));
    return ok && !ended;
  }

  /// Waits until the log says `text`; false when sluice ended first or at the timeout.
  bool wait_for_log(std::string_view text, std::chrono::milliseconds timeout = k_wait) {
    return wait_for([&] { return contains(log(), text); }, timeout);
  }

  /// Sends `signal` to the daemon (SIGKILL: a crash at this moment).
  void kill(int signal) { proc_->kill(signal); }

  /// SIGTERM, then the wait status: its exit_code(), or -1 (with a test failure) when it did not
  /// end within k_stop_wait and had to be killed. A daemon that already ended is not signalled.
  int stop() {
    if (auto ended = proc_->wait(std::chrono::milliseconds(0)))
      return exit_code(*ended);
    proc_->kill(SIGTERM);
    auto raw = proc_->wait(k_stop_wait);
    if (!raw) {
      ADD_FAILURE() << "sluice did not stop within " << k_stop_wait.count() << " s of SIGTERM\n"
                    << tail_of(log());
      proc_->kill(SIGKILL);
      (void)proc_->wait(std::chrono::seconds(10));
      return -1;
    }
    return exit_code(*raw);
  }

private:
  fs::path log_;
  std::unique_ptr<child_process> proc_;
};

/// Stops a child with SIGTERM and expects exit 0.
inline void expect_clean_stop(child_process& c, const char* what) {
  c.kill(SIGTERM);
  auto raw = c.wait(std::chrono::milliseconds(k_stop_wait));
  ASSERT_TRUE(raw.has_value()) << what << " did not stop on SIGTERM\n" << c.log();
  EXPECT_EQ(exit_code(*raw), 0) << what << ": " << describe_status(*raw) << "\n" << c.log();
}

/// `sluice queue stats --json DIR` of a running daemon's queue.
inline json queue_stats(const fs::path& queue_dir) {
  auto r = run_sluice({"queue", "stats", "--json", queue_dir.string()});
  EXPECT_EQ(r.status, 0) << r.err;
  try {
    return json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "queue stats --json: " << e.what() << ": " << r.out << r.err;
    return json::object();
  }
}

/// The subscription's entry of a queue_stats() answer (null when absent).
inline json subscription_of(const json& stats, std::string_view name) {
  if (stats.contains("subscriptions"))
    for (const auto& s : stats["subscriptions"])
      if (s["name"] == name)
        return s;
  return nullptr;
}

inline void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << p;
}

/// A path as a TOML basic string.
inline std::string toml_path(const fs::path& p) {
  return "\"" + p.string() + "\"";
}

inline std::string sqlite_subscription(const fs::path& db) {
  return "[subscriptions.sqlite]\n"
         "sink = { type = \"sqlite\", path = " +
         toml_path(db) +
         ", table = \"events\" }\n"
         "retry = { initial = \"10ms\", max = \"100ms\" }\n\n";
}

inline std::string eventlog_subscription(const fs::path& dir) {
  return "[subscriptions.eventlog]\n"
         "sink = { type = \"eventlog\", dir = " +
         toml_path(dir) + " }\n\n";
}

/// A `listen` pipeline: its config and a daemon bound to a free TCP port (retried when another
/// process took the port between the probe and sluice's bind).
struct listen_pipeline {
  std::uint16_t port = 0;
  fs::path unix_path;
  std::unique_ptr<sluice_daemon> daemon;
};

/// Writes the configuration `make_config(port)` and starts sluice until its listen source
/// "push" is up. `env`: for the daemon (power_cut::env(), say); a daemon that the simulator cut
/// before its source started is left ended.
inline void start_listen_pipeline(const temp_dir& dir,
                                  const std::function<std::string(std::uint16_t)>& make_config,
                                  listen_pipeline& out, const std::vector<std::string>& env = {}) {
  for (int attempt = 1; attempt <= 5; ++attempt) {
    out.port = closed_port(); // free a moment ago
    ASSERT_NE(out.port, 0);
    auto cfg = dir / "sluice.toml";
    write_file(cfg, make_config(out.port));
    // A log of its own for each start: an earlier start's "started" must not count.
    fs::path log;
    for (int n = attempt; fs::exists(log = dir / ("sluice-" + std::to_string(n) + ".log"));)
      ++n;
    out.daemon = std::make_unique<sluice_daemon>(cfg, log, env);
    if (out.daemon->wait_for_log("source push: started", std::chrono::seconds(30)))
      return;
    bool port_taken = contains(out.daemon->log(), "cannot listen");
    if (!port_taken && !env.empty() && !out.daemon->running())
      return; // cut short under the power-loss simulator: the caller sees it ended
    out.daemon->stop();
    ASSERT_TRUE(port_taken) << "sluice did not start its listen source\n" << out.daemon->log();
  }
  FAIL() << "no free TCP port for the listen source after 5 attempts";
}

/// The configuration of a listen source "push" (TCP `port` and Unix `unix_path`, format lines,
/// and `source_options` lines) with `queue` as its [queue] table and `subscriptions` after it.
inline std::string listen_config(const temp_dir& dir, std::uint16_t port, const fs::path& unix_path,
                                 const std::string& queue, const std::string& subscriptions,
                                 const std::string& source_options = "") {
  return "data_dir = " + toml_path(dir / "data") +
         "\n"
         "shutdown_timeout = \"20s\"\n\n"
         "[queue]\n" +
         queue +
         "\n"
         "[sources.push]\n"
         "type = \"listen\"\n"
         "listen = [\"tcp://127.0.0.1:" +
         std::to_string(port) + "\", \"unix:" + unix_path.string() +
         "\"]\n"
         "format = \"lines\"\n" +
         source_options + "\n" + subscriptions;
}

/// Every payload of the sink's table, in id order; checks the ids are 1..N without a gap.
inline std::vector<std::string> sqlite_payloads(const sqlite_db& db) {
  std::vector<std::string> payloads;
  std::int64_t expect_id = 1, gaps = 0;
  EXPECT_TRUE(db.each_row("SELECT id, payload FROM events ORDER BY id", [&](sqlite3_stmt* s) {
    if (sqlite3_column_int64(s, 0) != expect_id++)
      ++gaps;
    payloads.push_back(sqlite_text(s, 1));
  }));
  EXPECT_EQ(gaps, 0) << "the ids are not 1.." << payloads.size();
  return payloads;
}

} // namespace sluice::testing
