// What reaches a running daemon from outside (docs/daemon.md): HUP through `sluice reload`, USR1
// to reconnect the sources, the hooks run at start and stop, and sd_notify of `sluice run` in the
// foreground.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <poll.h>
#include <signal.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "daemon_fixture.h"
#include "support/eventually.h"
#include "support/socket_sender.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

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

/// Sends lines {"n":first} .. {"n":last} to the `listen` source's Unix socket (it may still be
/// starting: the connection is tried for 10 s).
void push_lines(const fs::path& sock, int first, int last) {
  send_to_unix(sock, numbered_json_lines(first, last), 10s);
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
  firehose_child fh({"--stall-after", "2000", "--resume", "--seed", "3"}, root_ / "firehose.log",
                    true);
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

} // namespace
} // namespace sluice::testing
