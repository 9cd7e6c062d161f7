#include "io/listen.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sluice::io {

namespace {

template <class Acceptor, class Endpoint>
boost::system::error_code open_bind_listen(Acceptor& a, const Endpoint& ep, bool reuse) {
  boost::system::error_code ec;
  a.open(ep.protocol(), ec);
  if (!ec && reuse)
    a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    a.bind(ep, ec);
  if (!ec)
    a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    a.close(ignored);
  }
  return ec;
}

} // namespace

boost::system::error_code listen_on(asio::ip::tcp::acceptor& a,
                                    const asio::ip::tcp::endpoint& ep) {
  return open_bind_listen(a, ep, true);
}

boost::system::error_code listen_on(asio::local::stream_protocol::acceptor& a,
                                    const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    // A socket file left by a process that is gone refuses connections; a live one is not taken.
    asio::local::stream_protocol::socket probe(a.get_executor());
    boost::system::error_code ec;
    probe.connect(asio::local::stream_protocol::endpoint(path), ec);
    if (!ec)
      return asio::error::address_in_use;
    ::unlink(path.c_str());
  }
  return open_bind_listen(a, asio::local::stream_protocol::endpoint(path), false);
}

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
  auto host = ep.address().to_string();
  return ep.address().is_v6() ? fmt::format("[{}]:{}", host, ep.port())
                              : fmt::format("{}:{}", host, ep.port());
}

} // namespace sluice::io
