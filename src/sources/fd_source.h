#pragma once

#include <thread>

#include "sources/source.h"

namespace sluice::sources {

/// Reads records from a file descriptor (standard input, or any fd given, for tests) until end of
/// file, on its own thread: blocking reads and blocking appends there, never on the io_context.
/// At end of file an unterminated last line is a record; then the state is stopped (failed on a
/// read error). Does not close the fd.
class fd_source final : public source {
public:
  fd_source(config::source_config cfg, queue::queue& q, const std::filesystem::path& data_dir,
            int fd = 0);
  ~fd_source() override;

  /// Starts the reading thread (the io_context is not used).
  result<void> start(asio::io_context& io) override;
  /// Stops reading within about 100 ms (the thread polls the fd in slices), after an append in
  /// flight returned; joins the thread.
  void stop() override;
  /// Waits until the stream ended (EOF or error) or stop() was called.
  void wait();

private:
  void run();

  int fd_;
  std::thread thread_;
};

} // namespace sluice::sources
