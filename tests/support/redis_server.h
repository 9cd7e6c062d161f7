#pragma once

// A private redis-server (Debian's package, installed by scripts/setup) for a test: on a free
// loopback port, in a temporary directory of its own, stopped (and its directory removed) when
// the object goes, also when the test fails. Restartable on the same port and directory, so that
// a test can kill Redis mid-run and bring it back with or without what it persisted. A missing
// binary fails the test: it never skips.
//
// command() talks to it through hiredis, the client library sluice's Redis code uses.

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <hiredis/hiredis.h>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/child_process.h"
#include "support/socket_sender.h"
#include "support/temp_dir.h"

extern char** environ;

namespace sluice::testing {

inline constexpr const char* k_redis_server_bin = "/usr/bin/redis-server";

class redis_server {
public:
  struct options {
    bool appendonly = false;        ///< `appendonly yes` (appendfsync everysec): survives a restart
    std::vector<std::string> extra; ///< more `--name value` arguments, as separate words
    /// A Redis Sentinel (not a server) watching the primary on this port as `master` (quorum
    /// 2, down after 1 s, failover timeout 3 s): 0 for a plain server.
    std::uint16_t sentinel_of = 0;
    std::string master = "mymaster";
  };

  redis_server() : redis_server(options{}) {}
  explicit redis_server(options o) : opts_(std::move(o)), dir_("redis") {
    if (::access(k_redis_server_bin, X_OK) != 0)
      throw std::runtime_error(std::string(k_redis_server_bin) +
                               " is missing: scripts/setup installs Debian's redis-server");
    // A free port can be taken by another test's server between the look and the bind: then
    // redis-server exits at once, and another port is tried.
    for (int attempt = 1;; ++attempt) {
      port_ = closed_port();
      try {
        start();
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 3)
          throw;
        std::filesystem::remove(dir_.path() / "sentinel.conf"); // it names the port
      }
    }
  }
  ~redis_server() { stop(); }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::string url(int db = 0) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }
  const std::filesystem::path& dir() const noexcept { return dir_.path(); }
  bool running() const noexcept { return pid_ > 0; }

  /// Starts it (again) on the same port and directory, and waits until it answers PING.
  void start() {
    if (pid_ > 0)
      return;
    std::vector<std::string> args = sentinel_args();
    if (args.empty())
      args = {k_redis_server_bin,
              "--port",
              std::to_string(port_),
              "--bind",
              "127.0.0.1",
              "--dir",
              dir_.path().string(),
              "--save",
              "",
              "--appendonly",
              opts_.appendonly ? "yes" : "no",
              "--daemonize",
              "no",
              "--logfile",
              (dir_.path() / "redis.log").string()};
    args.insert(args.end(), opts_.extra.begin(), opts_.extra.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    if (int e = ::posix_spawn(&pid_, k_redis_server_bin, nullptr, nullptr, argv.data(), environ);
        e != 0) {
      pid_ = -1;
      throw std::runtime_error(std::string("posix_spawn redis-server: ") + std::strerror(e));
    }
    const auto deadline = steady::now() + std::chrono::seconds(10);
    // Ready when it answers: PONG, or NOAUTH when it was started with --requirepass.
    auto answers = [&] {
      auto pong = command({"PING"});
      return pong == "PONG" || pong.starts_with("-NOAUTH");
    };
    while (!answers()) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_ || steady::now() > deadline) {
        stop();
        throw std::runtime_error("redis-server did not start: " +
                                 file_text(dir_.path() / "redis.log"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  /// SIGKILL, as a crash: what appendfsync had not written is gone.
  void kill() { end(SIGKILL); }
  /// SIGTERM and wait: a clean shutdown.
  void stop() { end(SIGTERM); }

  /// One command, each word an argument; the reply as text: a status or bulk string as it is,
  /// an integer in decimal, an error as "ERR ..." prefixed with "-", nil as "(nil)", an array as
  /// its elements joined by "\n". "" when the server cannot be reached.
  std::string command(const std::vector<std::string>& words) const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeval{2, 0});
    if (c == nullptr || c->err != 0) {
      if (c != nullptr)
        redisFree(c);
      return "";
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    std::string out = r == nullptr ? "" : text_of(r);
    if (r != nullptr)
      freeReplyObject(r);
    redisFree(c);
    return out;
  }

private:
  /// For a sentinel: its configuration file (which it rewrites as it learns), written once, and
  /// the words that start it; empty for a plain server.
  std::vector<std::string> sentinel_args() {
    if (opts_.sentinel_of == 0)
      return {};
    auto conf = dir_.path() / "sentinel.conf";
    if (!std::filesystem::exists(conf)) {
      std::string text = "port " + std::to_string(port_) + "\nbind 127.0.0.1\ndir " +
                         dir_.path().string() + "\nlogfile " +
                         (dir_.path() / "redis.log").string() + "\nsentinel monitor " +
                         opts_.master + " 127.0.0.1 " + std::to_string(opts_.sentinel_of) +
                         " 2\nsentinel down-after-milliseconds " + opts_.master +
                         " 1000\nsentinel failover-timeout " + opts_.master + " 3000\n";
      std::FILE* f = std::fopen(conf.c_str(), "w");
      if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size())
        throw std::runtime_error("cannot write " + conf.string());
      std::fclose(f);
    }
    return {k_redis_server_bin, conf.string(), "--sentinel"};
  }

  static std::string text_of(const redisReply* r) {
    switch (r->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_STRING:
      return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return "-" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (std::size_t i = 0; i < r->elements; ++i)
        out += (i ? "\n" : "") + text_of(r->element[i]);
      return out;
    }
    default:
      return "";
    }
  }

  void end(int sig) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    int st = 0;
    const auto deadline = steady::now() + std::chrono::seconds(10);
    while (::waitpid(pid_, &st, WNOHANG) != pid_) {
      if (steady::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }

  options opts_;
  temp_dir dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

} // namespace sluice::testing
