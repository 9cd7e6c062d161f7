#include "io/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io/errc.h"

namespace sluice::io {

namespace ssl = boost::asio::ssl;

namespace {

bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

} // namespace

result<std::shared_ptr<ssl::context>> make_client_context(const tls_client_options& o,
                                                          std::string& why) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (o.insecure) {
    ctx->set_verify_mode(ssl::verify_none, ec);
  } else {
    ctx->set_verify_mode(ssl::verify_peer, ec);
    if (o.ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
      if (ec) {
        why = "cannot load the system's trust store: " + ec.message();
        return fail(errc::tls_config);
      }
    } else {
      ctx->load_verify_file(o.ca_file, ec);
      if (ec) {
        why = "ca_file " + o.ca_file + ": " + ec.message();
        return fail(errc::tls_config);
      }
    }
  }
  if (!o.client_cert.empty() || !o.client_key.empty()) {
    if (o.client_cert.empty() || o.client_key.empty()) {
      why = "client_cert and client_key go together";
      return fail(errc::tls_config);
    }
    ctx->use_certificate_chain_file(o.client_cert, ec);
    if (ec) {
      why = "client_cert " + o.client_cert + ": " + ec.message();
      return fail(errc::tls_config);
    }
    ctx->use_private_key_file(o.client_key, ssl::context::pem, ec);
    if (ec) {
      why = "client_key " + o.client_key + ": " + ec.message();
      return fail(errc::tls_config);
    }
  }
  return ctx;
}

result<std::shared_ptr<ssl::context>>
make_server_context(const std::string& cert_file, const std::string& key_file, std::string& why) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::single_dh_use,
                   ec);
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    why = "certificate " + cert_file + ": " + ec.message();
    return fail(errc::tls_config);
  }
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) {
    why = "key " + key_file + ": " + ec.message();
    return fail(errc::tls_config);
  }
  return ctx;
}

bool prepare_client_ssl(SSL* ssl, const std::string& host, bool verify, std::string& why) {
  bool ip = is_ip_address(host);
  // SNI carries host names only (RFC 6066 forbids literal addresses).
  // SSL_set_tlsext_host_name() spelled out: the macro's C cast fails -Werror=old-style-cast.
  if (!ip && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      const_cast<char*>(host.c_str())) != 1) {
    why = "cannot set the TLS server name " + host;
    return false;
  }
  if (!verify)
    return true;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
              : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (ok != 1) {
    why = "cannot check the certificate against " + host;
    return false;
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return true;
}

std::string describe_handshake_error(const boost::system::error_code& ec, SSL* ssl,
                                     const std::string& host) {
  long v = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (v != X509_V_OK)
    return "TLS handshake with " + host +
           ": certificate verify failed: " + X509_verify_cert_error_string(v);
  return "TLS handshake with " + host + ": " + ec.message();
}

} // namespace sluice::io
