#include "sources/listen_source.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "base/host_port.h"
#include "base/log.h"

namespace sluice::sources {
namespace {

const config::listen_source& settings_of(const config::source_config& c) {
  return std::get<config::listen_source>(c.settings);
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
  for (const auto& ep : settings_of(ctx_.cfg).endpoints) {
    if (ep.kind == config::listen_endpoint::tcp) {
      auto hp = parse_host_port(ep.address);
      auto addr = hp ? asio::ip::make_address(hp->host, ec) : asio::ip::address();
      if (!hp || ec) {
        spdlog::error("source {}: bad listen address {}", name(), ep.address);
        set_state(source_state::failed);
        return fail(std::make_error_code(std::errc::invalid_argument));
      }
      auto a = std::make_unique<tcp_acceptor>(*strand_);
      asio::ip::tcp::endpoint endpoint(addr, hp->port);
      a->open(endpoint.protocol(), ec);
      if (!ec)
        a->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec)
        a->bind(endpoint, ec);
      if (!ec)
        a->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        spdlog::error("source {}: cannot listen on {}: {}", name(), ep.address, ec.message());
        set_state(source_state::failed);
        return fail(to_std(ec));
      }
      auto bound = a->local_endpoint();
      ports_.push_back(bound.port());
      spdlog::info("source {}: listening on tcp://{}", name(),
                   bound.address().is_v6()
                       ? fmt::format("[{}]:{}", bound.address().to_string(), bound.port())
                       : fmt::format("{}:{}", bound.address().to_string(), bound.port()));
      tcp_.push_back(std::move(a));
    } else {
      struct stat st {};
      if (::lstat(ep.address.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        ::unlink(ep.address.c_str());
      auto a = std::make_unique<unix_acceptor>(*strand_);
      asio::local::stream_protocol::endpoint endpoint(ep.address);
      a->open(endpoint.protocol(), ec);
      if (!ec)
        a->bind(endpoint, ec);
      if (!ec)
        a->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
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

} // namespace sluice::sources
