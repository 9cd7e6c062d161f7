#include "cli/bench_run.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/bench_lines.h"
#include "config/tables.h"
#include "io/redis.h"

namespace sluice::cli::bench {

namespace {
constexpr auto k_poll = std::chrono::milliseconds(2);
constexpr auto k_stall_limit = std::chrono::seconds(30);

double seconds_of(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}
} // namespace

std::shared_ptr<const config::option_values> slow_reconnect(const std::string& source) {
  const std::chrono::nanoseconds second = std::chrono::seconds(1);
  return std::make_shared<const config::option_values>(config::option_values::make(
      config::reconnect_options, source, {{"network_initial", second}, {"network_step", second}}));
}

double cpu_seconds() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return seconds_of(u.ru_utime) + seconds_of(u.ru_stime);
}

double thread_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

checked<void> wait_progress(const std::function<std::uint64_t()>& progress, std::uint64_t target,
                            const std::function<std::string()>& stalled) {
  std::uint64_t last_seen = 0;
  auto last_move = std::chrono::steady_clock::now();
  for (;;) {
    std::uint64_t now_at = progress();
    if (now_at >= target)
      return {};
    auto now = std::chrono::steady_clock::now();
    if (now_at != last_seen) {
      last_seen = now_at;
      last_move = now;
    }
    if (interrupted().load())
      return failure("interrupted");
    if (now - last_move > k_stall_limit)
      return failure(fmt::format(
          "no progress for {} s: {}",
          std::chrono::duration_cast<std::chrono::seconds>(k_stall_limit).count(), stalled()));
    std::this_thread::sleep_for(k_poll);
  }
}

spawned::~spawned() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

checked<void> spawned::start(const std::vector<std::string>& argv,
                             const std::filesystem::path& log) {
  std::vector<std::string> args = argv; // the child's copies
  std::vector<char*> ptrs;
  for (auto& a : args)
    ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  std::string log_path = log.string();
  pid_ = ::fork();
  if (pid_ < 0)
    return failure(fmt::format("fork: {}", std::strerror(errno)));
  if (pid_ == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(ptrs[0], ptrs.data());
    ::_exit(127);
  }
  return {};
}

bool spawned::exited() {
  int st = 0;
  if (pid_ > 0 && ::waitpid(pid_, &st, WNOHANG) == pid_) {
    pid_ = -1;
    return true;
  }
  return pid_ <= 0;
}

checked<std::uint16_t> start_redis(spawned& server, const std::filesystem::path& dir) {
  constexpr const char* k_redis_server = "/usr/bin/redis-server";
  if (::access(k_redis_server, X_OK) != 0)
    return failure(
        fmt::format("{} is missing: scripts/setup installs Debian's redis-server", k_redis_server));
  auto port = free_port();
  if (!port)
    return failure(port.error());
  if (auto s = server.start({k_redis_server, "--port", std::to_string(*port), "--bind", "127.0.0.1",
                             "--dir", dir.string(), "--save", "", "--appendonly", "no",
                             "--daemonize", "no"},
                            dir / "redis.log");
      !s)
    return failure(s.error());
  io::redis::endpoint at{.host = "127.0.0.1", .port = *port};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!io::redis::connection::open(at, std::chrono::milliseconds(500))) {
    if (server.exited() || std::chrono::steady_clock::now() > deadline)
      return failure("redis-server did not start; see " + (dir / "redis.log").string());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return *port;
}

} // namespace sluice::cli::bench
