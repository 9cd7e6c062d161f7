// `sluice ctl` and `sluice console` as a user runs them, against the control API of a real
// `sluice run` (fed by `sluice firehose`) in a temporary directory; the console through a
// pseudo-terminal. And the table rendering both use.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/table.h"
#include "support/child_process.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using namespace sluice::testing;

constexpr std::chrono::seconds k_wait{30};

// --- The table rendering ---------------------------------------------------------------------

TEST(table, aligns_columns_under_the_header_without_trailing_blanks) {
  sluice::cli::table t({"NAME", "EVENTS", "STATE"});
  t.align_right(1);
  t.add_row({"firehose", "12,345", "connected"});
  t.add_row({"push", "7"}); // a missing cell is empty
  EXPECT_EQ(t.render(), "NAME      EVENTS  STATE\n"
                        "firehose  12,345  connected\n"
                        "push           7\n");
}

TEST(table, cuts_long_cells_and_counts_code_points_not_bytes) {
  sluice::cli::table t({"A", "B"});
  t.max_width(1, 8);
  t.add_row({"é", "a very long error message"});
  t.add_row({"xyz", "line\nbreak"});
  EXPECT_EQ(t.render(), "A    B\n"
                        "é    a ver...\n"
                        "xyz  line ...\n");
  EXPECT_EQ(sluice::cli::display_width("Zürich"), 6u);
}

TEST(table, without_a_header_renders_rows_only) {
  sluice::cli::table t;
  t.add_row({"name", "nfl"});
  t.add_row({"track", "Bears, Jets"});
  EXPECT_EQ(t.render(), "name   nfl\ntrack  Bears, Jets\n");
  EXPECT_EQ(sluice::cli::table().render(), "");
}

TEST(table, formats_counts_and_rates) {
  EXPECT_EQ(sluice::cli::format_count(0), "0");
  EXPECT_EQ(sluice::cli::format_count(999), "999");
  EXPECT_EQ(sluice::cli::format_count(1234567), "1,234,567");
  EXPECT_EQ(sluice::cli::format_rate(0), "0/s");
  EXPECT_EQ(sluice::cli::format_rate(2.54), "2.5/s");
  EXPECT_EQ(sluice::cli::format_rate(980), "980/s");
  EXPECT_EQ(sluice::cli::format_rate(12345), "12.3k/s");
}

// --- A pipeline with an API ------------------------------------------------------------------

/// A TCP port on loopback that refuses connections: bound, never listening, held until the end.
class refusing_port {
public:
  refusing_port() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port_ = ntohs(a.sin_port);
  }
  ~refusing_port() { ::close(fd_); }
  refusing_port(const refusing_port&) = delete;
  refusing_port& operator=(const refusing_port&) = delete;
  int port() const { return port_; }

private:
  int fd_ = -1;
  int port_ = 0;
};

class console_test : public ::testing::Test {
protected:
  void TearDown() override {
    run_.reset();
    if (firehose_) {
      firehose_->kill(SIGTERM);
      firehose_->wait(5s);
      firehose_.reset();
    }
  }

  child_stdio logged(const std::string& name) const {
    return child_stdio{
        .pipe_stdin = false, .pipe_stdout = false, .log = root_ / (name + ".log"), .cwd = root_};
  }

  /// Starts `sluice firehose` and `sluice run` with an http stream "nfl" tracking Bills and Jets,
  /// an eventlog subscription "events", and the API on a free loopback port; sets url_.
  void start_pipeline() {
    firehose_ = std::make_unique<child_process>(
        std::vector<std::string>{"firehose", "--listen", "127.0.0.1:0", "--rate", "200"},
        child_stdio{.pipe_stdin = false, .log = root_ / "firehose.log"});
    auto line = firehose_->read_line(steady::now() + 10s);
    const std::string prefix = "listening on 127.0.0.1:";
    ASSERT_TRUE(line && line->starts_with(prefix)) << firehose_->log();
    auto config = root_ / "pipeline.toml";
    std::ofstream(config) << "data_dir = \"" << (root_ / "sluice-data").string() << "\"\n"
                          << "shutdown_timeout = \"5s\"\n\n"
                          << "[api]\nlisten = [\"127.0.0.1:0\"]\n\n"
                          << "[sources.nfl]\ntype = \"http\"\nurl = \"http://127.0.0.1:"
                          << line->substr(prefix.size()) << "/1.1/statuses/filter.json\"\n"
                          << "method = \"POST\"\n\n"
                          << "[sources.nfl.params]\ntrack = [\"Bills\", \"Jets\"]\n\n"
                          << "[subscriptions.events]\nsink = { type = \"eventlog\", dir = \""
                          << (root_ / "events").string() << "\" }\n";
    run_ = std::make_unique<child_process>(std::vector<std::string>{"run", "-c", config.string()},
                                           logged("run"));
    // The addresses the API bound, once it listens.
    auto address_file = root_ / "sluice-data" / "api.address";
    std::string address;
    ASSERT_TRUE(eventually(k_wait,
                           [&] {
                             std::ifstream in(address_file);
                             for (std::string l; std::getline(in, l);)
                               if (!l.empty() && !l.starts_with("unix:")) {
                                 address = l;
                                 return true;
                               }
                             return false;
                           }))
        << "no API address in " << address_file << "\n"
        << run_->log();
    if (address.starts_with("http://"))
      address = address.substr(7);
    url_ = "http://" + address;
    token_file_ = (root_ / "sluice-data" / "api.token").string();
    // The API answers while the pipeline starts (503 "starting"): wait until it is ready.
    ASSERT_TRUE(eventually(k_wait, [&] {
      return ctl({"--json", "streams"}).status == 0;
    })) << run_->log();
  }

  /// `sluice ctl --url URL ARGS...` (with the pipeline's token file when `with_token`).
  run_result ctl(std::vector<std::string> args, bool with_token = true) const {
    std::vector<std::string> a{"ctl", "--url", url_};
    if (with_token) {
      a.push_back("--token-file");
      a.push_back(token_file_);
    }
    a.insert(a.end(), args.begin(), args.end());
    return run_sluice(a);
  }

  temp_dir dir_{"console"}; // removed after the processes ended
  fs::path root_ = dir_.path();
  std::string url_;
  std::string token_file_;
  std::unique_ptr<child_process> firehose_;
  std::unique_ptr<child_process> run_;
};

TEST_F(console_test, ctl_streams_prints_a_table_of_the_streams) {
  ASSERT_NO_FATAL_FAILURE(start_pipeline());
  auto r = ctl({"streams"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("NAME")) << r.out;
  for (const char* column : {"TYPE", "STATE", "ORIGIN", "PARAMS"})
    EXPECT_NE(r.out.find(column), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nnfl "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("track=Bills,Jets"), std::string::npos) << r.out;
}

TEST_F(console_test, ctl_json_meta_is_the_apis_json) {
  ASSERT_NO_FATAL_FAILURE(start_pipeline());
  auto r = ctl({"--json", "meta"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto meta = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(meta.is_object()) << r.out;
  EXPECT_TRUE(meta.contains("version")) << r.out;
  ASSERT_TRUE(meta["sources"].is_array()) << r.out;
  EXPECT_EQ(meta["sources"][0]["name"], "nfl") << r.out;
  // And as tables.
  auto t = ctl({"meta"});
  ASSERT_EQ(t.status, 0) << t.err;
  for (const char* text : {"SOURCES\nNAME", "RATE/1m", "LAST ERROR", "SUBSCRIPTIONS\nNAME",
                           "DELIVERED", "\nnfl ", "\nevents "})
    EXPECT_NE(t.out.find(text), std::string::npos) << text << " in\n" << t.out;
}

TEST_F(console_test, ctl_track_add_and_remove_change_the_streams_params) {
  ASSERT_NO_FATAL_FAILURE(start_pipeline());
  auto r = ctl({"track", "add", "nfl", "Bears", "Green Bay"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Bears"), std::string::npos) << r.out;
  auto track = [&] {
    auto s = ctl({"stream", "nfl", "--json"});
    EXPECT_EQ(s.status, 0) << s.err;
    auto j = json::parse(s.out, nullptr, false);
    return j.is_object() ? j["params"].value("track", std::vector<std::string>{})
                         : std::vector<std::string>{};
  };
  EXPECT_EQ(track(), (std::vector<std::string>{"Bills", "Jets", "Bears", "Green Bay"}));
  r = ctl({"track", "remove", "nfl", "Jets,Green Bay"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(track(), (std::vector<std::string>{"Bills", "Bears"}));
  r = ctl({"track", "set", "nfl", "Lions"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(track(), (std::vector<std::string>{"Lions"}));
}

TEST_F(console_test, ctl_subscription_commands_add_pause_rewind_and_delete) {
  ASSERT_NO_FATAL_FAILURE(start_pipeline());
  auto r = ctl(
      {"sub", "add", "archive", "sink=eventlog", "dir=archive", "start=beginning", "type=tweet"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\narchive "), std::string::npos) << r.out;
  r = ctl({"subs"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\narchive "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("type=tweet"), std::string::npos) << r.out;
  r = ctl({"sub", "pause", "archive"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("paused"), std::string::npos) << r.out;
  r = ctl({"sub", "rewind", "archive", "beginning"});
  EXPECT_EQ(r.status, 0) << r.err;
  r = ctl({"sub", "delete", "archive"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "subscription archive deleted\n");
  r = ctl({"sub", "show", "archive"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("subscription archive does not exist (HTTP 404)"), std::string::npos)
      << r.err;
  r = ctl({"queue"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("SUBSCRIPTION"), std::string::npos) << r.out;
}

TEST_F(console_test, ctl_errors_are_plain_words_with_their_exit_status) {
  ASSERT_NO_FATAL_FAILURE(start_pipeline());
  auto r = ctl({"stream", "nfl2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sluice ctl: stream nfl2 does not exist (HTTP 404)\n");

  auto wrong = root_ / "wrong.token";
  std::ofstream(wrong) << "not-the-token\n";
  r = run_sluice(
      {"ctl", "--url", url_, "--token-file", wrong.string(), "track", "add", "nfl", "Bears"});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.err.find("token"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(HTTP 40"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = ctl({"frobnicate"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
}

TEST_F(console_test, ctl_finds_the_token_in_the_working_directorys_data_dir) {
  ASSERT_NO_FATAL_FAILURE(start_pipeline());
  child_process c({"ctl", "--url", url_, "track", "add", "nfl", "Bears"},
                  child_stdio{.pipe_stdin = false, .log = {}, .cwd = root_});
  EXPECT_EQ(c.finish(steady::now() + k_run_timeout), 0) << c.err();
}

TEST(console_unreachable, ctl_exits_69_when_the_api_cannot_be_reached) {
  refusing_port port;
  ASSERT_NE(port.port(), 0);
  auto url = "http://127.0.0.1:" + std::to_string(port.port());
  auto r = run_sluice({"ctl", "--url", url, "streams"});
  EXPECT_EQ(r.status, 69);
  EXPECT_EQ(r.err, "sluice ctl: cannot reach the API at " + url +
                       ": connection refused; is `sluice run` running?\n");
  r = run_sluice({"ctl", "--url", "unix:/nonexistent/sluice.sock", "meta"});
  EXPECT_EQ(r.status, 69);
  EXPECT_NE(r.err.find("cannot reach the API at unix:/nonexistent/sluice.sock"), std::string::npos)
      << r.err;
  r = run_sluice({"ctl", "--url", "ftp://x", "meta"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not an http:// or unix: URL"), std::string::npos) << r.err;
}

// --- The console through a pseudo-terminal ---------------------------------------------------

/// `sluice console` on a pseudo-terminal: what it shows, with escape sequences and carriage
/// returns removed, and what is typed. Every wait is bounded.
class pty_session {
public:
  pty_session(const std::vector<std::string>& args, const std::vector<std::string>& env_extra) {
    // Everything the child needs is built before fork: after it, only exec.
    std::vector<std::string> env_strings = env_extra;
    for (char** e = environ; *e != nullptr; ++e)
      if (!std::string_view(*e).starts_with("TERM=") && !std::string_view(*e).starts_with("HOME="))
        env_strings.emplace_back(*e);
    std::vector<std::string> argv_strings{SLUICE_BIN};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv, envp;
    for (auto& a : argv_strings)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_strings)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    winsize size{40, 160, 0, 0};
    pid_ = ::forkpty(&master_, nullptr, nullptr, &size);
    if (pid_ == 0) {
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }
  ~pty_session() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int raw = 0;
      ::waitpid(pid_, &raw, 0);
    }
    if (master_ >= 0)
      ::close(master_);
  }
  pty_session(const pty_session&) = delete;
  pty_session& operator=(const pty_session&) = delete;

  bool started() const { return pid_ > 0 && master_ >= 0; }

  void type(std::string_view keys) {
    while (!keys.empty()) {
      auto n = ::write(master_, keys.data(), keys.size());
      if (n <= 0 && errno != EINTR && errno != EAGAIN)
        return;
      if (n > 0)
        keys.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Reads until the screen text from `from` on holds `text` `times` times; false at the timeout.
  bool wait_for(const std::string& text, std::size_t from = 0, int times = 1,
                std::chrono::milliseconds timeout = 15s) {
    auto deadline = steady::now() + timeout;
    for (;;) {
      if (count(text, from) >= times)
        return true;
      if (steady::now() >= deadline || !read_some(deadline))
        return count(text, from) >= times;
    }
  }

  /// Reads until the console ended; its exit status, nothing at the timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 10s) {
    auto deadline = steady::now() + timeout;
    while (!status_) {
      int raw = 0;
      if (::waitpid(pid_, &raw, WNOHANG) == pid_) {
        status_ = exit_code(raw);
        break;
      }
      if (steady::now() >= deadline)
        break;
      read_some(std::min(deadline, steady::now() + 50ms));
    }
    return status_;
  }

  const std::string& screen() const { return screen_; }

private:
  int count(const std::string& text, std::size_t from) const {
    int n = 0;
    for (auto at = screen_.find(text, from); at != std::string::npos;
         at = screen_.find(text, at + text.size()))
      ++n;
    return n;
  }

  // Waits for output up to `deadline` and keeps it; false when the terminal closed.
  bool read_some(steady::time_point deadline) {
    pollfd p{master_, POLLIN, 0};
    int ready = ::poll(&p, 1, ms_until(deadline));
    if (ready <= 0)
      return ready == 0 || errno == EINTR;
    char buf[4096];
    auto n = ::read(master_, buf, sizeof buf);
    if (n <= 0)
      return false; // EIO: the console ended
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (escape_ == 1) {
        escape_ = c == '[' ? 2 : 0; // ESC x: a two-byte sequence
      } else if (escape_ == 2) {
        if (c >= 0x40 && c <= 0x7e)
          escape_ = 0; // the final byte of ESC [ ...
      } else if (c == '\x1b') {
        escape_ = 1;
      } else if (c != '\r' && c != '\a') {
        screen_ += c;
      }
    }
    return true;
  }

  int master_ = -1;
  pid_t pid_ = -1;
  int escape_ = 0;
  std::string screen_;
  std::optional<int> status_;
};

TEST_F(console_test, console_completes_runs_commands_and_recalls_history) {
  ASSERT_NO_FATAL_FAILURE(start_pipeline());
  auto history = root_ / "history";
  pty_session console(
      {"console", "--url", url_, "--token-file", token_file_},
      {"TERM=xterm", "HOME=" + root_.string(), "SLUICE_HISTORY=" + history.string()});
  ASSERT_TRUE(console.started());
  ASSERT_TRUE(console.wait_for("sluice> ")) << console.screen();

  // TAB completes a verb, then a stream name the API knows.
  auto mark = console.screen().size();
  console.type("he\t");
  ASSERT_TRUE(console.wait_for("help ", mark)) << console.screen();
  console.type("\r");
  ASSERT_TRUE(console.wait_for("track add|remove|set NAME TERM...", mark)) << console.screen();
  ASSERT_TRUE(console.wait_for("sluice> ", mark)) << console.screen();

  mark = console.screen().size();
  console.type("stream n\t");
  ASSERT_TRUE(console.wait_for("stream nfl ", mark)) << console.screen();
  console.type("\r");
  ASSERT_TRUE(console.wait_for("track   Bills, Jets", mark)) << console.screen();

  // A command's table, then Up-arrow and Enter: the same command again.
  mark = console.screen().size();
  console.type("streams\r");
  ASSERT_TRUE(console.wait_for("ORIGIN", mark)) << console.screen();
  ASSERT_TRUE(console.wait_for("sluice> ", mark)) << console.screen();
  console.type("\x1b[A\r");
  ASSERT_TRUE(console.wait_for("ORIGIN", mark, 2)) << console.screen();
  ASSERT_TRUE(console.wait_for("sluice> ", mark, 2)) << console.screen();

  // An error in plain words, and the console goes on.
  mark = console.screen().size();
  console.type("stream nfl2\r");
  ASSERT_TRUE(console.wait_for("stream nfl2 does not exist (HTTP 404)", mark)) << console.screen();
  ASSERT_TRUE(console.wait_for("sluice> ", mark)) << console.screen();

  console.type("quit\r");
  auto status = console.wait_exit();
  ASSERT_TRUE(status.has_value()) << console.screen();
  EXPECT_EQ(*status, 0) << console.screen();
  auto saved = file_text(history);
  EXPECT_NE(saved.find("streams"), std::string::npos) << saved;
  EXPECT_NE(saved.find("help"), std::string::npos) << saved;
}

TEST_F(console_test, console_reads_commands_from_a_pipe_and_ends_at_eof) {
  ASSERT_NO_FATAL_FAILURE(start_pipeline());
  auto r = run_sluice({"console", "--url", url_}, "streams\nstream nfl2\nmeta\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\nnfl "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SUBSCRIPTIONS"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("stream nfl2 does not exist (HTTP 404)"), std::string::npos) << r.err;
}

} // namespace
