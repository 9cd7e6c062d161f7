#include <gtest/gtest.h>

#include "io/tests/stream_client.h"
#include "io/tests/test_cert.h"
#include "support/temp_dir.h"

namespace sluice::io {
namespace {

using namespace sluice::io::testing;
using sluice::testing::temp_dir;

constexpr std::uint64_t k_count = 1000;

struct tls_stream : ::testing::Test {
  tls_stream() {
    opts.count = k_count;
    opts.stream.seed = 7;
    auto c = make_self_signed(dir.path(), "loopback", {"DNS:localhost", "IP:127.0.0.1"});
    cert = c.cert.string();
    opts.tls_cert = c.cert.string();
    opts.tls_key = c.key.string();
  }
  // The firehose requires a client certificate issued by (here: equal to) a CA of its own,
  // which this returns: the certificate and key a trusted client presents.
  cert_files require_client_cert() {
    auto ca = make_self_signed(dir.path(), "client", {"DNS:client.invalid"});
    opts.tls_client_ca = ca.cert.string();
    return ca;
  }
  // A request to `f` that trusts the firehose's certificate.
  stream_request verified_request(const firehose_on_loopback& f) const {
    stream_request r;
    r.url = f.url("https");
    r.ca_file = cert;
    return r;
  }
  temp_dir dir{"io"};
  std::string cert;
  firehose::server_options opts;
};

std::size_t lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST_F(tls_stream, verified_https_delivers_the_same_bytes_as_plain_http) {
  auto reference = plain_body(opts);
  ASSERT_EQ(lines(reference), k_count);
  firehose_on_loopback f(opts);
  for (std::string host : {"127.0.0.1", "localhost"}) {
    stream_request r;
    r.url = f.url("https", host);
    r.ca_file = cert;
    auto out = stream_to_end(r);
    EXPECT_EQ(out.res.error(), errc::ended) << host << ": " << out.head.failure;
    EXPECT_EQ(out.head.status, 200);
    EXPECT_EQ(out.body, reference) << host;
  }
}

TEST_F(tls_stream, an_untrusted_certificate_fails_verification_clearly) {
  firehose_on_loopback f(opts);
  stream_request r;
  r.url = f.url("https", "localhost"); // the system store, which does not know this certificate
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::tls);
  EXPECT_EQ(out.head.status, 0);
  EXPECT_EQ(out.body, "");
  EXPECT_EQ(out.head.failure,
            "TLS handshake with localhost: certificate verify failed: self-signed certificate");
}

TEST_F(tls_stream, insecure_skips_verification) {
  auto reference = plain_body(opts);
  firehose_on_loopback f(opts);
  stream_request r;
  r.url = f.url("https");
  r.insecure = true;
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::ended) << out.head.failure;
  EXPECT_EQ(out.body, reference);
}

TEST_F(tls_stream, a_certificate_for_another_host_fails) {
  auto other = make_self_signed(dir.path(), "other", {"DNS:example.invalid"});
  opts.tls_cert = other.cert.string();
  opts.tls_key = other.key.string();
  firehose_on_loopback f(opts);
  stream_request r;
  r.ca_file = other.cert.string(); // trusted, but not for this host
  r.url = f.url("https", "localhost");
  auto by_name = stream_to_end(r);
  EXPECT_EQ(by_name.res.error(), errc::tls);
  EXPECT_EQ(by_name.head.failure,
            "TLS handshake with localhost: certificate verify failed: hostname mismatch");
  r.url = f.url("https", "127.0.0.1");
  auto by_ip = stream_to_end(r);
  EXPECT_EQ(by_ip.res.error(), errc::tls);
  EXPECT_EQ(by_ip.head.failure,
            "TLS handshake with 127.0.0.1: certificate verify failed: IP address mismatch");
}

TEST_F(tls_stream, a_missing_ca_file_is_a_configuration_error) {
  stream_request r;
  r.url = "https://127.0.0.1:1/";
  r.ca_file = (dir.path() / "nowhere.pem").string();
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::tls_config);
  EXPECT_TRUE(out.head.failure.starts_with("ca_file " + r.ca_file + ": ")) << out.head.failure;
}

TEST_F(tls_stream, a_missing_client_cert_is_a_configuration_error) {
  auto key = make_self_signed(dir.path(), "client", {"DNS:client.invalid"}).key;
  stream_request r;
  r.url = "https://127.0.0.1:1/";
  r.client_cert = (dir.path() / "nowhere.crt").string();
  r.client_key = key.string();
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::tls_config);
  EXPECT_TRUE(out.head.failure.starts_with("client_cert " + r.client_cert + ": "))
      << out.head.failure;
}

TEST_F(tls_stream, a_trusted_client_certificate_delivers_the_same_bytes) {
  auto reference = plain_body(opts);
  auto client = require_client_cert();
  firehose_on_loopback f(opts);
  auto r = verified_request(f);
  r.client_cert = client.cert.string();
  r.client_key = client.key.string();
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::ended) << out.head.failure;
  EXPECT_EQ(out.head.status, 200);
  EXPECT_EQ(out.body, reference);
}

// Under TLS 1.3 the client's handshake completes before the server has checked the client's
// certificate: the server's refusal is an alert the client reads where it expects the response.
TEST_F(tls_stream, no_client_certificate_is_refused_when_the_server_requires_one) {
  require_client_cert();
  firehose_on_loopback f(opts);
  auto out = stream_to_end(verified_request(f));
  EXPECT_EQ(out.res.error(), errc::tls) << out.head.failure;
  EXPECT_EQ(out.head.status, 0);
  EXPECT_TRUE(out.body.empty()) << out.body.size() << " bytes delivered";
  // e.g. "TLS with 127.0.0.1: tlsv13 alert certificate required (SSL routines)"
  EXPECT_TRUE(out.head.failure.starts_with("TLS with 127.0.0.1: ")) << out.head.failure;
  EXPECT_NE(out.head.failure.find("alert certificate required"), std::string::npos)
      << out.head.failure;
}

TEST_F(tls_stream, a_client_certificate_the_server_does_not_trust_is_refused) {
  require_client_cert();
  auto stranger = make_self_signed(dir.path(), "stranger", {"DNS:stranger.invalid"});
  firehose_on_loopback f(opts);
  auto r = verified_request(f);
  r.client_cert = stranger.cert.string();
  r.client_key = stranger.key.string();
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::tls) << out.head.failure;
  EXPECT_EQ(out.head.status, 0);
  EXPECT_TRUE(out.body.empty()) << out.body.size() << " bytes delivered";
  // e.g. "TLS with 127.0.0.1: tlsv1 alert unknown ca (SSL routines)"
  EXPECT_TRUE(out.head.failure.starts_with("TLS with 127.0.0.1: ")) << out.head.failure;
  EXPECT_NE(out.head.failure.find("alert unknown ca"), std::string::npos) << out.head.failure;
}

TEST_F(tls_stream, a_firehose_whose_client_ca_does_not_load_does_not_listen) {
  opts.tls_client_ca = (dir.path() / "nowhere.pem").string();
  firehose::server s(opts);
  auto port = s.listen_http("127.0.0.1", 0);
  ASSERT_FALSE(port.has_value());
  EXPECT_EQ(port.error(), errc::tls_config);
}

TEST_F(tls_stream, gzip_over_https_delivers_the_same_bytes) {
  auto reference = plain_body(opts);
  opts.gzip = true;
  firehose_on_loopback f(opts);
  stream_request r;
  r.url = f.url("https");
  r.ca_file = cert;
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::ended) << out.head.failure;
  EXPECT_TRUE(out.head.gzip);
  EXPECT_EQ(out.body, reference);
}

TEST_F(tls_stream, plain_http_to_a_tls_port_is_not_a_success) {
  firehose_on_loopback f(opts);
  stream_request r;
  r.url = f.url("http");
  auto out = stream_to_end(r, std::chrono::seconds(2));
  EXPECT_FALSE(out.res.has_value());
  EXPECT_EQ(out.body, "");
}

} // namespace
} // namespace sluice::io
