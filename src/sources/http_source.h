#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "io/http_stream.h"
#include "sources/source.h"

namespace sluice::sources {

/// The `http` source: a long-lived streaming GET or POST (Twitter-style filter streams) whose
/// body is newline-delimited records. When the response ends, fails, stalls (no byte for
/// `stall_timeout`) or answers with a status other than 200, it reconnects after a capped
/// exponential backoff (backoff_config, up to 20% jitter); each failure is warned about
/// (rate-limited) and counted (connect_failures, reconnects). The backoff restarts from its
/// minimum once a connection delivered data.
///
/// Runs on a thread and io_context of its own (the io_context given to start() is not used):
/// the queue append happens on that thread after each read, so while the queue blocks at its
/// cap nothing is read and the server's writes block (back-pressure, bounded memory).
class http_source final : public source {
public:
  static constexpr std::chrono::seconds k_default_stall_timeout{90};

  http_source(config::source_config cfg, queue::queue& q, const std::filesystem::path& data_dir,
              std::chrono::nanoseconds stall_timeout = k_default_stall_timeout);
  ~http_source() override;

  result<void> start(asio::io_context& io) override;
  void stop() override;

  /// The last HTTP status a server answered with (0 before any); any thread.
  int last_status() const noexcept { return last_status_.load(); }

private:
  asio::awaitable<void> run();

  io::stream_request request_;
  std::chrono::nanoseconds stall_timeout_;
  io::backoff backoff_;
  asio::io_context io_{1};
  std::thread thread_;
  std::atomic<int> last_status_{0};
  bool started_ = false;
};

} // namespace sluice::sources
