#pragma once

#include <cstdint>
#include <functional>

#include "base/result.h"
#include "firehose/generator.h"

namespace sluice::firehose {

/// The stream as plain NDJSON on a file descriptor (`sluice firehose --stdout`).
struct pipe_options {
  stream_options stream;
  stream_filter filter;
  std::uint64_t rate = 0;  ///< ranks per second; 0: as fast as the fd takes them
  std::uint64_t count = 0; ///< stop after this rank (0: endless)
};

/// Writes ranks 1, 2, ... to `fd` in large writes, blocking, until `count` ranks were written or
/// `stop()` turns true (checked between writes and when a write is interrupted by a signal).
/// Returns the number of ranks written, or the write's errno (EPIPE when the reader went away).
result<std::uint64_t> write_stream(int fd, const pipe_options& options,
                                   const std::function<bool()>& stop);

} // namespace sluice::firehose
