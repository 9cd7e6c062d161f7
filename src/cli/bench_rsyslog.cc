#include "cli/bench_rsyslog.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "base/clock.h"
#include "cli/bench_lines.h"
#include "cli/bench_run.h"

namespace sluice::cli::bench {
namespace {

namespace fs = std::filesystem;
constexpr const char* k_rsyslogd = "/usr/sbin/rsyslogd";
constexpr auto k_start_limit = std::chrono::seconds(10);

/// The configuration: imtcp on 127.0.0.1:port, every message's raw text and a newline into
/// out.log (so the file ends up byte for byte what was pushed), the queues of `mode`.
std::string config_text(const fs::path& dir, std::uint16_t port, rsyslog_queue mode) {
  std::string queue =
      mode == rsyslog_queue::direct
          ? R"(queue.type="Direct")"
          : R"(queue.type="LinkedList" queue.filename="action" queue.saveOnShutdown="on")";
  std::string main_queue =
      mode == rsyslog_queue::direct
          ? R"(main_queue(queue.type="Direct"))"
          : R"(main_queue(queue.type="LinkedList" queue.filename="main" queue.saveOnShutdown="on"))";
  return fmt::format(R"(global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
{main_queue}
input(type="imtcp" address="127.0.0.1" port="{port}")
action(type="omfile" file="{dir}/out.log" template="raw" {queue})
)",
                     fmt::arg("dir", dir.string()), fmt::arg("port", port),
                     fmt::arg("main_queue", main_queue), fmt::arg("queue", queue));
}

/// A running rsyslogd; stopped (TERM, then waited for) when this goes.
class rsyslogd {
public:
  ~rsyslogd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  checked<void> start(const fs::path& conf, const fs::path& dir) {
    std::string pidfile = (dir / "rsyslogd.pid").string();
    std::string conf_s = conf.string();
    std::string log = (dir / "rsyslogd.stderr").string();
    pid_ = ::fork();
    if (pid_ < 0)
      return failure(fmt::format("fork: {}", std::strerror(errno)));
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl(k_rsyslogd, k_rsyslogd, "-n", "-f", conf_s.c_str(), "-i", pidfile.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return {};
  }
  bool exited() {
    int st = 0;
    if (pid_ > 0 && ::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return pid_ <= 0;
  }

private:
  pid_t pid_ = -1;
};

std::uint64_t size_of(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

std::string tail_of(const fs::path& p) {
  std::ifstream in(p);
  std::string all, line;
  while (std::getline(in, line))
    all += line + "\n";
  return all.size() > 400 ? all.substr(all.size() - 400) : all;
}

} // namespace

checked<double> measure_rsyslog(const fs::path& dir, rsyslog_queue mode, const std::string& block,
                                std::size_t line_bytes, std::uint64_t lines, unsigned connections) {
  if (::access(k_rsyslogd, X_OK) != 0)
    return failure(
        fmt::format("{} is missing: scripts/setup installs Debian's rsyslog", k_rsyslogd));
  std::error_code ec;
  fs::create_directories(dir, ec);
  auto port = free_port();
  if (!port)
    return failure(port.error());
  const fs::path conf = dir / "rsyslog.conf";
  {
    std::ofstream out(conf);
    out << config_text(dir, *port, mode);
    if (!out)
      return failure("writing " + conf.string());
  }
  rsyslogd d;
  if (auto s = d.start(conf, dir); !s)
    return failure(s.error());
  // Ready once it accepts a connection (an empty one: no message).
  push_target to{.host = "127.0.0.1", .port = *port};
  const auto deadline = std::chrono::steady_clock::now() + k_start_limit;
  for (;;) {
    if (auto probe = push_lines(to, block, line_bytes, 0, 1, 0); probe)
      break;
    if (d.exited() || std::chrono::steady_clock::now() > deadline)
      return failure("rsyslogd did not start: " + tail_of(dir / "rsyslogd.stderr"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::uint64_t total = lines * line_bytes;
  const fs::path out = dir / "out.log";
  const std::int64_t start = now_mono_ns();
  auto pushed = push_lines(to, block, line_bytes, lines, connections, 0);
  if (!pushed)
    return failure("rsyslog: " + pushed.error());
  auto done = wait_progress(
      [&] { return size_of(out); }, total,
      [&] { return fmt::format("rsyslogd wrote {} of {} bytes", size_of(out), total); });
  const double seconds = static_cast<double>(now_mono_ns() - start) / 1e9;
  if (!done)
    return failure("rsyslog: " + done.error());
  if (size_of(out) != total)
    return failure(fmt::format("rsyslog wrote {} bytes, {} were pushed", size_of(out), total));
  return static_cast<double>(lines) / seconds;
}

} // namespace sluice::cli::bench
