#pragma once

// `sluice firehose` as a child process on a free loopback port, for the tests that run sluice as
// the user does.

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace sluice::testing {

/// `sluice firehose --listen 127.0.0.1:0 OPTIONS...` (its streaming HTTP endpoint), or with
/// `tcp` `--tcp 127.0.0.1:0` (plain NDJSON over TCP); stderr to `log`. The port is read from the
/// line it prints first ("listening on 127.0.0.1:PORT", "listening on tcp://127.0.0.1:PORT"):
/// 0 when it said nothing within 15 s. A firehose still running at the end gets SIGTERM.
class firehose_child {
public:
  firehose_child(const std::vector<std::string>& options, const std::filesystem::path& log,
                 bool tcp = false)
      : proc_(command(options, tcp),
              child_stdio{.pipe_stdin = false, .pipe_stdout = true, .log = log}) {
    auto line = proc_.read_line(steady::now() + std::chrono::seconds(15));
    if (!line || !line->starts_with("listening on "))
      return;
    auto colon = line->rfind(':');
    if (colon != std::string::npos)
      std::from_chars(line->data() + colon + 1, line->data() + line->size(), port_);
  }
  ~firehose_child() {
    if (!proc_.wait(std::chrono::milliseconds(0))) {
      proc_.kill(SIGTERM);
      proc_.wait(std::chrono::seconds(5)); // the child_process kills it if it did not end
    }
  }
  firehose_child(const firehose_child&) = delete;
  firehose_child& operator=(const firehose_child&) = delete;

  /// The port, 0 when the firehose did not say.
  std::uint16_t port() const { return port_; }
  child_process& proc() { return proc_; }
  std::string log() const { return proc_.log(); }

private:
  static std::vector<std::string> command(const std::vector<std::string>& options, bool tcp) {
    std::vector<std::string> a{"firehose", tcp ? "--tcp" : "--listen", "127.0.0.1:0"};
    a.insert(a.end(), options.begin(), options.end());
    return a;
  }

  child_process proc_;
  std::uint16_t port_ = 0;
};

} // namespace sluice::testing
