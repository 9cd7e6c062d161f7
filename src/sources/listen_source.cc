#include "sources/listen_source.h"

#include <sys/socket.h>

#include <fmt/format.h>

#include "base/host_port.h"
#include "base/log.h"
#include "config/tables.h"
#include "io/listen.h"
#include "sources/settings.h"
#include "sources/source_type.h"

namespace sluice::sources {
namespace {

listen_settings settings_of(const config::source_config& c) {
  return listen_settings::of(c.settings);
}

std::error_code to_std(const boost::system::error_code& ec) {
  return std::error_code(ec.value(), std::system_category());
}

} // namespace

listen_source::listen_source(config::source_config cfg, queue::queue& q,
                             const std::filesystem::path& data_dir)
    : source(std::move(cfg), q, data_dir) {}

listen_source::~listen_source() {
  stop();
}

result<void> listen_source::start(asio::io_context& io) {
  io_ = &io;
  strand_.emplace(asio::make_strand(io));
  boost::system::error_code ec;
  const auto settings = settings_of(ctx_.cfg);
  for (const auto& ep : settings.endpoints) {
    if (!ep.unix_socket) {
      auto hp = parse_host_port(ep.address);
      auto addr = hp ? asio::ip::make_address(hp->host, ec) : asio::ip::address();
      if (!hp || ec) {
        spdlog::error("source {}: bad listen address {}", name(), ep.address);
        set_state(source_state::failed);
        return fail(std::make_error_code(std::errc::invalid_argument));
      }
      auto a = std::make_unique<tcp_acceptor>(*strand_);
      if (ec = io::listen_on(*a, asio::ip::tcp::endpoint(addr, hp->port)); ec) {
        spdlog::error("source {}: cannot listen on {}: {}", name(), ep.address, ec.message());
        set_state(source_state::failed);
        return fail(to_std(ec));
      }
      auto bound = a->local_endpoint();
      ports_.push_back(bound.port());
      spdlog::info("source {}: listening on tcp://{}", name(), io::endpoint_text(bound));
      tcp_.push_back(std::move(a));
    } else {
      auto a = std::make_unique<unix_acceptor>(*strand_);
      if (ec = io::listen_on(*a, ep.address); ec) {
        spdlog::error("source {}: cannot listen on unix:{}: {}", name(), ep.address, ec.message());
        set_state(source_state::failed);
        return fail(to_std(ec));
      }
      spdlog::info("source {}: listening on unix:{}", name(), ep.address);
      unix_paths_.push_back(ep.address);
      unix_.push_back(std::move(a));
    }
  }
  set_state(source_state::connected);
  asio::post(*strand_, [this] {
    for (auto& a : tcp_)
      accept(*a);
    for (auto& a : unix_)
      accept(*a);
  });
  return {};
}

void listen_source::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  ctx_.stopping.store(true);
  if (strand_) {
    asio::post(*strand_, [this] {
      boost::system::error_code ec;
      for (auto& a : tcp_)
        a->close(ec);
      for (auto& a : unix_)
        a->close(ec);
    });
  }
  {
    std::lock_guard lock(mu_);
    for (auto& [p, c] : conns_)
      c->close();
  }
  blocking_.join();
  for (const auto& p : unix_paths_)
    ::unlink(p.c_str());
  set_state(source_state::stopped);
}

std::vector<std::uint16_t> listen_source::tcp_ports() const {
  return ports_;
}

template <class Acceptor> void listen_source::accept(Acceptor& a) {
  using socket = typename Acceptor::protocol_type::socket;
  a.async_accept(asio::make_strand(*io_),
                 [this, &a](const boost::system::error_code& ec, socket s) {
                   if (ec) {
                     accept_failed(ec);
                     if (!ctx_.stopping.load() && a.is_open())
                       accept(a);
                     return;
                   }
                   auto ex = s.get_executor();
                   // tcp (v4 or v6) or unix, as a generic stream socket for stream_conn.
                   asio::generic::stream_protocol protocol(s.local_endpoint().protocol());
                   auto fd = s.release();
                   adopt(stream_conn::socket_t(ex, protocol, fd));
                   accept(a);
                 });
}

void listen_source::accept_failed(const boost::system::error_code& ec) {
  if (ctx_.stopping.load() || ec == asio::error::operation_aborted)
    return;
  ctx_.stats.connect_failures.fetch_add(1, std::memory_order_relaxed);
  SLUICE_WARN_LIMITED("source {}: accept failed: {}", name(), ec.message());
}

void listen_source::adopt(stream_conn::socket_t sock) {
  if (ctx_.stopping.load())
    return;
  ctx_.stats.connects.fetch_add(1, std::memory_order_relaxed);
  ctx_.stats.open_connections.fetch_add(1, std::memory_order_relaxed);
  auto conn = std::make_shared<stream_conn>(std::move(sock), ctx_, blocking_,
                                            settings_of(ctx_.cfg).ack, [this](stream_conn* c) {
                                              ctx_.stats.open_connections.fetch_sub(1);
                                              std::lock_guard lock(mu_);
                                              conns_.erase(c);
                                            });
  {
    std::lock_guard lock(mu_);
    conns_.emplace(conn.get(), conn);
  }
  conn->start();
}

extern const source_type listen_type{
    .name = "listen",
    .options = &config::listen_source_options,
    .make = [](const config::source_config& cfg, queue::queue& q,
               const std::filesystem::path& data_dir) -> result<std::unique_ptr<source>> {
      return std::make_unique<listen_source>(cfg, q, data_dir);
    },
};

} // namespace sluice::sources
