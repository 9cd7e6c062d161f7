#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

#include "io/http_stream.h"
#include "sources/source.h"

namespace sluice::sources {

/// The `http` source: a long-lived streaming GET or POST (Twitter-style filter streams) whose
/// body is newline-delimited records. When the response ends, fails, stalls (no byte for
/// `stall_timeout`) or answers with a status other than 200, it reconnects after the delay its
/// io::reconnect_policy gives for the class of the failure (network and stall linear, error
/// statuses and rate limiting exponential, a larger Retry-After honoured); each failure is
/// warned about (rate-limited) and counted by reason (counters::disconnects). A fatal status
/// (401, 403, 404, 406, 413, 416), unloadable TLS certificates, or `max_retries` failures in a
/// row end in state failed with counters::last_error saying why; nothing is retried after that.
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
  /// The reason and the description of a failed attempt or ended connection.
  std::pair<io::disconnect_reason, std::string> failure_of(const std::error_code& why,
                                                           const io::response_head& head) const;

  io::stream_request request_;
  std::chrono::nanoseconds stall_timeout_;
  io::reconnect_policy policy_;
  asio::io_context io_{1};
  std::thread thread_;
  std::atomic<int> last_status_{0};
  bool started_ = false;
};

} // namespace sluice::sources
