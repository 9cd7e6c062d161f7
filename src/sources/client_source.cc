#include "sources/client_source.h"

#include <sys/socket.h>

#include "base/host_port.h"
#include "base/log.h"
#include "config/tables.h"
#include "sources/source_type.h"

namespace sluice::sources {
std::uint64_t client_source::framed_so_far() const noexcept {
  return ctx_.stats.records.load(std::memory_order_relaxed) + ctx_.stats.rejected_total();
}

client_source::client_source(config::source_config cfg, queue::queue& q,
                             const std::filesystem::path& data_dir)
    : source(std::move(cfg), q, data_dir), settings_(client_settings::of(ctx_.cfg.settings)),
      target_(settings_.target), policy_(settings_.reconnect) {}

client_source::~client_source() {
  stop();
}

result<void> client_source::start(asio::io_context& io) {
  strand_.emplace(asio::make_strand(io));
  resolver_.emplace(*strand_);
  timer_.emplace(*strand_);
  set_state(source_state::connecting);
  asio::post(*strand_, [this] { connect(); });
  return {};
}

void client_source::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  ctx_.stopping.store(true);
  if (strand_) {
    asio::post(*strand_, [this] {
      boost::system::error_code ec;
      resolver_->cancel();
      timer_->cancel();
      if (tcp_socket_)
        tcp_socket_->close(ec);
      if (unix_socket_)
        unix_socket_->close(ec);
      if (conn_)
        conn_->close();
    });
  }
  blocking_.join();
  if (state() != source_state::failed)
    set_state(source_state::stopped);
}

void client_source::connect() {
  if (ctx_.stopping.load())
    return;
  set_state(source_state::connecting);
  if (!settings_.unix_socket) {
    auto hp = parse_host_port(settings_.address);
    if (!hp) { // validated with the configuration; here for a source made in code
      attempt_failed(asio::error::invalid_argument);
      return;
    }
    resolver_->async_resolve(
        hp->host, std::to_string(hp->port),
        [this](const boost::system::error_code& ec, asio::ip::tcp::resolver::results_type eps) {
          if (ec) {
            attempt_failed(ec);
            return;
          }
          tcp_socket_.emplace(*strand_);
          asio::async_connect(
              *tcp_socket_, eps,
              [this](const boost::system::error_code& ec2, const asio::ip::tcp::endpoint& ep) {
                if (ec2) {
                  attempt_failed(ec2);
                  return;
                }
                int family = ep.protocol().family();
                auto fd = tcp_socket_->release();
                tcp_socket_.reset();
                connected(stream_conn::socket_t(
                    *strand_, asio::generic::stream_protocol(family, IPPROTO_TCP), fd));
              });
        });
    return;
  }
  const auto& path = settings_.address;
  unix_socket_.emplace(*strand_);
  unix_socket_->async_connect(
      asio::local::stream_protocol::endpoint(path), [this](const boost::system::error_code& ec) {
        if (ec) {
          attempt_failed(ec);
          return;
        }
        auto fd = unix_socket_->release();
        unix_socket_.reset();
        connected(stream_conn::socket_t(*strand_, asio::generic::stream_protocol(AF_UNIX, 0), fd));
      });
}

void client_source::connected(stream_conn::socket_t sock) {
  if (ctx_.stopping.load())
    return;
  framed_at_connect_ = framed_so_far();
  note_connected(policy_);
  conn_ = std::make_shared<stream_conn>(std::move(sock), ctx_, blocking_, false,
                                        [this](stream_conn*) { connection_ended(); });
  conn_->start();
}

void client_source::attempt_failed(const boost::system::error_code& ec) {
  tcp_socket_.reset();
  unix_socket_.reset();
  if (ctx_.stopping.load())
    return;
  ctx_.stats.connect_failures.fetch_add(1, std::memory_order_relaxed);
  retry("cannot connect to " + target_ + ": " + ec.message());
}

void client_source::connection_ended() {
  conn_.reset();
  if (ctx_.stopping.load())
    return;
  // The connection delivered data: stable once it was up for stable_after.
  if (framed_so_far() != framed_at_connect_)
    policy_.delivering();
  retry("connection to " + target_ + " ended");
}

void client_source::retry(const std::string& what) {
  if (ctx_.stopping.load())
    return;
  auto delay = note_disconnect(policy_, io::disconnect_reason::network, what);
  if (!delay)
    return; // failed: gave up after max_retries
  timer_->expires_after(*delay);
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !ctx_.stopping.load())
      connect();
  });
}

namespace {

result<std::unique_ptr<source>> make_client(const config::source_config& cfg, queue::queue& q,
                                            const std::filesystem::path& data_dir) {
  return std::make_unique<client_source>(cfg, q, data_dir);
}

} // namespace

extern const source_type tcp_type{
    .name = "tcp", .options = &config::tcp_source_options, .make = make_client};
extern const source_type unix_type{
    .name = "unix", .options = &config::unix_source_options, .make = make_client};

} // namespace sluice::sources
