#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "sources/settings.h"
#include "sources/source.h"
#include "sources/stream_conn.h"

namespace sluice::sources {

/// The `tcp` and `unix` sources: connect to a server and read lines. When the connection fails
/// or ends, reconnect after the delay of the network class of its io::reconnect_policy (linear,
/// capped, jittered); each failed attempt and lost connection is warned about (rate-limited)
/// and counted (disconnects[network], connect_failures for attempts; reconnects). With
/// `max_retries`, that many failures in a row end in state failed ("gave up after N attempts:
/// ..." in counters::last_error). A partial line lost with a connection is dropped and counted
/// (truncated), so a server that resends that line whole delivers each record once.
/// Connection handling runs on one strand of the caller's io_context; appends on one thread of
/// the source's own.
class client_source final : public source {
public:
  client_source(config::source_config cfg, queue::queue& q, const std::filesystem::path& data_dir);
  ~client_source() override;

  result<void> start(asio::io_context& io) override;
  void stop() override;

private:
  void connect();
  void connected(stream_conn::socket_t sock);
  void attempt_failed(const boost::system::error_code& ec);
  void connection_ended();
  void retry(const std::string& what);
  std::uint64_t framed_so_far() const noexcept;

  client_settings settings_;
  std::string target_; ///< for messages
  std::optional<asio::strand<asio::io_context::executor_type>> strand_;
  std::optional<asio::ip::tcp::resolver> resolver_;
  std::optional<asio::ip::tcp::socket> tcp_socket_;
  std::optional<asio::local::stream_protocol::socket> unix_socket_;
  std::optional<asio::steady_timer> timer_;
  std::shared_ptr<stream_conn> conn_;
  asio::thread_pool blocking_{1};
  io::reconnect_policy policy_;
  std::uint64_t framed_at_connect_ = 0; ///< records + rejected when the connection came up
  bool stopped_ = false;
};

} // namespace sluice::sources
