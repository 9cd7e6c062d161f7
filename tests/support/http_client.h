#pragma once

// The control API of a real `sluice run` as its clients see it: a small HTTP/1.1 client on
// loopback TCP whose every wait is bounded (raw bytes when a test needs to misbehave: pipelined
// bursts, oversized headers, a slow sender), and api_pipeline, which runs `sluice firehose` and
// `sluice run` with the API on a free port in a temporary directory.

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

namespace sluice::testing {

/// One HTTP response. `status` 0: none arrived (the connection failed, closed or timed out).
struct http_response {
  int status = 0;
  std::map<std::string, std::string> headers; ///< names in lower case
  std::string body;

  std::string header(std::string name) const {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  /// The body as JSON; a discarded value when it is not JSON.
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

/// A request's bytes: `METHOD TARGET HTTP/1.1`, Host, `extra` header lines ("Name: value"), and
/// Content-Length with the body when there is one (or the method usually carries one).
inline std::string request_text(std::string_view method, std::string_view target,
                                std::string_view body = {},
                                const std::vector<std::string>& extra = {}) {
  std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  r += "Host: 127.0.0.1\r\n";
  for (const auto& h : extra)
    r += h + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

/// A client connection to 127.0.0.1:PORT (non-blocking underneath; every call takes a deadline).
/// Keeps what it received beyond the responses read, so pipelined answers are read one by one.
class http_connection {
public:
  /// Connects within 10 s; connected() says whether it did.
  explicit http_connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0)
      return;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    int error = 0;
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        pollfd p{fd_, POLLOUT, 0};
        socklen_t len = sizeof error;
        if (::poll(&p, 1, 10000) != 1 || ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
          error = ETIMEDOUT;
      }
    }
    if (error != 0)
      close();
  }
  ~http_connection() { close(); }
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  bool connected() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  /// Writes all of `data`; false when the connection failed or the deadline passed.
  bool send(std::string_view data, steady::time_point deadline) {
    while (!data.empty()) {
      if (fd_ < 0)
        return false;
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return false;
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, ms_until(deadline)) == 0)
        return false;
    }
    return true;
  }

  /// The next whole response (Content-Length framed, or up to the close without one); nothing
  /// when the connection ended first or the deadline passed.
  std::optional<http_response> read_response(steady::time_point deadline) {
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline))
        return std::nullopt;
    http_response r;
    std::string_view head(in_.data(), end);
    auto line_end = head.find("\r\n");
    auto status_line = head.substr(0, line_end);
    auto sp = status_line.find(' ');
    if (sp == std::string_view::npos)
      return std::nullopt;
    r.status = std::atoi(std::string(status_line.substr(sp + 1, 3)).c_str());
    while (line_end != std::string_view::npos) {
      head.remove_prefix(line_end + 2);
      line_end = head.find("\r\n");
      auto line = head.substr(0, line_end);
      auto colon = line.find(':');
      if (colon == std::string_view::npos)
        continue;
      std::string name(line.substr(0, colon));
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      r.headers[name] = std::string(value);
    }
    in_.erase(0, end + 4);
    if (r.headers.contains("content-length")) {
      auto length = static_cast<std::size_t>(std::stoull(r.headers["content-length"]));
      while (in_.size() < length)
        if (!fill(deadline))
          return std::nullopt;
      r.body = in_.substr(0, length);
      in_.erase(0, length);
    } else {
      while (fill(deadline)) {
      }
      r.body = std::move(in_);
      in_.clear();
    }
    return r;
  }

  /// Waits until the server ends the connection (end of file or a reset), keeping what arrives
  /// before; false at the deadline.
  bool wait_closed(steady::time_point deadline) {
    while (fill(deadline)) {
    }
    return eof_;
  }

  /// Bytes received and not yet taken by read_response().
  const std::string& pending() const { return in_; }
  /// The end of file (or reset) was seen.
  bool ended() const { return eof_; }

private:
  // Reads what comes before the deadline; false at the end of the connection or the deadline.
  bool fill(steady::time_point deadline) {
    if (fd_ < 0 || eof_)
      return false;
    for (;;) {
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<std::size_t>(n));
        return true;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        eof_ = true;
        return false;
      }
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, ms_until(deadline));
      if (ready == 0)
        return false;
    }
  }

  int fd_ = -1;
  std::string in_;
  bool eof_ = false;
};

/// One request on a connection of its own: the response, status 0 when none came in 10 s.
inline http_response http_call(int port, std::string_view method, std::string_view target,
                               std::string_view body = {},
                               const std::vector<std::string>& extra = {}) {
  auto deadline = steady::now() + std::chrono::seconds(10);
  http_connection c(port);
  if (!c.send(request_text(method, target, body, extra), deadline))
    return {};
  return c.read_response(deadline).value_or(http_response{});
}

/// What api_pipeline writes into its configuration besides the fixed parts.
struct pipeline_options {
  /// `sluice firehose` options besides --listen.
  std::vector<std::string> firehose = {"--rate", "2000"};
  /// Lines added to [sources.nfl] (an http source tracking Bills and Jets, POST).
  std::string source;
  /// Lines added to [api] (listen = ["127.0.0.1:0"]).
  std::string api;
  /// Tables added at the end: subscriptions, [metrics.graphite], ... `@DATA@` stands for the
  /// data directory.
  std::string tables;
};

/// `sluice firehose` and `sluice run` (the API on a free loopback port) in a temporary
/// directory, both killed and the directory removed at destruction. Use with
/// ASSERT_NO_FATAL_FAILURE.
class api_pipeline {
public:
  api_pipeline() = default;
  ~api_pipeline() {
    run_.reset();
    if (firehose_) {
      firehose_->kill(SIGTERM);
      firehose_->wait(std::chrono::seconds(5));
      firehose_.reset();
    }
  }
  api_pipeline(const api_pipeline&) = delete;
  api_pipeline& operator=(const api_pipeline&) = delete;

  /// Starts the firehose and `sluice run`, and waits until /readyz answers 200.
  void start(const pipeline_options& o) {
    firehose_ = std::make_unique<child_process>(
        [&] {
          std::vector<std::string> a{"firehose", "--listen", "127.0.0.1:0"};
          a.insert(a.end(), o.firehose.begin(), o.firehose.end());
          return a;
        }(),
        child_stdio{.pipe_stdin = false, .log = root_ / "firehose.log"});
    auto line = firehose_->read_line(steady::now() + std::chrono::seconds(10));
    const std::string prefix = "listening on 127.0.0.1:";
    ASSERT_TRUE(line && line->starts_with(prefix)) << firehose_->log();
    std::string tables = o.tables;
    for (auto at = tables.find("@DATA@"); at != std::string::npos; at = tables.find("@DATA@"))
      tables.replace(at, 6, data_dir().string());
    std::ofstream(config()) << "data_dir = \"" << data_dir().string() << "\"\n"
                            << "shutdown_timeout = \"5s\"\n\n"
                            << "[api]\nlisten = [\"127.0.0.1:0\"]\n"
                            << o.api << "\n\n"
                            << "[sources.nfl]\ntype = \"http\"\nurl = \"http://127.0.0.1:"
                            << line->substr(prefix.size()) << "/1.1/statuses/filter.json\"\n"
                            << "method = \"POST\"\nparams = { track = [\"Bills\", \"Jets\"] }\n"
                            << o.source << "\n\n"
                            << tables << "\n";
    ASSERT_NO_FATAL_FAILURE(start_run());
  }

  /// (Re)starts `sluice run` with the same configuration and waits until it is ready.
  void start_run() {
    auto address_file = data_dir() / "api.address";
    std::error_code ec;
    std::filesystem::remove(address_file, ec); // a previous run's
    run_ = std::make_unique<child_process>(
        std::vector<std::string>{"run", "-c", config().string()},
        child_stdio{
            .pipe_stdin = false, .pipe_stdout = false, .log = root_ / "run.log", .cwd = root_});
    std::string address;
    ASSERT_TRUE(eventually(std::chrono::seconds(20),
                           [&] {
                             std::ifstream in(address_file);
                             for (std::string l; std::getline(in, l);)
                               if (!l.empty() && !l.starts_with("unix:"))
                                 address = l;
                             return !address.empty();
                           }))
        << "no API address\n"
        << run_->log();
    port_ = std::stoi(address.substr(address.rfind(':') + 1));
    token_ = file_text(data_dir() / "api.token");
    while (!token_.empty() && std::isspace(static_cast<unsigned char>(token_.back())))
      token_.pop_back();
    ASSERT_EQ(token_.size(), 64u) << token_;
    ASSERT_TRUE(eventually(std::chrono::seconds(20), [&] { return get("/readyz").status == 200; }))
        << run_->log();
  }

  /// TERM to `sluice run`; its wait status once it ended (nothing after 15 s).
  std::optional<int> stop_run() {
    run_->kill(SIGTERM);
    return run_->wait(std::chrono::seconds(15));
  }

  http_response get(std::string_view target, const std::vector<std::string>& extra = {}) const {
    return http_call(port_, "GET", target, {}, extra);
  }
  nlohmann::json get_json(std::string_view target) const { return get(target).json(); }
  /// A change with the token; `body` as JSON unless `content_type` says otherwise.
  http_response change(std::string_view method, std::string_view target, std::string_view body = {},
                       std::string content_type = "application/json") const {
    std::vector<std::string> extra{"Authorization: Bearer " + token_};
    if (!body.empty())
      extra.push_back("Content-Type: " + content_type);
    return http_call(port_, method, target, body, extra);
  }

  /// The stream's figure `key` in /meta.json's sources (0 when absent).
  std::uint64_t source_figure(const std::string& key) const {
    auto m = get_json("/meta.json");
    if (!m.is_object() || !m["sources"].is_array() || m["sources"].empty())
      return 0;
    return m["sources"][0].value(key, std::uint64_t{0});
  }

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path data_dir() const { return root_ / "sluice-data"; }
  std::filesystem::path config() const { return root_ / "pipeline.toml"; }
  int port() const { return port_; }
  const std::string& token() const { return token_; }
  std::string run_log() const { return run_ ? run_->log() : std::string(); }
  std::string firehose_log() const { return file_text(root_ / "firehose.log"); }

private:
  temp_dir dir_{"api"}; // removed after the processes ended
  std::filesystem::path root_ = dir_.path();
  std::unique_ptr<child_process> firehose_;
  std::unique_ptr<child_process> run_;
  int port_ = 0;
  std::string token_;
};

} // namespace sluice::testing
