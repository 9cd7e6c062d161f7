#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "cli/bench_disk.h"

// The peer reference of `sluice bench intake`: Debian's rsyslogd, started on a free port in a
// directory of the run, taking the same lines over TCP (imtcp) into a file (omfile).
namespace sluice::cli::bench {

/// rsyslog's queue in front of omfile: `direct` (no queue: the fastest mode, nothing kept across
/// a crash) or `disk_assisted` (in-memory LinkedList queues, main and action, that spill to
/// files in its work directory and are saved at shutdown).
enum class rsyslog_queue { direct, disk_assisted };

/// Starts rsyslogd in `dir` with `mode`, pushes `lines` lines of `block` to it over
/// `connections` TCP connections, waits until its output file holds every byte, and stops it.
/// Returns lines per second, from the first byte pushed to the last byte in the file. Fails when
/// rsyslogd is missing (scripts/setup installs it), does not start, or loses lines.
checked<double> measure_rsyslog(const std::filesystem::path& dir, rsyslog_queue mode,
                                const std::string& block, std::size_t line_bytes,
                                std::uint64_t lines, unsigned connections);

/// rsyslog's omhiredis, the Redis peer of `sluice bench redis`: rsyslogd in `dir` takes `lines`
/// lines of `block` over one TCP connection (imtcp, direct queues) and RPUSHes each (mode
/// "queue") to the list bench:rsyslog on the redis-server at `redis_port`; lines per second until
/// the list holds them all. Fails when rsyslogd or omhiredis is missing (scripts/setup installs
/// rsyslog and rsyslog-hiredis), does not start, or loses lines.
checked<double> measure_omhiredis(const std::filesystem::path& dir, std::uint16_t redis_port,
                                  const std::string& block, std::size_t line_bytes,
                                  std::uint64_t lines);

} // namespace sluice::cli::bench
