#pragma once

// A minimal blocking client for the firehose tests: plain POSIX sockets on 127.0.0.1 (or a Unix
// socket), every read bounded by a receive timeout, an HTTP/1.1 response head parser and a
// chunked-body decoder. Written here, not with Asio, so the test checks the wire format itself.

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace sluice::firehose::testing {

inline constexpr std::chrono::seconds k_read_timeout{10};

/// One connection. Reads fail (return 0) after k_read_timeout without data.
class test_socket {
public:
  static test_socket tcp(std::uint16_t port) {
    test_socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
    return s;
  }
  static test_socket unix_socket(const std::string& path) {
    test_socket s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    if (::connect(s.fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
    return s;
  }
  test_socket(test_socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  test_socket& operator=(test_socket&&) = delete;
  ~test_socket() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  void send_all(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0)
        throw std::runtime_error("send failed");
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Appends what arrives within `timeout` to `into`; false at end of stream, on an error or at
  /// the timeout.
  bool read_some(std::string& into, std::chrono::milliseconds timeout = k_read_timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
      return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0)
      return false;
    into.append(buf, static_cast<std::size_t>(n));
    return true;
  }

private:
  explicit test_socket(int fd) : fd_(fd) {
    if (fd_ < 0)
      throw std::runtime_error("socket failed");
  }
  int fd_;
};

/// Splits a byte stream into lines ("\r\n" or "\n"); counts empty (keep-alive) lines apart.
class line_collector {
public:
  void feed(std::string_view bytes) {
    partial_.append(bytes);
    std::size_t start = 0;
    for (;;) {
      auto nl = partial_.find('\n', start);
      if (nl == std::string::npos)
        break;
      std::string line = partial_.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      if (line.empty())
        ++keep_alives;
      else
        lines.push_back(std::move(line));
      start = nl + 1;
    }
    partial_.erase(0, start);
  }
  std::vector<std::string> lines;
  std::size_t keep_alives = 0;

private:
  std::string partial_;
};

/// Decodes a chunked body as it arrives.
class chunk_decoder {
public:
  /// Consumes what it can of `in`, appending data to `out`. False on a framing error.
  bool feed(std::string& in, std::string& out) {
    for (;;) {
      if (done)
        return true;
      if (left_ == 0) {
        auto eol = in.find("\r\n");
        if (eol == std::string::npos)
          return true;
        if (expect_crlf_) { // the CRLF after a chunk's data
          if (eol != 0)
            return false;
          in.erase(0, 2);
          expect_crlf_ = false;
          continue;
        }
        std::size_t size = 0;
        for (char c : in.substr(0, eol)) {
          int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
          if (v < 0)
            return false;
          size = size * 16 + static_cast<std::size_t>(v);
        }
        in.erase(0, eol + 2);
        if (size == 0) {
          done = true; // (no trailers from the firehose)
          return true;
        }
        left_ = size;
      }
      std::size_t take = std::min(left_, in.size());
      if (take == 0)
        return true;
      out.append(in, 0, take);
      in.erase(0, take);
      left_ -= take;
      if (left_ == 0)
        expect_crlf_ = true;
    }
  }
  bool done = false;

private:
  std::size_t left_ = 0;
  bool expect_crlf_ = false;
};

/// An HTTP streaming response, read up to a number of lines or to its end.
struct http_stream {
  int status = 0;
  std::string head;        ///< status line and headers
  std::string body;        ///< for a non-chunked response: the bytes received
  line_collector received; ///< for a chunked one: its lines
  bool ended = false;      ///< the terminating chunk came
  bool closed = false;     ///< the server closed the connection
  bool framing_error = false;
};

/// Sends `request` and reads the response until `max_lines` lines came, the stream ended or
/// the connection closed (each read bounded by k_read_timeout).
inline http_stream read_http(test_socket& s, const std::string& request,
                             std::size_t max_lines = SIZE_MAX) {
  http_stream r;
  s.send_all(request);
  std::string in;
  while (in.find("\r\n\r\n") == std::string::npos)
    if (!s.read_some(in)) {
      r.closed = true;
      return r;
    }
  auto end = in.find("\r\n\r\n");
  r.head = in.substr(0, end + 2);
  in.erase(0, end + 4);
  r.status = std::stoi(r.head.substr(9, 3));
  bool chunked = r.head.find("Transfer-Encoding: chunked") != std::string::npos;
  if (!chunked) {
    r.body = in;
    while (s.read_some(r.body)) {
    }
    r.closed = true;
    return r;
  }
  chunk_decoder dec;
  std::string data;
  for (;;) {
    if (!dec.feed(in, data)) {
      r.framing_error = true;
      return r;
    }
    r.received.feed(data);
    data.clear();
    if (dec.done) {
      r.ended = true;
      return r;
    }
    if (r.received.lines.size() >= max_lines)
      return r;
    if (!s.read_some(in)) {
      r.closed = true;
      return r;
    }
  }
}

inline std::string get_request(std::string_view query = "") {
  std::string target = "/1.1/statuses/filter.json";
  if (!query.empty())
    target += "?" + std::string(query);
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

inline std::string post_request(std::string_view form) {
  return "POST /1.1/statuses/filter.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
         std::to_string(form.size()) + "\r\n\r\n" + std::string(form);
}

/// Reads plain NDJSON until `max_lines` lines or the end of the connection.
inline line_collector read_lines(test_socket& s, std::size_t max_lines, bool* closed = nullptr) {
  line_collector c;
  std::string in;
  while (c.lines.size() < max_lines) {
    if (!s.read_some(in)) {
      if (closed != nullptr)
        *closed = true;
      break;
    }
    c.feed(in);
    in.clear();
  }
  return c;
}

} // namespace sluice::firehose::testing
