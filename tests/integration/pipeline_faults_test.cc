// The whole pipeline under faults, the real `sluice run` as a child process: a sink that cannot
// write while the others go on, bad input set aside by reason, many pushers at once, and pushers
// blocked at the queue's disk cap. Every wait polls a condition up to a deadline.

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <signal.h>
#include <sqlite3.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "firehose/generator.h"
#include "queue/tests/test_dir.h"
#include "support/child_process.h"
#include "support/eventually.h"

namespace {

using namespace std::chrono_literals;
using namespace sluice::testing;
namespace fs = std::filesystem;
using json = nlohmann::json;

/// Bound of every polled condition: far above what each takes on the 2-core machine.
constexpr std::chrono::seconds k_wait{60};

/// How long a stopping sluice may take (its shutdown_timeout is 20 s).
constexpr std::chrono::seconds k_stop_wait{40};

bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

// The last `n` bytes of a log, for failure messages.
std::string tail_of(const std::string& log, std::size_t n = 4000) {
  return log.size() <= n ? log : "..." + log.substr(log.size() - n);
}

// ---------------------------------------------------------------------------------------------
// SQLite, from the test's side.

/// A connection of the test's own to a sink's database. Not thread-safe.
class sqlite_db {
public:
  explicit sqlite_db(const fs::path& path) {
    int rc =
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << path << ": " << sqlite3_errstr(rc);
    sqlite3_busy_timeout(db_, 2000);
  }
  ~sqlite_db() { sqlite3_close_v2(db_); }
  sqlite_db(const sqlite_db&) = delete;
  sqlite_db& operator=(const sqlite_db&) = delete;

  /// Runs `sql`; false (with a test failure) when it fails.
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

  /// The one integer `sql` selects; nothing when it fails (no such table yet, for instance).
  std::optional<std::int64_t> scalar(const std::string& sql) {
    std::optional<std::int64_t> value;
    each_row(sql, [&](sqlite3_stmt* s) { value = sqlite3_column_int64(s, 0); });
    return value;
  }

  /// Calls `row` for each row `sql` selects; false when the statement failed.
  bool each_row(const std::string& sql, const std::function<void(sqlite3_stmt*)>& row) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      return false;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
      row(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE;
  }

  /// Rows in `table`, 0 while it does not exist.
  std::int64_t count(const std::string& table) {
    return scalar("SELECT COUNT(*) FROM " + table).value_or(0);
  }

private:
  sqlite3* db_ = nullptr;
};

std::string column_text(sqlite3_stmt* s, int col) {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(s, col)));
}

/// Holds the database's write lock from the test process, so the sqlite sink's writes wait
/// (busy_timeout) and fail as busy until release(). In WAL mode `BEGIN IMMEDIATE` takes the one
/// writer lock (EXCLUSIVE is the same there), and readers, the test's counts among them, go on.
/// Creates the sink's table first, in WAL mode, exactly as the sink would.
class write_lock {
public:
  write_lock(const fs::path& db_path, const std::string& table) : db_(db_path) {
    held_ = db_.exec("PRAGMA journal_mode=WAL") &&
            db_.exec("CREATE TABLE IF NOT EXISTS " + table +
                     " (id INTEGER PRIMARY KEY, source TEXT NOT NULL, received_at INTEGER NOT "
                     "NULL, type TEXT NOT NULL, payload TEXT NOT NULL)") &&
            db_.exec("BEGIN IMMEDIATE");
  }
  bool held() const { return held_; }
  void release() {
    if (held_)
      db_.exec("ROLLBACK");
    held_ = false;
  }

private:
  sqlite_db db_;
  bool held_ = false;
};

// ---------------------------------------------------------------------------------------------
// The event log's files.

/// The event log's files in the order they were written (by the time in the name, then N).
std::vector<fs::path> eventlog_files(const fs::path& dir) {
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
std::size_t eventlog_line_count(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& f : eventlog_files(dir)) {
    auto text = file_text(f);
    n += static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }
  return n;
}

/// Every line of the event log, in order; `unterminated` is set when a file ends mid-line.
std::vector<std::string> eventlog_lines(const fs::path& dir, bool& unterminated) {
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

/// `sluice firehose --listen 127.0.0.1:0 ARGS...` with its port read from its first line.
struct firehose_child {
  std::unique_ptr<child_process> proc;
  std::uint16_t port = 0;
};

firehose_child start_firehose(const test_dir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"firehose", "--listen", "127.0.0.1:0"});
  firehose_child f;
  f.proc = std::make_unique<child_process>(
      args, child_stdio{.pipe_stdin = false, .pipe_stdout = true, .log = dir / "firehose.log"});
  auto line = f.proc->read_line(steady::now() + 15s);
  constexpr std::string_view prefix = "listening on 127.0.0.1:";
  if (!line || !line->starts_with(prefix)) {
    ADD_FAILURE() << "firehose did not say where it listens: " << line.value_or("(nothing)") << "\n"
                  << f.proc->log();
    return f;
  }
  std::string_view port = std::string_view(*line).substr(prefix.size());
  std::from_chars(port.data(), port.data() + port.size(), f.port);
  return f;
}

/// `sluice run -c CONFIG --no-status`, stdout and stderr in a log file.
class sluice_daemon {
public:
  sluice_daemon(const fs::path& config, const fs::path& log) : log_(log) {
    proc_ = std::make_unique<child_process>(
        std::vector<std::string>{"run", "-c", config.string(), "--no-status"},
        child_stdio{.pipe_stdin = false, .pipe_stdout = false, .log = log});
  }

  std::string log() const { return file_text(log_); }
  /// False once the process has ended (it is reaped then).
  bool running() { return !proc_->wait(0ms).has_value(); }

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
        50ms);
    return ok && !ended;
  }

  /// Waits until the log says `text`; false when sluice ended first or at the timeout.
  bool wait_for_log(std::string_view text, std::chrono::milliseconds timeout = k_wait) {
    return wait_for([&] { return contains(log(), text); }, timeout);
  }

  /// SIGTERM, then the wait status: its exit_code(), or -1 (with a test failure) when it did not
  /// end within k_stop_wait and had to be killed. A daemon that already ended is not signalled.
  int stop() {
    if (auto ended = proc_->wait(0ms))
      return exit_code(*ended);
    proc_->kill(SIGTERM);
    auto raw = proc_->wait(k_stop_wait);
    if (!raw) {
      ADD_FAILURE() << "sluice did not stop within " << k_stop_wait.count() << " s of SIGTERM\n"
                    << tail_of(log());
      proc_->kill(SIGKILL);
      (void)proc_->wait(10s);
      return -1;
    }
    return exit_code(*raw);
  }

private:
  fs::path log_;
  std::unique_ptr<child_process> proc_;
};

/// Stops a child with SIGTERM and expects exit 0.
void expect_clean_stop(child_process& c, const char* what) {
  c.kill(SIGTERM);
  auto raw = c.wait(std::chrono::milliseconds(k_stop_wait));
  ASSERT_TRUE(raw.has_value()) << what << " did not stop on SIGTERM\n" << c.log();
  EXPECT_EQ(exit_code(*raw), 0) << what << ": " << describe_status(*raw) << "\n" << c.log();
}

/// `sluice queue stats --json DIR` of a running daemon's queue.
json queue_stats(const fs::path& queue_dir) {
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
json subscription_of(const json& stats, std::string_view name) {
  if (stats.contains("subscriptions"))
    for (const auto& s : stats["subscriptions"])
      if (s["name"] == name)
        return s;
  return nullptr;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << p;
}

// ---------------------------------------------------------------------------------------------
// Pushers for the listen source.

/// A port that was free a moment ago (bound to port 0, then closed); 0 on failure.
std::uint16_t free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

/// Connects to 127.0.0.1:`port` (when `unix_path` is empty) or to the Unix socket, with SO_SNDBUF
/// `sndbuf` unless 0; -1 and `error` on failure.
int connect_pusher(std::uint16_t port, const std::string& unix_path, int sndbuf,
                   std::string& error) {
  int fd = ::socket(unix_path.empty() ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sndbuf > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  int rc;
  if (unix_path.empty()) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, unix_path.c_str(), sizeof a.sun_path - 1);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0) {
    error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

/// What pushers send: `lines` lines each, "p<k>-<i>" for i in 0..lines-1, followed by "-" and
/// `pad` x's when pad > 0.
struct push_plan {
  int pushers = 50;
  int lines = 10000;
  std::size_t pad = 0;
  /// SO_SNDBUF of the pushers' sockets, 0 for the default. Small, so that what the kernel holds
  /// for a blocked pusher is small next to what it sends.
  int sndbuf = 0;

  std::size_t total() const { return static_cast<std::size_t>(pushers) * lines; }
  std::string suffix() const { return pad > 0 ? "-" + std::string(pad, 'x') : std::string(); }

  /// Everything pusher `k` sends.
  std::string data(int k) const {
    std::string s, tail = suffix() + "\n";
    for (int i = 0; i < lines; ++i)
      s += "p" + std::to_string(k) + "-" + std::to_string(i) + tail;
    return s;
  }

  /// The index k * lines + i of a line "p<k>-<i><suffix>"; nothing for any other text.
  std::optional<std::size_t> index_of(std::string_view s) const {
    auto sfx = suffix();
    if (s.size() < 4 + sfx.size() || s[0] != 'p' || !s.ends_with(sfx))
      return std::nullopt;
    s.remove_suffix(sfx.size());
    auto dash = s.find('-');
    if (dash == std::string_view::npos)
      return std::nullopt;
    int k = -1, i = -1;
    auto rk = std::from_chars(s.data() + 1, s.data() + dash, k);
    auto ri = std::from_chars(s.data() + dash + 1, s.data() + s.size(), i);
    if (rk.ec != std::errc() || rk.ptr != s.data() + dash || ri.ec != std::errc() ||
        ri.ptr != s.data() + s.size() || k < 0 || k >= pushers || i < 0 || i >= lines)
      return std::nullopt;
    return static_cast<std::size_t>(k) * static_cast<std::size_t>(lines) +
           static_cast<std::size_t>(i);
  }
};

/// Pushers on threads of the test: pusher k connects over TCP when k is even, over the Unix
/// socket when odd, writes its lines with plain blocking sends, and closes.
class pushers {
public:
  pushers(const push_plan& plan, std::uint16_t port, std::string unix_path)
      : fds_(static_cast<std::size_t>(plan.pushers), -1) {
    for (int k = 0; k < plan.pushers; ++k)
      threads_.emplace_back([this, k, plan, port, unix_path] { push(plan, k, port, unix_path); });
  }
  /// Shuts down the sockets of pushers still sending (a test that failed while they were
  /// blocked), then joins.
  ~pushers() {
    {
      std::lock_guard lock(mu_);
      abandoned_ = true;
      for (int fd : fds_)
        if (fd >= 0)
          ::shutdown(fd, SHUT_RDWR);
    }
    join();
  }

  int finished() const { return finished_.load(); }
  void join() {
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }
  std::string errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

private:
  void push(const push_plan& plan, int k, std::uint16_t port, const std::string& unix_path) {
    std::string error;
    int fd = connect_pusher(port, k % 2 == 0 ? std::string() : unix_path, plan.sndbuf, error);
    if (fd >= 0) {
      {
        std::lock_guard lock(mu_);
        if (abandoned_)
          ::shutdown(fd, SHUT_RDWR);
        fds_[static_cast<std::size_t>(k)] = fd;
      }
      std::string data = plan.data(k);
      std::string_view rest = data;
      while (!rest.empty()) {
        ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0) {
          error = std::string("send: ") + std::strerror(errno);
          break;
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
      }
      std::lock_guard lock(mu_); // no shutdown() of a closed (and maybe reused) descriptor
      fds_[static_cast<std::size_t>(k)] = -1;
      ::close(fd);
    }
    std::lock_guard lock(mu_);
    if (!error.empty())
      errors_ += "pusher " + std::to_string(k) + ": " + error + "\n";
    finished_.fetch_add(1);
  }

  std::vector<std::thread> threads_;
  std::atomic<int> finished_{0};
  std::mutex mu_;
  std::vector<int> fds_; // of pushers still sending, -1 otherwise; under mu_
  bool abandoned_ = false;
  std::string errors_;
};

/// Checks that `payloads` hold every pushed line exactly once and nothing else.
void expect_each_pushed_once(const std::vector<std::string>& payloads, const push_plan& plan,
                             const char* where) {
  std::vector<std::uint8_t> seen(plan.total(), 0);
  std::size_t foreign = 0, duplicates = 0;
  std::string first_problem;
  for (const auto& p : payloads) {
    auto at = plan.index_of(p);
    if (!at) {
      if (foreign++ == 0)
        first_problem = "unexpected line '" + p.substr(0, 80) + "'";
      continue;
    }
    if (seen[*at]++ > 0 && duplicates++ == 0 && first_problem.empty())
      first_problem = "duplicate '" + p + "'";
  }
  std::size_t missing = 0;
  for (std::size_t at = 0; at < seen.size(); ++at)
    if (seen[at] == 0 && missing++ == 0 && first_problem.empty())
      first_problem =
          "missing p" + std::to_string(at / plan.lines) + "-" + std::to_string(at % plan.lines);
  EXPECT_EQ(payloads.size(), seen.size()) << where;
  EXPECT_EQ(missing, 0u) << where << ": " << first_problem;
  EXPECT_EQ(duplicates, 0u) << where << ": " << first_problem;
  EXPECT_EQ(foreign, 0u) << where << ": " << first_problem;
}

/// A `listen` pipeline: its config and a daemon bound to a free TCP port (retried when another
/// process took the port between the probe and sluice's bind).
struct listen_pipeline {
  std::uint16_t port = 0;
  fs::path unix_path;
  std::unique_ptr<sluice_daemon> daemon;
};

/// Writes the configuration `make_config(port)` and starts sluice until its listen source
/// "push" is up.
void start_listen_pipeline(const test_dir& dir,
                           const std::function<std::string(std::uint16_t)>& make_config,
                           listen_pipeline& out) {
  for (int attempt = 1; attempt <= 5; ++attempt) {
    out.port = free_tcp_port();
    ASSERT_NE(out.port, 0);
    auto cfg = dir / "sluice.toml";
    write_file(cfg, make_config(out.port));
    auto log = dir / ("sluice-" + std::to_string(attempt) + ".log");
    out.daemon = std::make_unique<sluice_daemon>(cfg, log);
    if (out.daemon->wait_for_log("source push: started", 30s))
      return;
    bool port_taken = contains(out.daemon->log(), "cannot listen");
    out.daemon->stop();
    ASSERT_TRUE(port_taken) << "sluice did not start its listen source\n" << out.daemon->log();
  }
  FAIL() << "no free TCP port for the listen source after 5 attempts";
}

/// A path as a TOML basic string.
std::string toml_path(const fs::path& p) {
  return "\"" + p.string() + "\"";
}

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

/// The configuration of a listen source "push" (TCP `port` and Unix `unix_path`, format lines)
/// with `queue` as its [queue] table and `subscriptions` after it.
std::string listen_config(const test_dir& dir, std::uint16_t port, const fs::path& unix_path,
                          const std::string& queue, const std::string& subscriptions) {
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
         "format = \"lines\"\n\n" +
         subscriptions;
}

std::string sqlite_subscription(const fs::path& db) {
  return "[subscriptions.sqlite]\n"
         "sink = { type = \"sqlite\", path = " +
         toml_path(db) +
         ", table = \"events\" }\n"
         "retry = { initial = \"10ms\", max = \"100ms\" }\n\n";
}

std::string eventlog_subscription(const fs::path& dir) {
  return "[subscriptions.eventlog]\n"
         "sink = { type = \"eventlog\", dir = " +
         toml_path(dir) + " }\n\n";
}

/// Every payload of the sink's table, in id order; checks the ids are 1..N without a gap.
std::vector<std::string> sqlite_payloads(sqlite_db& db) {
  std::vector<std::string> payloads;
  std::int64_t expect_id = 1, gaps = 0;
  EXPECT_TRUE(db.each_row("SELECT id, payload FROM events ORDER BY id", [&](sqlite3_stmt* s) {
    if (sqlite3_column_int64(s, 0) != expect_id++)
      ++gaps;
    payloads.push_back(column_text(s, 1));
  }));
  EXPECT_EQ(gaps, 0) << "the ids are not 1.." << payloads.size();
  return payloads;
}

// 1. A sink that cannot write lags alone: the event log and the intake go on, and once the
// database is writable again the sqlite subscription catches up without loss or duplicate.
TEST(pipeline_faults, locked_sqlite_lags_alone_then_catches_up_exactly) {
  constexpr std::uint64_t k_events = 50000;
  const sluice::firehose::stream_options stream{.seed = 3};
  test_dir dir;
  auto db_path = dir / "sluice.db";
  auto data = dir / "data";
  auto events = dir / "events";
  // Locked before the firehose sends anything: the sink connects, but every write waits
  // busy_timeout (5 s) and fails as busy.
  write_lock lock(db_path, "events");
  ASSERT_TRUE(lock.held());

  auto fh = start_firehose(dir, {"--count", "50000", "--seed", "3", "--resume"});
  ASSERT_NE(fh.port, 0);
  write_file(dir / "sluice.toml", "data_dir = " + toml_path(data) +
                                      "\n"
                                      "shutdown_timeout = \"20s\"\n\n"
                                      "[sources.firehose]\n"
                                      "type = \"http\"\n"
                                      "url = \"http://127.0.0.1:" +
                                      std::to_string(fh.port) + "/1.1/statuses/filter.json\"\n\n" +
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
        bool ok = id == expect_id && column_text(s, 1) == "firehose" &&
                  column_text(s, 2) == type_of(stream, id) && column_text(s, 3) == gen.line_at(id);
        if (!ok && wrong++ == 0)
          first_wrong = "row " + std::to_string(id) + " (expected id " + std::to_string(expect_id) +
                        "): " + column_text(s, 2) + " " + column_text(s, 3).substr(0, 200);
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
  expect_clean_stop(*fh.proc, "firehose");
}

// 2. Bad input: every good line is delivered in order, every bad one is in the source's
// dead-letter file with its reason, and the counts by reason are exact.
TEST(pipeline_faults, bad_lines_go_to_the_dead_letter_file_by_reason) {
  constexpr std::uint64_t k_ranks = 20000;
  const sluice::firehose::stream_options stream{.seed = 5, .garbage_every = 100};
  std::vector<std::uint64_t> good, bad;
  std::map<std::string, std::size_t> expected_by_reason;
  auto reason_at = [&](std::uint64_t rank) -> std::string {
    switch (rank / stream.garbage_every % 3) {
    case 1:
      return "invalid_json"; // a truncated object
    case 2:
      return "not_utf8";
    default:
      return "too_long"; // over max_record_bytes (1 MiB by default)
    }
  };
  for (std::uint64_t r = 1; r <= k_ranks; ++r) {
    if (sluice::firehose::kind_of(stream, r) == sluice::firehose::event_kind::garbage) {
      bad.push_back(r);
      ++expected_by_reason[reason_at(r)];
    } else {
      good.push_back(r);
    }
  }
  ASSERT_EQ(bad.size(), 200u);
  ASSERT_EQ(expected_by_reason["invalid_json"], 67u);
  ASSERT_EQ(expected_by_reason["not_utf8"], 67u);
  ASSERT_EQ(expected_by_reason["too_long"], 66u);

  test_dir dir;
  auto db_path = dir / "sluice.db";
  auto data = dir / "data";
  auto dead = data / "dead-letter" / "firehose.ndjson";
  auto fh = start_firehose(
      dir, {"--count", "20000", "--seed", "5", "--garbage-every", "100", "--resume"});
  ASSERT_NE(fh.port, 0);
  write_file(dir / "sluice.toml", "data_dir = " + toml_path(data) +
                                      "\n"
                                      "shutdown_timeout = \"20s\"\n\n"
                                      "[sources.firehose]\n"
                                      "type = \"http\"\n"
                                      "format = \"json\"\n"
                                      "url = \"http://127.0.0.1:" +
                                      std::to_string(fh.port) + "/1.1/statuses/filter.json\"\n\n" +
                                      sqlite_subscription(db_path));
  sluice_daemon sluice(dir / "sluice.toml", dir / "sluice.log");
  sqlite_db reader(db_path);

  auto dead_lines = [&] {
    auto text = file_text(dead);
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  };
  ASSERT_TRUE(sluice.wait_for([&] {
    return reader.count("events") >= static_cast<std::int64_t>(good.size()) &&
           dead_lines() >= bad.size();
  })) << "rows: "
      << reader.count("events") << ", dead letters: " << dead_lines() << "\n"
      << tail_of(sluice.log());

  // The good ones: ids 1..19800 in stream order, each byte for byte.
  sluice::firehose::generator gen(stream);
  auto payloads = sqlite_payloads(reader);
  ASSERT_EQ(payloads.size(), good.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < good.size(); ++i)
    if (payloads[i] != gen.line_at(good[i]) && differ++ == 0)
      ADD_FAILURE() << "row " << i + 1 << " (rank " << good[i]
                    << "): " << payloads[i].substr(0, 200);
  EXPECT_EQ(differ, 0u);

  // The bad ones: one line each, in stream order, with reason, full length and the record (its
  // head when too long; invalid bytes as U+FFFD).
  std::map<std::string, std::size_t> by_reason;
  std::vector<json> rejects;
  {
    auto text = file_text(dead);
    std::size_t at = 0;
    while (at < text.size()) {
      auto nl = text.find('\n', at);
      ASSERT_NE(nl, std::string::npos) << "unterminated dead-letter line";
      try {
        rejects.push_back(json::parse(text.substr(at, nl - at)));
      } catch (const std::exception& e) {
        FAIL() << "dead-letter line is not JSON: " << e.what() << ": "
               << text.substr(at, std::min<std::size_t>(nl - at, 200));
      }
      at = nl + 1;
    }
  }
  ASSERT_EQ(rejects.size(), bad.size());
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const auto& j = rejects[i];
    auto rank = bad[i];
    auto line = gen.line_at(rank);
    auto why = reason_at(rank);
    std::string record = line;
    if (why == "too_long") {
      record = line.substr(0, 1024);
    } else if (why == "not_utf8") {
      record.clear(); // the line is ASCII but for its invalid bytes
      for (char c : line)
        record += static_cast<unsigned char>(c) < 0x80 ? std::string(1, c) : "\xEF\xBF\xBD";
    }
    SCOPED_TRACE("dead-letter line " + std::to_string(i + 1) + ", rank " + std::to_string(rank));
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j.value("source", ""), "firehose");
    EXPECT_EQ(j.value("reason", ""), why);
    EXPECT_EQ(j.value("length", std::uint64_t{0}), line.size());
    EXPECT_TRUE(j.value("record", "") == record) << j.value("record", "").substr(0, 200);
    EXPECT_TRUE(j.value("time", "").ends_with("Z")) << j.dump().substr(0, 200);
    ++by_reason[j.value("reason", "")];
  }
  EXPECT_EQ(by_reason, expected_by_reason);

  EXPECT_EQ(sluice.stop(), 0) << tail_of(sluice.log());
  auto log = sluice.log();
  EXPECT_TRUE(contains(log, "source firehose: record rejected")) << tail_of(log);
  EXPECT_TRUE(contains(log, "source firehose: 19800 events collected, 200 set aside"))
      << tail_of(log);
  expect_clean_stop(*fh.proc, "firehose");
}

// 3. Fifty pushers at once, half over TCP and half over a Unix socket: every line arrives in
// both sinks exactly once.
TEST(pipeline_faults, many_pushers_over_tcp_and_unix_each_line_once) {
  const push_plan plan{.pushers = 50, .lines = 10000};
  const auto k_total = static_cast<std::int64_t>(plan.total());
  test_dir dir;
  auto db_path = dir / "sluice.db";
  auto events = dir / "events";
  listen_pipeline lp;
  lp.unix_path = dir / "push.sock";
  ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
      dir,
      [&](std::uint16_t port) {
        return listen_config(dir, port, lp.unix_path, "",
                             eventlog_subscription(events) + sqlite_subscription(db_path));
      },
      lp));
  auto& sluice = *lp.daemon;
  sqlite_db reader(db_path);

  pushers p(plan, lp.port, lp.unix_path.string());
  ASSERT_TRUE(sluice.wait_for([&] { return p.finished() == plan.pushers; }))
      << p.finished() << " pushers finished\n"
      << tail_of(sluice.log());
  p.join();
  EXPECT_EQ(p.errors(), "");
  ASSERT_TRUE(sluice.wait_for([&] {
    return reader.count("events") >= k_total &&
           eventlog_line_count(events) >= static_cast<std::size_t>(k_total);
  })) << "rows: "
      << reader.count("events") << ", event log lines: " << eventlog_line_count(events) << "\n"
      << tail_of(sluice.log());

  expect_each_pushed_once(sqlite_payloads(reader), plan, "sqlite");
  bool unterminated = false;
  expect_each_pushed_once(eventlog_lines(events, unterminated), plan, "event log");
  EXPECT_FALSE(unterminated);
  auto stats = queue_stats(dir / "data" / "queue");
  EXPECT_EQ(stats["last"], k_total) << stats.dump();

  EXPECT_EQ(sluice.stop(), 0) << tail_of(sluice.log());
  EXPECT_TRUE(contains(sluice.log(), "source push: 500000 events collected, 0 set aside"))
      << tail_of(sluice.log());
}

// 4. At the queue's cap the pushers block (nothing is dropped) until the one subscription, stuck
// on a locked database, commits and lets segments go.
TEST(pipeline_faults, pushers_block_at_max_disk_until_the_stuck_subscription_moves) {
  // Each pusher sends ~1 MB (lines padded to ~100 bytes) through an 8 KiB send buffer: far more
  // than the kernel holds for it, so a pusher can only finish once sluice has read its lines.
  const push_plan plan{.pushers = 50, .lines = 10000, .pad = 90, .sndbuf = 8192};
  const auto k_total = static_cast<std::int64_t>(plan.total());
  constexpr std::uint64_t k_max_disk = 4 << 20;
  test_dir dir;
  auto db_path = dir / "sluice.db";
  auto queue_dir = dir / "data" / "queue";
  write_lock lock(db_path, "events");
  ASSERT_TRUE(lock.held());
  listen_pipeline lp;
  lp.unix_path = dir / "push.sock";
  ASSERT_NO_FATAL_FAILURE(start_listen_pipeline(
      dir,
      [&](std::uint16_t port) {
        return listen_config(dir, port, lp.unix_path,
                             "max_disk = \"4MiB\"\nsegment_bytes = \"1MiB\"\n",
                             sqlite_subscription(db_path));
      },
      lp));
  auto& sluice = *lp.daemon;
  sqlite_db reader(db_path);

  pushers p(plan, lp.port, lp.unix_path.string());
  ASSERT_TRUE(sluice.wait_for_log("at max_disk")) << tail_of(sluice.log());
  // Hold the lock until the sink's first write gave up (busy_timeout, 5 s): time in which the
  // pushers would have sent everything had they not been blocked.
  ASSERT_TRUE(sluice.wait_for_log("subscription sqlite: sqlite sink failed"))
      << tail_of(sluice.log());
  auto stats = queue_stats(queue_dir);
  EXPECT_LT(p.finished(), plan.pushers);
  EXPECT_LE(stats["bytes"].get<std::uint64_t>(), k_max_disk) << stats.dump();
  EXPECT_LT(stats["last"].get<std::int64_t>(), k_total) << stats.dump();
  EXPECT_EQ(subscription_of(stats, "sqlite")["committed"], 0) << stats.dump();
  EXPECT_EQ(reader.count("events"), 0);
  EXPECT_TRUE(contains(sluice.log(), "appends wait for subscriptions")) << tail_of(sluice.log());

  lock.release();
  ASSERT_TRUE(sluice.wait_for([&] { return p.finished() == plan.pushers; }))
      << p.finished() << " pushers finished\n"
      << tail_of(sluice.log());
  p.join();
  EXPECT_EQ(p.errors(), "");
  ASSERT_TRUE(sluice.wait_for([&] { return reader.count("events") >= k_total; }))
      << "rows: " << reader.count("events") << "\n"
      << tail_of(sluice.log());
  expect_each_pushed_once(sqlite_payloads(reader), plan, "sqlite");
  stats = queue_stats(queue_dir);
  EXPECT_EQ(stats["last"], k_total) << stats.dump();
  EXPECT_LE(stats["bytes"].get<std::uint64_t>(), k_max_disk) << stats.dump();

  EXPECT_EQ(sluice.stop(), 0) << tail_of(sluice.log());
  auto log = sluice.log();
  EXPECT_TRUE(contains(log, "source push: 500000 events collected, 0 set aside")) << tail_of(log);
  EXPECT_FALSE(contains(log, "dropped")) << tail_of(log);
}

} // namespace
