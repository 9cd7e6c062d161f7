#include "cli/bench_rsyslog.h"

#include <fstream>
#include <functional>
#include <memory>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "base/clock.h"
#include "cli/bench_lines.h"
#include "cli/bench_run.h"
#include "io/redis.h"

namespace sluice::cli::bench {
namespace {

namespace fs = std::filesystem;
constexpr const char* k_rsyslogd = "/usr/sbin/rsyslogd";
constexpr const char* k_omhiredis = "/usr/lib/x86_64-linux-gnu/rsyslog/omhiredis.so";
constexpr auto k_start_limit = std::chrono::seconds(10);

/// The queues of `mode`: the main queue's statement and the action's parameters.
std::pair<std::string, std::string> queues_of(rsyslog_queue mode) {
  if (mode == rsyslog_queue::direct)
    return {R"(main_queue(queue.type="Direct"))", R"(queue.type="Direct")"};
  return {R"(main_queue(queue.type="LinkedList" queue.filename="main" queue.saveOnShutdown="on"))",
          R"(queue.type="LinkedList" queue.filename="action" queue.saveOnShutdown="on")"};
}

/// The configuration: imtcp on 127.0.0.1:port, every message's raw text (template "raw", with a
/// newline; "raw_line" without) to `action`, the queues of `mode`.
std::string config_text(const fs::path& dir, std::uint16_t port, rsyslog_queue mode,
                        const std::string& action) {
  auto [main_queue, queue] = queues_of(mode);
  return fmt::format(R"(global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
template(name="raw_line" type="string" string="%rawmsg%")
{main_queue}
input(type="imtcp" address="127.0.0.1" port="{port}")
{action}
)",
                     fmt::arg("dir", dir.string()), fmt::arg("port", port),
                     fmt::arg("main_queue", main_queue),
                     fmt::arg("action", fmt::format(fmt::runtime(action), fmt::arg("queue", queue),
                                                    fmt::arg("dir", dir.string()))));
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

namespace {

/// Starts rsyslogd in `dir` with `action` (a format string: {queue}, {dir}), pushes the lines,
/// waits until `delivered()` reaches `target`: lines per second, from the first byte pushed.
checked<double> run_rsyslog(const fs::path& dir, rsyslog_queue mode, const std::string& action,
                            const std::string& block, std::size_t line_bytes, std::uint64_t lines,
                            unsigned connections, const std::function<std::uint64_t()>& delivered,
                            std::uint64_t target, const std::string& unit) {
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
      out << config_text(dir, *port, mode, action);
      if (!out)
        return failure("writing " + conf.string());
    }
    d = std::make_unique<spawned>();
    if (auto s =
            d->start({k_rsyslogd, "-n", "-f", conf.string(), "-i", (dir / "rsyslogd.pid").string()},
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
  const std::int64_t start = now_mono_ns();
  auto pushed = push_lines(to, block, line_bytes, lines, connections, 0);
  if (!pushed)
    return failure("rsyslog: " + pushed.error());
  auto done = wait_progress(delivered, target, [&] {
    return fmt::format("rsyslogd delivered {} of {} {}", delivered(), target, unit);
  });
  const double seconds = static_cast<double>(now_mono_ns() - start) / 1e9;
  if (!done)
    return failure("rsyslog: " + done.error());
  if (delivered() != target)
    return failure(
        fmt::format("rsyslog delivered {} {}, {} were pushed", delivered(), unit, target));
  return static_cast<double>(lines) / seconds;
}

} // namespace

checked<double> measure_rsyslog(const fs::path& dir, rsyslog_queue mode, const std::string& block,
                                std::size_t line_bytes, std::uint64_t lines, unsigned connections) {
  const fs::path out = dir / "out.log";
  return run_rsyslog(
      dir, mode, R"(action(type="omfile" file="{dir}/out.log" template="raw" {queue}))", block,
      line_bytes, lines, connections, [&] { return size_of(out); }, lines * line_bytes, "bytes");
}

checked<double> measure_omhiredis(const fs::path& dir, std::uint16_t redis_port,
                                  const std::string& block, std::size_t line_bytes,
                                  std::uint64_t lines) {
  if (::access(k_omhiredis, R_OK) != 0)
    return failure(
        fmt::format("{} is missing: scripts/setup installs Debian's rsyslog-hiredis", k_omhiredis));
  io::redis::endpoint at{.host = "127.0.0.1", .port = redis_port};
  auto c = io::redis::connection::open(at, std::chrono::seconds(2));
  if (!c)
    return failure("Redis: " + c.error().message());
  auto delivered = [&]() -> std::uint64_t {
    auto n = c->command({"LLEN", "bench:rsyslog"});
    return n && n->type == io::redis::reply::kind::integer ? static_cast<std::uint64_t>(n->integer)
                                                           : 0;
  };
  std::string action = fmt::format(
      R"(module(load="omhiredis")
action(type="omhiredis" server="127.0.0.1" serverport="{}" mode="queue" key="bench:rsyslog" )"
      // An in-memory action queue dequeued in batches: omhiredis pipelines a batch's RPUSHes
      // (with a direct queue it waits for each reply, about 15,000 lines/s here).
      R"(template="raw_line" queue.type="LinkedList" queue.size="200000" )"
      R"(queue.dequeueBatchSize="1024"))",
      redis_port);
  return run_rsyslog(dir, rsyslog_queue::direct, action, block, line_bytes, lines, 1, delivered,
                     lines, "entries");
}

} // namespace sluice::cli::bench
