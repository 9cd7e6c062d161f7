// `sluice start | stop | status | reload` as a user runs them (docs/daemon.md): real daemons of
// the real binary, each test in its own run, log and data directories. The supervisor's
// restarts (a crash, a memory threshold), the statuses it does not restart, signals, hooks, and
// sd_notify of `sluice run` in the foreground.
//
// Every daemon a test starts is stopped at its end, failed or not, by a daemon_guard
// (`sluice stop --kill`).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <poll.h>
#include <signal.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "firehose/generator.h"
#include "support/child_process.h"
#include "support/eventually.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace sluice::testing;

/// How long a command (`start` included, which waits for readiness) may take.
constexpr std::chrono::seconds k_command_timeout{60};
/// How long a condition a test waits for may take to hold.
constexpr std::chrono::seconds k_wait{30};

/// The last `n` bytes of a log, for failure messages.
std::string tail_of(const std::string& text, std::size_t n = 4000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

/// Runs sluice with `args` to its end: status, stdout, stderr.
run_result sluice(const std::vector<std::string>& args,
                  std::chrono::seconds limit = k_command_timeout) {
  auto deadline = steady::now() + limit;
  child_process c(args);
  run_result r;
  r.status = c.finish(deadline);
  r.out = c.out();
  r.err = c.err();
  return r;
}

/// Quotes `s` as a TOML basic string.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + '"';
}

/// The complete lines of `text` (a partial last line is left out).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', at)) {
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

/// The common log's lines without their first field (the timestamp).
std::vector<std::string> common_events(const fs::path& common_log) {
  std::vector<std::string> events;
  for (const auto& line : lines_of(file_text(common_log))) {
    auto sp = line.find(' ');
    events.push_back(sp == std::string::npos ? line : line.substr(sp + 1));
  }
  return events;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

/// The index of the first of `lines` starting with `prefix` at or after `from`; nothing if none.
std::optional<std::size_t> find_line(const std::vector<std::string>& lines, std::string_view prefix,
                                     std::size_t from = 0) {
  for (std::size_t i = from; i < lines.size(); ++i)
    if (lines[i].starts_with(prefix))
      return i;
  return std::nullopt;
}

/// The lines of every event file of an eventlog sink's `dir` (events-*.ndjson), in name order.
std::vector<std::string> eventlog_lines(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.starts_with("events-") && name.ends_with(".ndjson") && e.is_regular_file())
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> lines;
  for (const auto& f : files)
    for (auto& l : lines_of(file_text(f)))
      lines.push_back(std::move(l));
  return lines;
}

/// A pid as written in a pid file ("P\n"), 0 when there is none.
int pid_in(const fs::path& pid_file) {
  return std::atoi(file_text(pid_file).c_str());
}

/// The `child` of a daemon's info file (RUN_DIR/ID-CTX.json), 0 when not readable.
int child_in(const fs::path& info_file) {
  auto j = nlohmann::json::parse(file_text(info_file), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return 0;
  return j.value("child", 0);
}

/// One daemon: id "t", its context, configuration file and directories.
struct daemon_id {
  std::string context = "default";
  fs::path config;
  fs::path run_dir;
  fs::path log_dir;

  std::string instance() const { return "t-" + context; }
  fs::path pid_file() const { return run_dir / (instance() + ".pid"); }
  fs::path info_file() const { return run_dir / (instance() + ".json"); }
  fs::path log_file() const { return log_dir / (instance() + ".log"); }
  fs::path common_log() const { return log_dir / "common.log"; }
  std::string log() const { return file_text(log_file()); }

  /// `VERB --id t [--context C] -c CONFIG --run-dir R --log-dir L MORE...`
  std::vector<std::string> args(const std::string& verb,
                                std::initializer_list<std::string> more = {}) const {
    std::vector<std::string> a{verb, "--id", "t"};
    if (context != "default")
      a.insert(a.end(), {"--context", context});
    a.insert(a.end(),
             {"-c", config.string(), "--run-dir", run_dir.string(), "--log-dir", log_dir.string()});
    a.insert(a.end(), more);
    return a;
  }
};

/// Stops a daemon when it goes out of scope, however the test ended: `sluice stop --kill`
/// (exit 0 and "not running" when it is not running).
class daemon_guard {
public:
  explicit daemon_guard(daemon_id id) : id_(std::move(id)) {}
  daemon_guard(const daemon_guard&) = delete;
  daemon_guard& operator=(const daemon_guard&) = delete;
  ~daemon_guard() { (void)sluice(id_.args("stop", {"--timeout", "20", "--kill"})); }

private:
  daemon_id id_;
};

/// `sluice firehose` on a free loopback TCP port (plain NDJSON), with `options` added.
class firehose_child {
public:
  /// Serves plain NDJSON over TCP, or with `http` its streaming HTTP endpoint.
  firehose_child(const std::vector<std::string>& options, const fs::path& log, bool http = false)
      : proc_(command(options, http),
              child_stdio{.pipe_stdin = false, .pipe_stdout = true, .log = log}) {
    // "listening on tcp://127.0.0.1:PORT", "listening on 127.0.0.1:PORT"
    auto line = proc_.read_line(steady::now() + 10s);
    if (!line || !line->starts_with("listening on "))
      return;
    port_ = std::atoi(line->substr(line->rfind(':') + 1).c_str());
  }
  ~firehose_child() {
    proc_.kill(SIGTERM);
    proc_.wait(5s); // the child_process kills it if it did not end
  }
  firehose_child(const firehose_child&) = delete;
  firehose_child& operator=(const firehose_child&) = delete;

  /// The port, 0 when the firehose did not say.
  int port() const { return port_; }
  std::string log() const { return proc_.log(); }

private:
  static std::vector<std::string> command(const std::vector<std::string>& options, bool http) {
    std::vector<std::string> a{"firehose", http ? "--listen" : "--tcp", "127.0.0.1:0"};
    a.insert(a.end(), options.begin(), options.end());
    return a;
  }

  child_process proc_;
  int port_ = 0;
};

/// Rank of each line 1..n of the firehose's stream for `seed`, by content.
class rank_index {
public:
  rank_index(std::uint64_t seed, std::uint64_t n) {
    sluice::firehose::generator g(sluice::firehose::stream_options{.seed = seed});
    for (std::uint64_t r = 1; r <= n; ++r)
      by_line_.emplace(g.line_at(r), r);
  }
  /// The rank of `line`, 0 when the stream has no such line.
  std::uint64_t find(const std::string& line) const {
    auto it = by_line_.find(line);
    return it == by_line_.end() ? 0 : it->second;
  }

private:
  std::unordered_map<std::string, std::uint64_t> by_line_;
};

/// A Unix datagram socket bound in the test's directory, as systemd's NOTIFY_SOCKET.
class notify_socket {
public:
  explicit notify_socket(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~notify_socket() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;

  bool ok() const { return fd_ >= 0; }

  /// The next datagram, nothing when none came within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
      return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0)
      return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

private:
  fs::path path_;
  int fd_ = -1;
};

/// Connects to the `listen` source's Unix socket (retrying for a bounded while: it may still be
/// starting) and sends lines {"n":first} .. {"n":last}.
void push_lines(const fs::path& sock, int first, int last) {
  int fd = -1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
  bool connected = eventually(10s, [&] {
    if (fd >= 0)
      ::close(fd);
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  });
  ASSERT_TRUE(connected) << "cannot connect to " << sock << ": " << std::strerror(errno);
  std::string data;
  for (int i = first; i <= last; ++i)
    data += "{\"n\":" + std::to_string(i) + "}\n";
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

class daemon_test : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "sluice_daemon_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    root_ = fs::path(tmpl).lexically_normal();
    // Hermetic: nothing of the test's own environment reaches the hooks or sd_notify.
    std::vector<std::string> names;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      if (entry.starts_with("SLUICE_"))
        names.emplace_back(entry.substr(0, entry.find('=')));
    }
    for (const auto& n : names)
      ::unsetenv(n.c_str());
    for (const char* n : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"})
      ::unsetenv(n);
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cout << "[ files    ] kept in " << root_.string() << "\n";
      return;
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  /// A daemon of this test: its configuration ROOT/NAME.toml, RUN and LOG under ROOT.
  daemon_id daemon(const std::string& context = "default", const std::string& name = "t") const {
    return daemon_id{context, root_ / (name + ".toml"), root_ / "run", root_ / "log"};
  }

  /// Writes a configuration: data in ROOT/DATA, the given source table and subscriptions (each
  /// an eventlog sink in ROOT/NAME), and `extra` tables at the end.
  fs::path write_config(const fs::path& file, const std::string& data, const std::string& source,
                        const std::vector<std::pair<std::string, std::string>>& subscriptions,
                        const std::string& extra = "") const {
    std::ofstream f(file);
    f << "data_dir = " << toml_string((root_ / data).string()) << "\n"
      << "shutdown_timeout = \"10s\"\n\n"
      << "[queue]\nfsync = \"5ms\"\n\n"
      << source << "\n";
    for (const auto& [name, settings] : subscriptions)
      f << "[subscriptions." << name << "]\n"
        << "sink = { type = \"eventlog\", dir = " << toml_string((root_ / name).string()) << " }\n"
        << settings << "\n";
    f << extra;
    return file;
  }

  /// A `listen` source on ROOT/SOCKET.
  std::string listen_source(const std::string& socket = "push.sock") const {
    return "[sources.push]\ntype = \"listen\"\nlisten = [" +
           toml_string("unix:" + (root_ / socket).string()) + "]\n";
  }

  /// A `tcp` source connecting to the firehose on `port`.
  static std::string tcp_source(int port) {
    return "[sources.firehose]\ntype = \"tcp\"\naddress = \"127.0.0.1:" + std::to_string(port) +
           "\"\nreconnect = { network_initial = \"100ms\", network_step = \"100ms\", network_max = "
           "\"1s\" }\n";
  }

  /// An `http` source streaming from the firehose on `port`, asking each connection for the
  /// `backfill` events before it.
  static std::string http_source(int port, std::uint64_t backfill) {
    return "[sources.firehose]\ntype = \"http\"\nurl = \"http://127.0.0.1:" + std::to_string(port) +
           "/1.1/statuses/filter.json\"\nbackfill = " + std::to_string(backfill) +
           "\nreconnect = { network_initial = \"100ms\", network_step = \"100ms\", network_max = "
           "\"1s\" }\n";
  }

  /// The simplest pipeline: a listen source into one eventlog subscription, data in ROOT/DATA.
  fs::path simple_config(const daemon_id& d, const std::string& data = "data",
                         const std::string& extra = "") const {
    return write_config(d.config, data, listen_source(data + ".sock"), {{data + "-events", ""}},
                        extra);
  }

  fs::path root_;
};

// ---------------------------------------------------------------------------------------------

TEST_F(daemon_test, start_status_stop_write_the_pid_file_and_the_common_log) {
  auto d = daemon();
  simple_config(d);
  daemon_guard guard(d);

  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());
  ASSERT_GT(pid, 0) << file_text(d.pid_file());
  auto p = std::to_string(pid);
  EXPECT_EQ(file_text(d.pid_file()), p + "\n");
  EXPECT_EQ(start.out,
            "sluice start: t-default running (pid " + p + ", log " + d.log_file().string() + ")\n");
  EXPECT_EQ(::kill(pid, 0), 0) << std::strerror(errno);

  auto status = sluice(d.args("status"));
  EXPECT_EQ(status.status, 0) << status.out << status.err;
  EXPECT_TRUE(status.out.starts_with("t-default is running: pid " + p + " (pipeline "))
      << status.out;

  auto json = sluice(d.args("status", {"--json"}));
  EXPECT_EQ(json.status, 0) << json.out << json.err;
  auto j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << json.out;
  EXPECT_EQ(j.value("state", ""), "running") << json.out;
  EXPECT_EQ(j.value("pid", 0), pid) << json.out;

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
  EXPECT_EQ(stop.out, "sluice stop: t-default stopped (pid " + p + ")\n");
  EXPECT_FALSE(fs::exists(d.pid_file()));

  auto after = sluice(d.args("status"));
  EXPECT_EQ(after.status, 3) << after.out << after.err;
  EXPECT_EQ(after.out, "t-default is not running\n");

  EXPECT_EQ(joined(common_events(d.common_log())),
            "t-default start pid=" + p + " config=" + d.config.string() + "\n" +
                "t-default stop pid=" + p + " signal=TERM\n");
}

TEST_F(daemon_test, two_contexts_of_one_id_run_side_by_side) {
  auto a = daemon("a", "a");
  auto b = daemon("b", "b");
  simple_config(a, "data-a");
  simple_config(b, "data-b");
  daemon_guard guard_a(a);
  daemon_guard guard_b(b);

  auto start_a = sluice(a.args("start"));
  ASSERT_EQ(start_a.status, 0) << start_a.out << start_a.err << tail_of(a.log());
  auto start_b = sluice(b.args("start"));
  ASSERT_EQ(start_b.status, 0) << start_b.out << start_b.err << tail_of(b.log());
  EXPECT_EQ(a.pid_file(), root_ / "run" / "t-a.pid");
  EXPECT_EQ(b.pid_file(), root_ / "run" / "t-b.pid");
  int pid_a = pid_in(a.pid_file());
  int pid_b = pid_in(b.pid_file());
  EXPECT_GT(pid_a, 0);
  EXPECT_GT(pid_b, 0);
  EXPECT_NE(pid_a, pid_b);
  EXPECT_EQ(::kill(pid_a, 0), 0);
  EXPECT_EQ(::kill(pid_b, 0), 0);
  EXPECT_EQ(sluice(a.args("status")).status, 0);
  EXPECT_EQ(sluice(b.args("status")).status, 0);

  auto stop_a = sluice(a.args("stop"));
  EXPECT_EQ(stop_a.status, 0) << stop_a.out << stop_a.err;
  EXPECT_EQ(stop_a.out, "sluice stop: t-a stopped (pid " + std::to_string(pid_a) + ")\n");
  auto stop_b = sluice(b.args("stop"));
  EXPECT_EQ(stop_b.status, 0) << stop_b.out << stop_b.err;
  EXPECT_EQ(stop_b.out, "sluice stop: t-b stopped (pid " + std::to_string(pid_b) + ")\n");
  EXPECT_FALSE(fs::exists(a.pid_file()));
  EXPECT_FALSE(fs::exists(b.pid_file()));
}

TEST_F(daemon_test, a_second_start_of_the_same_instance_is_refused_with_its_pid) {
  auto d = daemon();
  simple_config(d);
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());

  auto again = sluice(d.args("start"));
  EXPECT_EQ(again.status, 1) << again.out << again.err;
  EXPECT_NE(again.err.find("t-default is already running (pid " + std::to_string(pid) + ")"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(pid_in(d.pid_file()), pid);
  EXPECT_EQ(::kill(pid, 0), 0);
}

// A pipeline that does not stop (frozen with SIGSTOP): stop says so after its timeout and exits
// 1; stop --kill then ends the whole process group.
TEST_F(daemon_test, stop_reports_a_daemon_that_does_not_stop_and_kill_ends_it) {
  auto d = daemon();
  simple_config(d);
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());
  int child = child_in(d.info_file());
  ASSERT_GT(child, 0);
  ASSERT_EQ(::kill(child, SIGSTOP), 0);

  auto stop = sluice(d.args("stop", {"--timeout", "1"}));
  EXPECT_EQ(stop.status, 1) << stop.out << stop.err;
  EXPECT_NE(stop.err.find("sluice stop: t-default (pid " + std::to_string(pid) +
                          ") is still running after 1 s"),
            std::string::npos)
      << stop.err;
  EXPECT_EQ(::kill(pid, 0), 0);

  auto kill = sluice(d.args("stop", {"--timeout", "1", "--kill"}));
  EXPECT_EQ(kill.status, 0) << kill.out << kill.err;
  EXPECT_EQ(kill.out, "sluice stop: t-default killed (pid " + std::to_string(pid) + ")\n");
  // Gone, or a zombie nobody reaps (its parent, the supervisor, was killed with it).
  auto dead = [](int p) {
    if (::kill(p, 0) != 0)
      return true;
    auto stat = file_text("/proc/" + std::to_string(p) + "/stat");
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
  };
  EXPECT_TRUE(eventually(std::chrono::seconds(30), [&] { return dead(child) && dead(pid); }));
  auto status = sluice(d.args("status"));
  EXPECT_NE(status.status, 0) << status.out;
}

TEST_F(daemon_test, a_stale_pid_file_is_taken_over) {
  auto d = daemon();
  simple_config(d);
  daemon_guard guard(d);
  pid_t gone = ::fork();
  ASSERT_GE(gone, 0) << std::strerror(errno);
  if (gone == 0)
    ::_exit(0);
  int raw = 0;
  ASSERT_EQ(::waitpid(gone, &raw, 0), gone);
  fs::create_directories(d.run_dir);
  std::ofstream(d.pid_file()) << gone << "\n";

  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  EXPECT_NE(d.log().find("took over the stale pid file"), std::string::npos) << tail_of(d.log());
  int pid = pid_in(d.pid_file());
  EXPECT_GT(pid, 0);
  EXPECT_NE(pid, gone);
  EXPECT_EQ(sluice(d.args("status")).status, 0);
}

// SIGKILL of the pipeline: the supervisor logs the crash and starts it again after 1 s. What was
// in flight at the kill the firehose counted as sent; the restarted pipeline's first connection
// asks for the 5,000 events before it (backfill) and drops those already queued, so the sink
// holds every rank exactly once, in order: nothing lost across the crash.
TEST_F(daemon_test, kill9_of_the_pipeline_is_restarted_and_loses_nothing) {
  constexpr std::uint64_t k_events = 30000;
  constexpr std::uint64_t k_seed = 3;
  firehose_child fh({"--count", std::to_string(k_events), "--rate", "5000", "--resume", "--seed",
                     std::to_string(k_seed)},
                    root_ / "firehose.log", true);
  ASSERT_NE(fh.port(), 0) << fh.log();
  auto d = daemon();
  write_config(d.config, "data", http_source(fh.port(), 5000), {{"events", ""}});
  daemon_guard guard(d);

  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());
  auto p = std::to_string(pid);
  int child = child_in(d.info_file());
  ASSERT_GT(child, 0) << file_text(d.info_file());

  std::size_t before = 0;
  ASSERT_TRUE(eventually(
      k_wait, [&] { return (before = eventlog_lines(root_ / "events").size()) >= 5000; }))
      << before << " events\n"
      << tail_of(d.log());
  ASSERT_EQ(::kill(child, SIGKILL), 0) << std::strerror(errno);

  std::vector<std::string> events;
  std::optional<std::size_t> crash, restart;
  bool restarted = eventually(k_wait, [&] {
    events = common_events(d.common_log());
    crash = find_line(events, "t-default crash pid=");
    restart = crash ? find_line(events, "t-default restart pid=", *crash + 1) : std::nullopt;
    return restart.has_value();
  });
  ASSERT_TRUE(restarted) << joined(events) << tail_of(d.log());
  EXPECT_EQ(events[*crash], "t-default crash pid=" + p + " status=\"signal 9\" restart_in=1s");
  int new_child = 0;
  EXPECT_TRUE(eventually(k_wait, [&] {
    new_child = child_in(d.info_file());
    return new_child != 0 && new_child != child;
  })) << file_text(d.info_file());
  EXPECT_EQ(events[*restart], "t-default restart pid=" + p + " child=" + std::to_string(new_child));
  auto status = sluice(d.args("status"));
  EXPECT_EQ(status.status, 0) << status.out << status.err;
  EXPECT_EQ(pid_in(d.pid_file()), pid);

  rank_index ranks(k_seed, k_events);
  std::vector<std::string> lines;
  bool finished = eventually(60s, [&] {
    lines = eventlog_lines(root_ / "events");
    return !lines.empty() && ranks.find(lines.back()) == k_events;
  });
  ASSERT_TRUE(finished) << lines.size() << " events, the last of rank "
                        << (lines.empty() ? 0 : ranks.find(lines.back())) << "\n"
                        << tail_of(d.log());
  int bad = 0;
  for (std::size_t i = 0; i < lines.size() && bad < 5; ++i) {
    auto rank = ranks.find(lines[i]);
    if (rank != i + 1) {
      ++bad;
      ADD_FAILURE() << "event " << i + 1 << " of the sink is rank " << rank << ": "
                    << lines[i].substr(0, 200);
    }
  }
  EXPECT_EQ(lines.size(), k_events);

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
}

TEST_F(daemon_test, a_locked_queue_is_fatal_and_not_restarted) {
  auto holder_cfg = root_ / "holder.toml";
  write_config(holder_cfg, "data", listen_source("holder.sock"), {{"holder-events", ""}});
  child_process holder(
      {"run", "-c", holder_cfg.string(), "--no-status"},
      child_stdio{.pipe_stdin = false, .pipe_stdout = false, .log = root_ / "holder.log"});
  ASSERT_TRUE(eventually(k_wait, [&] {
    return holder.log().find("running:") != std::string::npos;
  })) << holder.log();

  auto d = daemon();
  write_config(d.config, "data", listen_source(), {{"events", ""}});
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  EXPECT_EQ(start.status, 75) << start.out << start.err << tail_of(d.log());
  EXPECT_NE(start.err.find("is locked by pid " + std::to_string(holder.pid())), std::string::npos)
      << start.err;
  std::vector<std::string> events;
  std::optional<std::size_t> fatal;
  EXPECT_TRUE(eventually(k_wait, [&] {
    events = common_events(d.common_log());
    fatal = find_line(events, "t-default fatal pid=");
    return fatal.has_value();
  })) << joined(events);
  if (fatal) {
    EXPECT_NE(events[*fatal].find("exit 75"), std::string::npos) << events[*fatal];
  }
  EXPECT_FALSE(find_line(events, "t-default restart pid=").has_value()) << joined(events);
  EXPECT_NE(sluice(d.args("status")).status, 0);

  holder.kill(SIGTERM);
  auto st = holder.wait(30s);
  ASSERT_TRUE(st.has_value()) << holder.log();
  EXPECT_EQ(exit_code(*st), 0) << holder.log();
}

TEST_F(daemon_test, an_invalid_configuration_starts_nothing) {
  auto d = daemon();
  std::ofstream(d.config) << "data_dir = " << toml_string((root_ / "data").string()) << "\n"
                          << "[queue]\nfsync = \"sometimes\"\n";
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  EXPECT_EQ(start.status, 78) << start.out << start.err;
  EXPECT_NE(start.err.find("queue.fsync (line 3)"), std::string::npos) << start.err;
  EXPECT_FALSE(fs::exists(d.pid_file()));
  EXPECT_FALSE(fs::exists(root_ / "data"));
}

// HUP through `sluice reload`: the unchanged subscription keeps running, the changed one
// restarts, the new one starts; an invalid file is refused and the daemon runs on.
TEST_F(daemon_test, reload_applies_the_difference_and_refuses_an_invalid_file) {
  auto d = daemon();
  write_config(d.config, "data", listen_source(), {{"a", ""}, {"b", "batch = 500\n"}});
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());

  write_config(d.config, "data", listen_source(), {{"a", ""}, {"b", "batch = 100\n"}, {"c", ""}});
  auto reload = sluice(d.args("reload"));
  EXPECT_EQ(reload.status, 0) << reload.out << reload.err;
  std::string hup;
  ASSERT_TRUE(eventually(k_wait, [&] {
    for (const auto& line : lines_of(d.log()))
      if (auto at = line.find("HUP: "); at != std::string::npos) {
        hup = line.substr(at);
        return true;
      }
    return false;
  })) << tail_of(d.log());
  EXPECT_NE(hup.find("subscription b restarted with its new settings"), std::string::npos) << hup;
  EXPECT_NE(hup.find("subscription c added"), std::string::npos) << hup;
  EXPECT_EQ(hup.find("subscription a"), std::string::npos) << hup;

  std::ofstream(d.config) << "data_dir = " << toml_string((root_ / "data").string()) << "\n"
                          << "[queue]\nfsync = \"sometimes\"\n";
  auto refused = sluice(d.args("reload"));
  EXPECT_EQ(refused.status, 78) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("queue.fsync (line 3)"), std::string::npos) << refused.err;
  auto status = sluice(d.args("status"));
  EXPECT_EQ(status.status, 0) << status.out << status.err;
  EXPECT_EQ(pid_in(d.pid_file()), pid);

  // Still the configuration of the first reload: a, b and c all get what is pushed.
  push_lines(root_ / "push.sock", 1, 100);
  for (const char* sub : {"a", "b", "c"}) {
    std::size_t n = 0;
    EXPECT_TRUE(eventually(k_wait, [&] { return (n = eventlog_lines(root_ / sub).size()) >= 100; }))
        << sub << ": " << n << " events\n"
        << tail_of(d.log());
    EXPECT_EQ(n, 100u) << sub;
  }
  std::size_t hups = 0;
  for (const auto& line : lines_of(d.log()))
    hups += line.find("HUP: ") != std::string::npos ? 1 : 0;
  EXPECT_EQ(hups, 1u) << tail_of(d.log());
}

// USR1 to the supervisor reaches the pipeline, which reconnects its tcp source: the firehose
// stalls each connection after 2000 ranks, so only a new connection brings ranks 2001..4000.
TEST_F(daemon_test, usr1_reconnects_every_source) {
  firehose_child fh({"--stall-after", "2000", "--resume", "--seed", "3"}, root_ / "firehose.log");
  ASSERT_NE(fh.port(), 0) << fh.log();
  auto d = daemon();
  write_config(d.config, "data", tcp_source(fh.port()), {{"events", ""}});
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());

  std::size_t n = 0;
  ASSERT_TRUE(
      eventually(k_wait, [&] { return (n = eventlog_lines(root_ / "events").size()) >= 2000; }))
      << n << " events\n"
      << tail_of(d.log());
  EXPECT_EQ(n, 2000u);
  ASSERT_EQ(::kill(pid, SIGUSR1), 0) << std::strerror(errno);
  EXPECT_TRUE(eventually(k_wait, [&] {
    return d.log().find("USR1: reconnecting every source") != std::string::npos;
  })) << tail_of(d.log());
  EXPECT_TRUE(
      eventually(k_wait, [&] { return (n = eventlog_lines(root_ / "events").size()) >= 4000; }))
      << n << " events\n"
      << tail_of(d.log());
  EXPECT_EQ(n, 4000u);
}

// A pipeline always above 70% of 1 MiB stops itself with 76 at its first check; the supervisor
// starts it again at once.
TEST_F(daemon_test, past_its_memory_threshold_the_pipeline_is_restarted) {
  auto d = daemon();
  simple_config(d, "data", "[daemon]\nmemory_limit = \"1MiB\"\nmemory_check_interval = \"1s\"\n");
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  auto p = std::to_string(pid_in(d.pid_file()));

  std::vector<std::string> events;
  std::optional<std::size_t> exited, restart;
  EXPECT_TRUE(eventually(k_wait,
                         [&] {
                           events = common_events(d.common_log());
                           exited = find_line(events, "t-default exit pid=");
                           restart = exited
                                         ? find_line(events, "t-default restart pid=", *exited + 1)
                                         : std::nullopt;
                           return restart.has_value();
                         }))
      << joined(events) << tail_of(d.log());
  if (exited) {
    EXPECT_EQ(events[*exited],
              "t-default exit pid=" + p + " status=\"exit 76\" reason=restart-requested");
  }
  if (restart) {
    EXPECT_TRUE(events[*restart].starts_with("t-default restart pid=" + p + " child="))
        << events[*restart];
  }
  EXPECT_FALSE(find_line(events, "t-default crash pid=").has_value()) << joined(events);

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
}

TEST_F(daemon_test, hooks_get_the_event_in_their_environment) {
  auto d = daemon();
  auto env_to = [&](const std::string& file) {
    return toml_string("env | grep ^SLUICE_ | sort > " + (root_ / file).string());
  };
  simple_config(d, "data",
                "[hooks]\non_start = " + env_to("start.env") + "\non_stop = " + env_to("stop.env") +
                    "\n");
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());

  const std::string want_start = "SLUICE_CONTEXT=default\nSLUICE_EVENT=start\nSLUICE_ID=t\n";
  EXPECT_TRUE(eventually(k_wait, [&] { return file_text(root_ / "start.env") == want_start; }))
      << tail_of(d.log());
  EXPECT_EQ(file_text(root_ / "start.env"), want_start);

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
  const std::string want_stop =
      "SLUICE_CONTEXT=default\nSLUICE_EVENT=stop\nSLUICE_ID=t\nSLUICE_STATUS=SIGTERM\n";
  EXPECT_TRUE(eventually(k_wait, [&] { return file_text(root_ / "stop.env") == want_stop; }))
      << tail_of(d.log());
  EXPECT_EQ(file_text(root_ / "stop.env"), want_stop);
}

// `sluice run` under systemd (Type=notify): READY=1 once running, RELOADING=1 and READY=1 around
// a HUP, STOPPING=1 on TERM, in that order and nothing else.
TEST_F(daemon_test, sd_notify_tells_ready_reloading_and_stopping) {
  notify_socket sock(root_ / "notify.sock");
  ASSERT_TRUE(sock.ok()) << std::strerror(errno);
  auto d = daemon();
  simple_config(d);
  ::setenv("NOTIFY_SOCKET", (root_ / "notify.sock").c_str(), 1);
  child_process run(
      {"run", "-c", d.config.string(), "--no-status"},
      child_stdio{.pipe_stdin = false, .pipe_stdout = false, .log = root_ / "run.log"});
  ::unsetenv("NOTIFY_SOCKET");

  EXPECT_EQ(sock.receive(k_wait), std::optional<std::string>("READY=1")) << run.log();
  run.kill(SIGHUP);
  auto reloading = sock.receive(k_wait);
  ASSERT_TRUE(reloading.has_value()) << run.log();
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  EXPECT_TRUE(reloading->starts_with(prefix)) << *reloading;
  auto usec = reloading->substr(std::min(prefix.size(), reloading->size()));
  EXPECT_FALSE(usec.empty());
  EXPECT_EQ(usec.find_first_not_of("0123456789"), std::string::npos) << *reloading;
  EXPECT_EQ(sock.receive(k_wait), std::optional<std::string>("READY=1")) << run.log();
  run.kill(SIGTERM);
  EXPECT_EQ(sock.receive(k_wait), std::optional<std::string>("STOPPING=1")) << run.log();
  auto st = run.wait(30s);
  ASSERT_TRUE(st.has_value()) << run.log();
  EXPECT_EQ(exit_code(*st), 0) << run.log();
  auto more = sock.receive(0ms);
  EXPECT_FALSE(more.has_value()) << more.value_or("");
}

// A source that fails while the daemon runs (an http source answered 401) shows in `sluice
// status`: failed with its reason in --json and in the human output, while the exit status stays
// 0 (the daemon runs); the pipeline's state file RUN/t-default.sources.json is gone after stop.
TEST_F(daemon_test, status_shows_a_failed_source_with_its_reason) {
  child_process fh({"firehose", "--listen", "127.0.0.1:0", "--status", "401"},
                   child_stdio{.pipe_stdin = false, .pipe_stdout = true, .log = root_ / "fh.log"});
  auto listening = fh.read_line(steady::now() + 10s);
  const std::string prefix = "listening on 127.0.0.1:";
  ASSERT_TRUE(listening && listening->starts_with(prefix)) << fh.log();
  const std::string url =
      "http://127.0.0.1:" + listening->substr(prefix.size()) + "/1.1/statuses/filter.json";
  auto d = daemon();
  const auto api_socket = "unix:" + (root_ / "api.sock").string();
  write_config(d.config, "data",
               listen_source() + "\n[sources.backup]\ntype = \"http\"\nurl = " + toml_string(url) +
                   "\n",
               {{"events", ""}}, "[api]\nlisten = [" + toml_string(api_socket) + "]\n");
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  const auto sources_file = d.run_dir / "t-default.sources.json";

  // What --json says of each source, by name.
  std::unordered_map<std::string, nlohmann::json> by_name;
  run_result json;
  bool failed = eventually(k_wait, [&] {
    json = sluice(d.args("status", {"--json"}));
    by_name.clear();
    auto j = nlohmann::json::parse(json.out, nullptr, false);
    if (json.status != 0 || !j.is_object() || !j.contains("sources") || !j["sources"].is_array())
      return false;
    for (const auto& s : j["sources"])
      by_name[s.value("name", "")] = s;
    return by_name.count("backup") == 1 && by_name["backup"].value("state", "") == "failed";
  });
  ASSERT_TRUE(failed) << json.status << " " << json.out << json.err << tail_of(d.log());
  EXPECT_EQ(json.status, 0);
  ASSERT_EQ(by_name.size(), 2u) << json.out;
  EXPECT_EQ(by_name["backup"].value("type", ""), "http") << json.out;
  auto why = by_name["backup"].value("last_error", "");
  EXPECT_TRUE(why.starts_with("HTTP 401 from " + url)) << json.out;
  EXPECT_EQ(by_name["push"].value("type", ""), "listen") << json.out;
  EXPECT_EQ(by_name["push"].value("state", ""), "connected") << json.out;
  EXPECT_EQ(by_name["push"].value("last_error", "x"), "") << json.out;
  EXPECT_EQ(nlohmann::json::parse(json.out)["api"], nlohmann::json::array({api_socket}))
      << json.out;

  // The human output names it with its reason, and warns; `running` is the same verb.
  for (const char* verb : {"status", "running"}) {
    auto human = sluice(d.args(verb));
    EXPECT_EQ(human.status, 0) << verb << ": " << human.out << human.err;
    auto lines = lines_of(human.out);
    ASSERT_EQ(lines.size(), 4u) << verb << ": " << human.out;
    EXPECT_TRUE(lines[0].starts_with("t-default is running: pid ")) << human.out;
    EXPECT_TRUE(lines[1].starts_with("sources: ")) << human.out;
    EXPECT_NE(lines[1].find("push connected"), std::string::npos) << human.out;
    EXPECT_NE(lines[1].find("backup failed (" + why + ")"), std::string::npos) << human.out;
    EXPECT_EQ(lines[2], "api: " + api_socket) << human.out;
    EXPECT_EQ(lines[3], "WARNING: 1 of 2 sources failed and will not retry; the daemon runs on "
                        "without it (see " +
                            d.log_file().string() + ")")
        << human.out;
  }

  // The state file: 0640, written by the pipeline (the info file's child).
  struct stat st {};
  ASSERT_EQ(::stat(sources_file.c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  auto file = nlohmann::json::parse(file_text(sources_file), nullptr, false);
  ASSERT_TRUE(file.is_object()) << file_text(sources_file);
  EXPECT_EQ(file.value("pid", 0), child_in(d.info_file())) << file.dump();
  EXPECT_GT(file.value("updated_at", std::int64_t{0}), 0) << file.dump();

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
  EXPECT_FALSE(fs::exists(sources_file));
  EXPECT_FALSE(fs::exists(sources_file.string() + ".tmp"));
  auto after = sluice(d.args("status", {"--json"}));
  EXPECT_EQ(after.status, 3) << after.out << after.err;
  EXPECT_EQ(after.out.find("sources"), std::string::npos) << after.out;
}

} // namespace
