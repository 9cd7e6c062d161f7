#include "cli/bench_lines.h"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "base/clock.h"
#include "cli/bench_run.h"
#include "io/asio.h"
#include "io/listen.h"

namespace sluice::cli::bench {
namespace {

namespace asio = boost::asio;

constexpr std::size_t k_write_bytes = 1 << 20;
constexpr std::size_t k_read_bytes = 256 * 1024;

std::string errno_text(std::string_view what) {
  return fmt::format("{}: {}", what, std::strerror(errno));
}

/// `fd` connected to `addr`, or -1 with connect()'s errno (and `fd` closed).
int connected(int fd, const sockaddr* addr, socklen_t len) {
  if (fd >= 0 && ::connect(fd, addr, len) == 0)
    return fd;
  int e = errno;
  if (fd >= 0)
    ::close(fd);
  errno = e;
  return -1;
}

/// A socket connected to `to` (TCP or Unix), or -1 with errno set.
int connect_once(const push_target& to) {
  if (!to.unix_path.empty()) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, to.unix_path.c_str(), sizeof(a.sun_path) - 1);
    return connected(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
                     reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(to.port);
  ::inet_pton(AF_INET, to.host.empty() ? "127.0.0.1" : to.host.c_str(), &a.sin_addr);
  return connected(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                   reinterpret_cast<sockaddr*>(&a), sizeof(a));
}

/// connect_once(), retried for up to 5 s while nothing listens there yet (a source starting).
int connect_to(const push_target& to) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    int fd = connect_once(to);
    if (fd >= 0 || (errno != ECONNREFUSED && errno != ENOENT) ||
        std::chrono::steady_clock::now() > deadline)
      return fd;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// Writes all of [p, p+n) to fd; false (errno set) when it could not.
bool write_all_to(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK)
      w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// One pusher: `lines` lines of `block` into fd, paced at `rate` lines/s (0: unpaced).
bool push_one(int fd, const std::string& block, std::size_t line_bytes, std::uint64_t lines,
              std::uint64_t rate) {
  const std::size_t block_lines = block.size() / line_bytes;
  const std::size_t chunk_lines = std::max<std::size_t>(1, k_write_bytes / line_bytes);
  std::size_t at = 0; // line of the block to write next
  std::uint64_t sent = 0;
  const auto start = std::chrono::steady_clock::now();
  while (sent < lines && !interrupted().load(std::memory_order_relaxed)) {
    std::uint64_t allowed = lines;
    if (rate > 0) {
      auto elapsed = std::chrono::steady_clock::now() - start;
      allowed = std::min<std::uint64_t>(
          lines, static_cast<std::uint64_t>(std::chrono::duration<double>(elapsed).count() *
                                            static_cast<double>(rate)));
      if (allowed <= sent) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
    }
    std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>({allowed - sent, chunk_lines, block_lines - at}));
    if (!write_all_to(fd, block.data() + at * line_bytes, n * line_bytes))
      return false;
    sent += n;
    at = (at + n) % block_lines;
  }
  return sent == lines;
}

} // namespace

std::string make_line_block(std::size_t line_bytes, std::size_t lines_per_block) {
  std::string out;
  out.reserve(line_bytes * lines_per_block);
  for (std::size_t i = 0; i < lines_per_block; ++i) {
    std::string line = fmt::format(R"({{"id":"{:010}","type":"bench","text":")", i);
    const std::string tail = "\"}\n";
    if (line.size() + tail.size() < line_bytes)
      line.append(line_bytes - line.size() - tail.size(), static_cast<char>('a' + i % 26));
    line += tail;
    out += line;
  }
  return out;
}

checked<push_figures> push_lines(const push_target& to, const std::string& block,
                                 std::size_t line_bytes, std::uint64_t lines, unsigned connections,
                                 std::uint64_t rate) {
  if (to.fd >= 0)
    connections = 1;
  std::vector<std::thread> threads;
  std::mutex m;
  std::string error;
  double cpu = 0;
  for (unsigned c = 0; c < connections; ++c) {
    std::uint64_t share = lines / connections + (c < lines % connections ? 1 : 0);
    std::uint64_t share_rate = rate / connections + (rate > 0 && c < rate % connections ? 1 : 0);
    threads.emplace_back([&, share, share_rate] {
      int fd = to.fd >= 0 ? to.fd : connect_to(to);
      bool ok = fd >= 0 && push_one(fd, block, line_bytes, share, share_rate);
      std::string why = ok ? "" : errno_text("pushing lines");
      if (fd >= 0)
        ::close(fd);
      std::lock_guard lk(m);
      cpu += thread_cpu_seconds();
      if (!ok && error.empty())
        error = why;
    });
  }
  for (auto& t : threads)
    t.join();
  if (!error.empty())
    return failure(error);
  return push_figures{lines, lines * line_bytes, cpu};
}

checked<std::uint16_t> free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io);
  if (auto ec = io::listen_on(a, {asio::ip::address_v4::loopback(), 0}))
    return failure("finding a free port: " + ec.message());
  return a.local_endpoint().port();
}

namespace {

/// Reads fd until it ends, adding what came to `bytes`.
void drain(int fd, std::atomic<std::uint64_t>& bytes) {
  std::vector<char> buf(k_read_bytes);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    bytes.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
  }
}

/// A listening socket on `to` (TCP on 127.0.0.1 or Unix), opened the one way sluice opens one
/// (io::listen_on), as a plain blocking descriptor for the readers' threads; -1 with errno set.
int listen_fd(const push_target& to) {
  asio::io_context io;
  boost::system::error_code ec;
  int fd = -1;
  if (!to.unix_path.empty()) {
    asio::local::stream_protocol::acceptor a(io);
    if (ec = io::listen_on(a, to.unix_path); !ec)
      fd = a.release(ec);
  } else {
    asio::ip::tcp::acceptor a(io);
    if (ec = io::listen_on(a, {asio::ip::address_v4::loopback(), to.port}); !ec)
      fd = a.release(ec);
  }
  if (fd < 0)
    errno = ec.value();
  else
    ::fcntl(fd, F_SETFD, FD_CLOEXEC); // not into rsyslogd, started later by the same process
  return fd;
}

} // namespace

checked<double> measure_raw_push(push_target to, const std::string& block, std::size_t line_bytes,
                                 std::uint64_t lines, unsigned connections) {
  std::atomic<std::uint64_t> bytes{0};
  std::vector<std::thread> readers;
  int listener = -1;
  if (to.unix_path.empty() && to.port == 0) { // a pipe
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0)
      return failure(errno_text("pipe"));
    ::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    to.fd = p[1];
    readers.emplace_back([&, fd = p[0]] {
      drain(fd, bytes);
      ::close(fd);
    });
  } else {
    listener = listen_fd(to);
    if (listener < 0)
      return failure(errno_text("raw reference: listen"));
    readers.emplace_back([&] {
      std::vector<std::thread> conns;
      for (unsigned c = 0; c < connections; ++c) {
        int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
          break;
        conns.emplace_back([&, fd] {
          drain(fd, bytes);
          ::close(fd);
        });
      }
      for (auto& t : conns)
        t.join();
    });
  }
  const std::int64_t start = now_mono_ns();
  auto pushed = push_lines(to, block, line_bytes, lines, connections, 0);
  for (auto& t : readers)
    t.join();
  const double seconds = static_cast<double>(now_mono_ns() - start) / 1e9;
  if (listener >= 0)
    ::close(listener);
  if (!to.unix_path.empty())
    ::unlink(to.unix_path.c_str());
  if (!pushed)
    return failure("raw reference: " + pushed.error());
  if (bytes.load() != lines * line_bytes)
    return failure(
        fmt::format("raw reference: read {} bytes of {}", bytes.load(), lines * line_bytes));
  return static_cast<double>(lines) / seconds;
}

checked<double> measure_raw_pull(const std::vector<push_target>& from, const std::string& request) {
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  const std::int64_t start = now_mono_ns();
  for (const auto& to : from)
    readers.emplace_back([&] {
      int fd = connect_to(to);
      if (fd < 0 || !write_all_to(fd, request.data(), request.size()))
        failed.store(true);
      else
        drain(fd, bytes);
      if (fd >= 0)
        ::close(fd);
    });
  for (auto& t : readers)
    t.join();
  if (failed.load())
    return failure(errno_text("raw reference: connecting to the firehose"));
  return static_cast<double>(now_mono_ns() - start) / 1e9;
}

} // namespace sluice::cli::bench
