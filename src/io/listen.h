#pragma once

#include <string>

#include "io/asio.h"

/// The one way sluice opens a listening socket (the API, the `listen` source, the firehose).
namespace sluice::io {

namespace asio = boost::asio;

/// Opens `a` on `ep`: open, SO_REUSEADDR (a restart rebinds a port with connections in
/// TIME_WAIT), bind, listen with the system's largest backlog. The acceptor is left closed on error.
boost::system::error_code listen_on(asio::ip::tcp::acceptor& a, const asio::ip::tcp::endpoint& ep);

/// Opens `a` on the Unix socket `path`. A socket file left there by a process that is gone is
/// removed first; one a live process still serves is not, and the answer is EADDRINUSE (as for a
/// file of another kind at the path).
boost::system::error_code listen_on(asio::local::stream_protocol::acceptor& a,
                                    const std::string& path);

/// HOST:PORT of an endpoint, an IPv6 address in brackets: [::1]:8080.
std::string endpoint_text(const asio::ip::tcp::endpoint& ep);

} // namespace sluice::io
