#include "sources/stream_conn.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/log.h"
#include "queue/errc.h"

namespace sluice::sources {

stream_conn::stream_conn(socket_t sock, source_context& ctx, asio::thread_pool& blocking, bool ack,
                         std::function<void(stream_conn*)> on_end, std::size_t read_bytes)
    : sock_(std::move(sock)), ctx_(ctx), blocking_(blocking), ack_(ack), on_end_(std::move(on_end)),
      intake_(ctx), max_read_bytes_(read_bytes), buf_(std::min(read_bytes, k_first_read_bytes)) {}

void stream_conn::start() {
  asio::post(sock_.get_executor(), [self = shared_from_this()] { self->read(); });
}

void stream_conn::close() {
  asio::post(sock_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->sock_.close(ec);
  });
}

void stream_conn::read() {
  if (ctx_.stopping.load() || !sock_.is_open()) {
    end();
    return;
  }
  sock_.async_read_some(asio::buffer(buf_),
                        [self = shared_from_this()](const boost::system::error_code& ec,
                                                    std::size_t n) { self->on_read(ec, n); });
}

void stream_conn::on_read(const boost::system::error_code& ec, std::size_t n) {
  if (n > 0)
    intake_.feed(std::string_view(buf_.data(), n));
  // Fed (records copied into the batch, a partial line into the framer): the buffer is free.
  if (n == buf_.size() && buf_.size() < max_read_bytes_)
    buf_.resize(std::min(2 * buf_.size(), max_read_bytes_));
  bool ended = static_cast<bool>(ec);
  if (ended)
    intake_.drop_partial();
  if (intake_.framed() > 0) {
    asio::post(blocking_, [self = shared_from_this(), ended] { self->commit(ended); });
  } else if (ended) {
    end();
  } else {
    read();
  }
}

// On a pool thread: the append may block at the queue's cap, the durability wait for an fsync.
void stream_conn::commit(bool ended) {
  std::uint64_t framed = intake_.framed();
  // An ack counts only what is safe: rejects in a synced dead-letter file, records durable, none
  // dropped. Otherwise the connection ends unacknowledged past the last ack: the pusher resends.
  bool rejects_ok = !ack_ || intake_.rejects_durable();
  auto r = intake_.commit();
  bool ok = r.has_value();
  if (ok && ack_ && !rejects_ok) {
    SLUICE_WARN_LIMITED("source {}: rejected records not set aside durably, no ack for them",
                        ctx_.cfg.name);
    ok = false;
  }
  if (ok && ack_ && r->dropped > 0) {
    SLUICE_WARN_LIMITED("source {}: {} records dropped at the queue's cap, no ack for them",
                        ctx_.cfg.name, r->dropped);
    ok = false;
  }
  if (ok && ack_ && r->last != 0) {
    for (;;) {
      auto w = ctx_.queue.wait_durable(r->last, std::chrono::seconds(1));
      if (w)
        break;
      if (w.error() != queue::errc::timed_out || ctx_.stopping.load()) {
        SLUICE_WARN_LIMITED("source {}: records not durable, no ack for them: {}", ctx_.cfg.name,
                            w.error().message());
        ok = false;
        break;
      }
    }
  }
  if (ok)
    handled_ += framed;
  asio::post(sock_.get_executor(),
             [self = shared_from_this(), ended, ok] { self->after_commit(ended, ok); });
}

void stream_conn::after_commit(bool ended, bool ok) {
  if (!ok || ctx_.stopping.load()) {
    end();
    return;
  }
  if (ack_ && handled_ > acked_ && sock_.is_open()) {
    acked_ = handled_;
    ack_line_ = fmt::format("ack {}\n", acked_);
    asio::async_write(
        sock_, asio::buffer(ack_line_),
        [self = shared_from_this(), ended](const boost::system::error_code& ec, std::size_t) {
          self->ctx_.stats.acks.fetch_add(1, std::memory_order_relaxed);
          if (ec || ended)
            self->end();
          else
            self->read();
        });
    return;
  }
  if (ended)
    end();
  else
    read();
}

void stream_conn::end() {
  if (ended_)
    return;
  ended_ = true;
  boost::system::error_code ec;
  sock_.close(ec);
  if (on_end_)
    on_end_(this);
}

} // namespace sluice::sources
