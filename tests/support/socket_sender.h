#pragma once

// A test's own end of a stream socket: a peer that connects to a source's TCP port or Unix socket
// and writes lines to it, or a bare listener a source connects to. Blocking calls on plain file
// descriptors, which the caller closes; every failure names the address and the errno.

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <netinet/in.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

namespace sluice::testing {

/// A TCP socket listening on 127.0.0.1 on a free port (backlog 16); its port in `port`. A test
/// failure when it cannot bind or listen.
inline int tcp_listen_any(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  EXPECT_EQ(::listen(fd, 16), 0) << std::strerror(errno);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

/// A TCP port on 127.0.0.1 nothing listens on (bound, then closed): connecting is refused, and a
/// server of the test may bind it (unless another process took it in between).
inline std::uint16_t closed_port() {
  std::uint16_t port = 0;
  ::close(tcp_listen_any(port));
  return port;
}

/// Connects a new stream socket to 127.0.0.1:`port`, with SO_SNDBUF `sndbuf` unless 0: the
/// descriptor, or -1 with `error` ("connect 127.0.0.1:P: reason"). No test failure.
inline int try_connect_tcp(std::uint16_t port, std::string& error, int sndbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sndbuf > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error = "connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

/// The same for the Unix socket at `path` ("connect PATH: reason").
inline int try_connect_unix(const std::string& path, std::string& error, int sndbuf = 0) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) {
    error = "connect " + path + ": the path is too long for a Unix socket";
    return -1;
  }
  std::memcpy(a.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sndbuf > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error = "connect " + path + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

/// try_connect_tcp() with a test failure when it cannot connect (the descriptor is -1 then).
inline int tcp_connect(std::uint16_t port) {
  std::string error;
  int fd = try_connect_tcp(port, error);
  EXPECT_GE(fd, 0) << error;
  return fd;
}

/// try_connect_unix() with a test failure when it cannot connect (the descriptor is -1 then).
inline int unix_connect(const std::string& path) {
  std::string error;
  int fd = try_connect_unix(path, error);
  EXPECT_GE(fd, 0) << error;
  return fd;
}

/// Connects to the Unix socket at `path`, trying again every 10 ms for up to `timeout` (a listen
/// source may still be starting): the descriptor, or -1 with a test failure naming the last
/// error.
inline int unix_connect_within(const std::filesystem::path& path,
                               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string error;
  for (;;) {
    int fd = try_connect_unix(path.string(), error);
    if (fd >= 0)
      return fd;
    if (std::chrono::steady_clock::now() >= deadline)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "cannot connect to " << path.string() << " within " << timeout.count()
                << " ms: " << error;
  return -1;
}

/// Sends all of `data` on the blocking socket `fd` (MSG_NOSIGNAL: a closed peer is EPIPE, not
/// SIGPIPE). False, with `error` ("send: reason"), when a send fails or sends nothing.
inline bool send_all(int fd, std::string_view data, std::string& error) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      error = std::string("send: ") + std::strerror(errno);
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// send_all() as a test step: a fatal failure when not all of `data` could be sent.
inline void write_all(int fd, std::string_view data) {
  std::string error;
  ASSERT_TRUE(send_all(fd, data, error)) << error;
}

/// Everything `fd` delivers until its end of file (or an error).
inline std::string read_all_fd(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

/// Lines {"n":first} .. {"n":last}, each with its '\n'.
inline std::string numbered_json_lines(int first, int last) {
  std::string data;
  for (int i = first; i <= last; ++i)
    data += "{\"n\":" + std::to_string(i) + "}\n";
  return data;
}

/// Connects to the Unix socket at `path` (trying for up to `connect_within`; 0: once), sends all
/// of `data` and closes: what a pusher of a listen source does. A fatal test failure (see
/// ASSERT_NO_FATAL_FAILURE) when it cannot connect or send.
inline void send_to_unix(const std::filesystem::path& path, std::string_view data,
                         std::chrono::milliseconds connect_within = std::chrono::milliseconds(0)) {
  int fd = unix_connect_within(path, connect_within);
  ASSERT_GE(fd, 0);
  std::string error;
  bool sent = send_all(fd, data, error);
  ::close(fd);
  ASSERT_TRUE(sent) << path.string() << ": " << error;
}

} // namespace sluice::testing
