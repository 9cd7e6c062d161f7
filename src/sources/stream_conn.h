#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/asio.h"
#include "sources/intake.h"

namespace sluice::sources {

namespace asio = boost::asio;

/// One connection's reading loop, shared by the tcp/unix client and every listen connection:
/// read up to `read_bytes` (see k_first_read_bytes), frame and check it on the I/O thread, then
/// hand the batch to `blocking` (a pool where blocking is acceptable) for the queue append, and
/// read again only after the append returned. So while the queue blocks at its cap the connection
/// does not read, the kernel's socket buffers fill, and the peer's writes block: back-pressure with
/// bounded memory (the read buffer, one partial line, one encoded batch).
///
/// With `ack`, after each append the pool thread waits until its last record is durable
/// (queue::wait_durable), then the connection writes `ack N\n` (N: this connection's records,
/// rejected ones included, handled so far) before reading on. An unterminated last line when
/// the connection ends is a truncated record: dropped, counted (`truncated`) and warned about.
///
/// Every handler runs on the socket's executor, which must be a strand (or a single-threaded
/// io_context). Owned by shared_ptr; `on_end` runs once on that strand when the connection ended
/// (peer EOF, error, close(), or the source stopping).
class stream_conn : public std::enable_shared_from_this<stream_conn> {
public:
  using socket_t = asio::generic::stream_protocol::socket;

  /// The read buffer of a connection starts at k_first_read_bytes and doubles each time a read
  /// fills it, up to `read_bytes` (k_read_bytes by default): a busy pusher is read 256 KiB at a
  /// time (one append, one hand-off to the pool per 870 lines of 300 B), an idle or slow one of
  /// the many a listen source may hold costs 64 KiB.
  static constexpr std::size_t k_first_read_bytes = 64 * 1024;
  static constexpr std::size_t k_read_bytes = 256 * 1024;

  stream_conn(socket_t sock, source_context& ctx, asio::thread_pool& blocking, bool ack,
              std::function<void(stream_conn*)> on_end, std::size_t read_bytes = k_read_bytes);

  /// Starts reading. Call once.
  void start();
  /// Closes the connection soon; any thread.
  void close();

private:
  void read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void commit(bool ended);
  void after_commit(bool ended, bool ok);
  void end();

  socket_t sock_;
  source_context& ctx_;
  asio::thread_pool& blocking_;
  bool ack_;
  std::function<void(stream_conn*)> on_end_;
  intake intake_;
  std::size_t max_read_bytes_;
  std::vector<char> buf_;
  std::uint64_t handled_ = 0; ///< records handled and (with ack) durable
  std::uint64_t acked_ = 0;   ///< the last N written
  std::string ack_line_;
  bool ended_ = false;
};

} // namespace sluice::sources
