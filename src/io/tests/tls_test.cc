#include <gtest/gtest.h>

#include "io/tests/stream_client.h"
#include "io/tests/test_cert.h"

namespace sluice::io {
namespace {

using namespace sluice::io::testing;

constexpr std::uint64_t k_count = 1000;

struct tls_stream : ::testing::Test {
  tls_stream() {
    opts.count = k_count;
    opts.stream.seed = 7;
    auto c = make_self_signed(dir.path, "loopback", {"DNS:localhost", "IP:127.0.0.1"});
    cert = c.cert.string();
    opts.tls_cert = c.cert.string();
    opts.tls_key = c.key.string();
  }
  temp_dir dir;
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
  auto other = make_self_signed(dir.path, "other", {"DNS:example.invalid"});
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
  r.ca_file = (dir.path / "nowhere.pem").string();
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::tls_config);
  EXPECT_TRUE(out.head.failure.starts_with("ca_file " + r.ca_file + ": ")) << out.head.failure;
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
