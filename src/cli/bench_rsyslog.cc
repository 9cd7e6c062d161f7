#include "cli/bench_rsyslog.h"

#include <fstream>
#include <memory>
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
  // A free port can be taken by another program between our look and rsyslogd's bind (the test
  // suite starts servers in parallel): rsyslogd then runs without its listener and says so;
  // another port is tried.
  const fs::path conf = dir / "rsyslog.conf";
  std::unique_ptr<spawned> d;
  push_target to{.host = "127.0.0.1"};
  for (int attempt = 1;; ++attempt) {
    auto port = free_port();
    if (!port)
      return failure(port.error());
    {
      std::ofstream out(conf);
      out << config_text(dir, *port, mode);
      if (!out)
        return failure("writing " + conf.string());
    }
    d = std::make_unique<spawned>();
    if (auto s = d->start({k_rsyslogd, "-n", "-f", conf.string(), "-i",
                           (dir / "rsyslogd.pid").string()},
                          dir / "rsyslogd.stderr");
        !s)
      return failure(s.error());
    // Ready once it accepts a connection (an empty one: no message).
    to.port = *port;
    const auto deadline = std::chrono::steady_clock::now() + k_start_limit;
    bool ready = false, port_taken = false;
    while (!ready && !port_taken) {
      if (auto probe = push_lines(to, block, line_bytes, 0, 1, 0); probe) {
        ready = true;
        break;
      }
      auto said = tail_of(dir / "rsyslogd.stderr");
      port_taken = said.find("ould not create tcp listener") != std::string::npos ||
                   said.find("Address already in use") != std::string::npos;
      if (!port_taken && (d->exited() || std::chrono::steady_clock::now() > deadline))
        return failure("rsyslogd did not start: " + said);
      if (!port_taken)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (ready)
      break;
    if (attempt == 3)
      return failure("rsyslogd found its port taken three times: " +
                     tail_of(dir / "rsyslogd.stderr"));
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
