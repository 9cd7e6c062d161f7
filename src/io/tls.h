#pragma once

#include <memory>
#include <string>

// As io/asio.h: GCC 12's false -Wnull-dereference inside Asio stays out of -Werror builds.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/ssl.hpp>
#pragma GCC diagnostic pop

#include "base/result.h"

namespace sluice::io {

/// How a client checks the server and presents itself.
struct tls_client_options {
  std::string ca_file;     ///< PEM trust anchors; empty: the system's trust store
  std::string client_cert; ///< PEM certificate (chain) presented to the server; with client_key
  std::string client_key;  ///< PEM private key of client_cert
  bool insecure = false;   ///< no verification at all (a warning at each connect)
};

/// A client context: TLS 1.2 or later, peer verification on (unless insecure) against ca_file or
/// the system store, the client certificate loaded. On failure returns errc::tls_config and sets
/// `why` (which file, OpenSSL's reason). Thread-safe; the context may be shared by connections.
result<std::shared_ptr<boost::asio::ssl::context>> make_client_context(const tls_client_options& o,
                                                                       std::string& why);

/// A server context with a PEM certificate (chain) and private key; errc::tls_config and `why`
/// on failure.
result<std::shared_ptr<boost::asio::ssl::context>>
make_server_context(const std::string& cert_file, const std::string& key_file, std::string& why);

/// Prepares a client connection (the stream's native_handle()) for `host` before its handshake:
/// SNI for a name (not for an IP address) and, when `verify`, OpenSSL's own host check (RFC 6125:
/// DNS names, or the IP address against the certificate's IP SANs), so a wrong certificate fails
/// verification with "hostname mismatch" / "IP address mismatch". Returns false and sets `why`
/// when OpenSSL refuses the name.
bool prepare_client_ssl(SSL* ssl, const std::string& host, bool verify, std::string& why);

/// A readable account of a failed handshake with `host`: "certificate verify failed: <OpenSSL's
/// verify reason>" when the peer was not trusted, otherwise the error's own text.
std::string describe_handshake_error(const boost::system::error_code& ec, SSL* ssl,
                                     const std::string& host);

} // namespace sluice::io
