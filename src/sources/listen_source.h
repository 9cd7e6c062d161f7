#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "sources/source.h"
#include "sources/stream_conn.h"

namespace sluice::sources {

/// The `listen` source: accepts any number of pushers on its TCP (`tcp://HOST:PORT`) and Unix
/// (`unix:PATH`) endpoints; each connection is framed on its own (stream_conn). Appends run on
/// the source's own pool of 4 threads: while the queue blocks at its cap, a connection whose
/// append waits stops reading, so its pusher's writes block (back-pressure, no unbounded buffer,
/// no drop). With `ack = true` each connection gets `ack N` lines (see stream_conn).
/// A Unix endpoint's stale socket file is replaced at start and removed at stop.
class listen_source final : public source {
public:
  listen_source(config::source_config cfg, queue::queue& q, const std::filesystem::path& data_dir);
  ~listen_source() override;

  /// Binds every endpoint (an error and state failed when one cannot be bound) and accepts.
  result<void> start(asio::io_context& io) override;
  void stop() override;

  /// The bound ports of the TCP endpoints, in configuration order (port 0 resolved). After
  /// start(); any thread.
  std::vector<std::uint16_t> tcp_ports() const;

private:
  using tcp_acceptor = asio::ip::tcp::acceptor;
  using unix_acceptor = asio::local::stream_protocol::acceptor;

  /// Accepts the next connection on `a` (a tcp_acceptor or unix_acceptor), then again.
  template <class Acceptor> void accept(Acceptor& a);
  void adopt(stream_conn::socket_t sock);
  void accept_failed(const boost::system::error_code& ec);

  asio::io_context* io_ = nullptr;
  std::optional<asio::strand<asio::io_context::executor_type>> strand_;
  std::vector<std::unique_ptr<tcp_acceptor>> tcp_;
  std::vector<std::unique_ptr<unix_acceptor>> unix_;
  std::vector<std::uint16_t> ports_;
  std::vector<std::string> unix_paths_;
  asio::thread_pool blocking_{4};
  mutable std::mutex mu_;
  std::unordered_map<stream_conn*, std::shared_ptr<stream_conn>> conns_;
  bool stopped_ = false;
};

} // namespace sluice::sources
