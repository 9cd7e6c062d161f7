#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/bench_disk.h"

// The lines `sluice bench intake` pushes, the pushers, and the plain reader that measures the
// loopback reference: the same bytes over the same kind of connection into read() and nowhere.
namespace sluice::cli::bench {

/// Where pushers write: a TCP address (host:port), a Unix socket path, or an open file
/// descriptor (a pipe's write end; one pusher only).
struct push_target {
  std::string host;
  std::uint16_t port = 0;
  std::string unix_path;
  int fd = -1;
};

/// What the pushers did.
struct push_figures {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  double cpu_seconds = 0; ///< the pushers' own threads
};

/// `lines_per_block` distinct lines of exactly `line_bytes` bytes each, newline included, every
/// one a JSON object ({"id":...,"type":"bench","text":"..."}): what the pushers write, over and
/// over.
std::string make_line_block(std::size_t line_bytes, std::size_t lines_per_block);

/// Pushes `lines` lines of `block` (whole lines of `line_bytes`) to `to` over `connections`
/// connections at once, each on a thread of its own writing 1 MiB at a time; with `rate` > 0,
/// that many lines per second in all, paced every millisecond. Returns when every pusher wrote
/// its share and closed its connection (a pipe's fd is closed too). Stops early on SIGINT.
checked<push_figures> push_lines(const push_target& to, const std::string& block,
                                 std::size_t line_bytes, std::uint64_t lines, unsigned connections,
                                 std::uint64_t rate);

/// A free TCP port on 127.0.0.1 (bound, then released for the caller to bind).
checked<std::uint16_t> free_port();

/// The loopback reference of pushed lines: a plain reader on `to` (a TCP port on 127.0.0.1 or a
/// Unix socket path; a pipe when both are empty) that accepts `connections` connections and
/// read()s until each ends, timed from the first connection until all `lines` arrived. Returns
/// lines per second.
checked<double> measure_raw_push(push_target to, const std::string& block, std::size_t line_bytes,
                                 std::uint64_t lines, unsigned connections);

/// The loopback reference of pulled lines: a plain reader connects to each of `from` (TCP or
/// Unix) at once, sends `request` (an HTTP request, or nothing) and read()s until the server
/// closes. Returns the seconds until the last one closed.
checked<double> measure_raw_pull(const std::vector<push_target>& from, const std::string& request);

} // namespace sluice::cli::bench
