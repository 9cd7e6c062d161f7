#pragma once

// What the tests of `sluice start | stop | status | reload` share (docs/daemon.md): real daemons
// of the real binary, each test in its own run, log and data directories (daemon_test), the
// helpers that read what they leave (pid and info files, the common log, event logs), and a
// `sluice firehose` to feed them.
//
// Every daemon a test starts is stopped at its end, failed or not, by a daemon_guard
// (`sluice stop --kill`).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <signal.h>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/firehose_child.h"
#include "support/text.h"
#include "support/temp_dir.h"

namespace sluice::testing {

namespace fs = std::filesystem;

/// How long a command (`start` included, which waits for readiness) may take.
inline constexpr std::chrono::seconds k_command_timeout{60};
/// How long a condition a test waits for may take to hold.
inline constexpr std::chrono::seconds k_wait{30};


/// Runs sluice with `args` to its end: status, stdout, stderr.
inline run_result sluice(const std::vector<std::string>& args,
                         std::chrono::seconds limit = k_command_timeout) {
  auto deadline = steady::now() + limit;
  child_process c(args);
  run_result r;
  r.status = c.finish(deadline);
  r.out = c.out();
  r.err = c.err();
  return r;
}


/// The complete lines of `text` (a partial last line is left out).
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', at)) {
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

/// The common log's lines without their first field (the timestamp).
inline std::vector<std::string> common_events(const fs::path& common_log) {
  std::vector<std::string> events;
  for (const auto& line : lines_of(file_text(common_log))) {
    auto sp = line.find(' ');
    events.push_back(sp == std::string::npos ? line : line.substr(sp + 1));
  }
  return events;
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

/// The index of the first of `lines` starting with `prefix` at or after `from`; nothing if none.
inline std::optional<std::size_t> find_line(const std::vector<std::string>& lines,
                                            std::string_view prefix, std::size_t from = 0) {
  for (std::size_t i = from; i < lines.size(); ++i)
    if (lines[i].starts_with(prefix))
      return i;
  return std::nullopt;
}

/// The lines of every event file of an eventlog sink's `dir` (events-*.ndjson), in name order.
inline std::vector<std::string> eventlog_lines(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.starts_with("events-") && name.ends_with(".ndjson") && e.is_regular_file())
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> lines;
  for (const auto& f : files)
    for (auto& l : lines_of(file_text(f)))
      lines.push_back(std::move(l));
  return lines;
}

/// A pid as written in a pid file ("P\n"), 0 when there is none.
inline int pid_in(const fs::path& pid_file) {
  return std::atoi(file_text(pid_file).c_str());
}

/// The `child` of a daemon's info file (RUN_DIR/ID-CTX.json), 0 when not readable.
inline int child_in(const fs::path& info_file) {
  auto j = nlohmann::json::parse(file_text(info_file), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return 0;
  return j.value("child", 0);
}

/// One daemon: id "t", its context, configuration file and directories.
struct daemon_id {
  std::string context = "default";
  fs::path config;
  fs::path run_dir;
  fs::path log_dir;

  std::string instance() const { return "t-" + context; }
  fs::path pid_file() const { return run_dir / (instance() + ".pid"); }
  fs::path info_file() const { return run_dir / (instance() + ".json"); }
  fs::path log_file() const { return log_dir / (instance() + ".log"); }
  fs::path common_log() const { return log_dir / "common.log"; }
  std::string log() const { return file_text(log_file()); }

  /// `VERB --id t [--context C] -c CONFIG --run-dir R --log-dir L MORE...`
  std::vector<std::string> args(const std::string& verb,
                                std::initializer_list<std::string> more = {}) const {
    std::vector<std::string> a{verb, "--id", "t"};
    if (context != "default")
      a.insert(a.end(), {"--context", context});
    a.insert(a.end(),
             {"-c", config.string(), "--run-dir", run_dir.string(), "--log-dir", log_dir.string()});
    a.insert(a.end(), more);
    return a;
  }
};

/// Stops a daemon when it goes out of scope, however the test ended: `sluice stop --kill`
/// (exit 0 and "not running" when it is not running).
class daemon_guard {
public:
  explicit daemon_guard(daemon_id id) : id_(std::move(id)) {}
  daemon_guard(const daemon_guard&) = delete;
  daemon_guard& operator=(const daemon_guard&) = delete;
  ~daemon_guard() { (void)sluice(id_.args("stop", {"--timeout", "20", "--kill"})); }

private:
  daemon_id id_;
};

class daemon_test : public ::testing::Test {
protected:
  void SetUp() override {
    // Hermetic: nothing of the test's own environment reaches the hooks or sd_notify.
    std::vector<std::string> names;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      if (entry.starts_with("SLUICE_"))
        names.emplace_back(entry.substr(0, entry.find('=')));
    }
    for (const auto& n : names)
      ::unsetenv(n.c_str());
    for (const char* n : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"})
      ::unsetenv(n);
  }
  /// A failed test's files are kept for a post-mortem: moved out of the temp_dir's way, to
  /// ROOT-kept.
  void TearDown() override {
    if (!HasFailure())
      return;
    fs::path kept = root_.string() + "-kept";
    std::error_code ec;
    fs::rename(root_, kept, ec);
    if (ec)
      std::cout << "[ files    ] not kept: " << ec.message() << "\n";
    else
      std::cout << "[ files    ] kept in " << kept.string() << "\n";
  }

  /// A daemon of this test: its configuration ROOT/NAME.toml, RUN and LOG under ROOT.
  daemon_id daemon(const std::string& context = "default", const std::string& name = "t") const {
    return daemon_id{context, root_ / (name + ".toml"), root_ / "run", root_ / "log"};
  }

  /// Writes a configuration: data in ROOT/DATA, the given source table and subscriptions (each
  /// an eventlog sink in ROOT/NAME), and `extra` tables at the end.
  fs::path write_config(const fs::path& file, const std::string& data, const std::string& source,
                        const std::vector<std::pair<std::string, std::string>>& subscriptions,
                        const std::string& extra = "") const {
    std::ofstream f(file);
    f << "data_dir = " << toml_string((root_ / data).string()) << "\n"
      << "shutdown_timeout = \"10s\"\n\n"
      << "[queue]\nfsync = \"5ms\"\n\n"
      << source << "\n";
    for (const auto& [name, settings] : subscriptions)
      f << "[subscriptions." << name << "]\n"
        << "sink = { type = \"eventlog\", dir = " << toml_string((root_ / name).string()) << " }\n"
        << settings << "\n";
    f << extra;
    return file;
  }

  /// A `listen` source on ROOT/SOCKET.
  std::string listen_source(const std::string& socket = "push.sock") const {
    return "[sources.push]\ntype = \"listen\"\nlisten = [" +
           toml_string("unix:" + (root_ / socket).string()) + "]\n";
  }

  /// A `tcp` source connecting to the firehose on `port`.
  static std::string tcp_source(int port) {
    return "[sources.firehose]\ntype = \"tcp\"\naddress = \"127.0.0.1:" + std::to_string(port) +
           "\"\nreconnect = { network_initial = \"100ms\", network_step = \"100ms\", network_max = "
           "\"1s\" }\n";
  }

  /// An `http` source streaming from the firehose on `port`, asking each connection for the
  /// `backfill` events before it.
  static std::string http_source(int port, std::uint64_t backfill) {
    return "[sources.firehose]\ntype = \"http\"\nurl = \"http://127.0.0.1:" + std::to_string(port) +
           "/1.1/statuses/filter.json\"\nbackfill = " + std::to_string(backfill) +
           "\nreconnect = { network_initial = \"100ms\", network_step = \"100ms\", network_max = "
           "\"1s\" }\n";
  }

  /// The simplest pipeline: a listen source into one eventlog subscription, data in ROOT/DATA.
  fs::path simple_config(const daemon_id& d, const std::string& data = "data",
                         const std::string& extra = "") const {
    return write_config(d.config, data, listen_source(data + ".sock"), {{data + "-events", ""}},
                        extra);
  }

  temp_dir dir_{"daemon"};
  fs::path root_ = dir_.path().lexically_normal();
};

} // namespace sluice::testing
