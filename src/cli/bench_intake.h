#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/bench_disk.h"
#include "cli/bench_lines.h"
#include "config/pipeline.h"
#include "firehose/server.h"

// How `sluice bench intake` wires a run for each source type: what it was asked, the generator
// (pushers or firehoses) and the pipeline's configuration (bench_intake_setup.cc).
namespace sluice::cli::intake_bench {

namespace fs = std::filesystem;

constexpr std::string_view k_http_path = "/1.1/statuses/filter.json";

/// What `sluice bench intake` was asked to do.
struct intake_request {
  std::string source = "listen"; ///< listen, listen-unix, tcp, unix, http, stdin
  unsigned connections = 1;
  std::uint64_t lines = 2'000'000;
  std::size_t line_bytes = 300; ///< pushed lines (the firehose's events average about 296)
  std::string format = "json";
  std::string sink = "eventlog"; ///< or "none": the queue alone
  bool gzip = false;             ///< http: the stream gzip-encoded
  std::uint64_t rate = 100'000;  ///< lines per second of the latency run, in all
  std::uint64_t latency_seconds = 5;
  bool rsyslog = true;
  std::uint64_t settle_seconds = bench::k_default_settle_limit.count();
  std::string dir;
  bool json = false;

  bool pushed() const { return source == "listen" || source == "listen-unix" || source == "stdin"; }
  bool has_sink() const { return sink != "none"; }
};

/// What a run's generator is: pushers writing to `push` (listen, stdin), or one firehose per
/// connection serving `count` events each (tcp, unix, http).
struct generator {
  bench::push_target push;
  std::vector<std::unique_ptr<firehose::server>> firehoses;
  std::vector<bench::push_target> pulled; ///< where each firehose listens
};

/// Starts the firehoses of a pull-type run: `connections` servers of `lines / connections`
/// events each (the remainder on the first), at `rate / connections` each.
bench::checked<void> start_firehoses(const fs::path& dir, const intake_request& req,
                                     std::uint64_t lines, std::uint64_t rate, generator& g);

/// The pipeline of a run in `dir`: the sources reading `g`, the disk queue with group commit
/// bench::k_group_commit, and the event-log subscription unless the queue alone is measured.
config::pipeline_config make_config(const fs::path& dir, const intake_request& req,
                                    const generator& g);

/// Makes a pipe the process's standard input while it lives (the stdin source reads fd 0);
/// write_end() is the pushers' target.
class stdin_pipe {
public:
  stdin_pipe() = default;
  stdin_pipe(const stdin_pipe&) = delete;
  stdin_pipe& operator=(const stdin_pipe&) = delete;
  ~stdin_pipe() { restore(); }
  bench::checked<void> open();
  /// Puts the process's standard input back (closing the pipe's read end); idempotent.
  void restore();
  int write_end() const { return write_; }

private:
  int saved_ = -1;
  int write_ = -1;
};

} // namespace sluice::cli::intake_bench
