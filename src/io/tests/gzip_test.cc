#include <thread>

#include <gtest/gtest.h>

#include "io/chunked.h"
#include "io/gzip.h"
#include "io/tests/stream_client.h"

namespace sluice::io {
namespace {

using namespace sluice::io::testing;
namespace asio = boost::asio;

// Three records (one with UTF-8, one a keep-alive line between them) as Python's
// gzip.compress(body, mtime=0) writes them: a gzip stream made by another implementation.
const std::string k_body = "{\"id\":1,\"text\":\"one\"}\n{\"id\":2,\"text\":\"two \xc3\xa9\"}\n\r\n"
                           "{\"limit\":{\"track\":3}}\n";
const std::string k_gzipped(
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xab\x56\xca\x4c\x51\xb2\x32\xd4\x51\x2a\x49\xad\x28"
    "\x51\xb2\x52\xca\xcf\x4b\x55\xaa\xe5\xaa\x06\x8b\x1a\xc1\x45\x4b\xca\xf3\x15\x0e\xaf\x04\x4a"
    "\xf0\x02\xa5\x72\x32\x73\x33\x81\x82\xd5\x4a\x25\x45\x89\xc9\xd9\x4a\x56\xc6\xb5\xb5\x5c\x00"
    "\x96\x4f\xc7\x72\x47\x00\x00\x00",
    77);

// A chunked body carrying `payload` in chunks of `size` bytes, then the last chunk.
std::string chunked_of(const std::string& payload, std::size_t size) {
  std::string out;
  for (std::size_t at = 0; at < payload.size(); at += size) {
    auto part = payload.substr(at, size);
    char len[16];
    std::snprintf(len, sizeof len, "%zx\r\n", part.size());
    out += len + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

TEST(gzip_decoder, inflates_a_known_stream_split_at_every_byte) {
  for (std::size_t cut = 0; cut <= k_gzipped.size(); ++cut) {
    gzip_decoder d;
    std::string out;
    auto sink = [&](std::string_view s) { out.append(s); };
    ASSERT_TRUE(d.feed(std::string_view(k_gzipped).substr(0, cut), sink)) << cut;
    ASSERT_TRUE(d.feed(std::string_view(k_gzipped).substr(cut), sink)) << cut;
    EXPECT_EQ(out, k_body) << "cut at " << cut;
  }
  gzip_decoder d; // and one byte at a time
  std::string out;
  for (char c : k_gzipped)
    ASSERT_TRUE(d.feed(std::string_view(&c, 1), [&](std::string_view s) { out.append(s); }));
  EXPECT_EQ(out, k_body);
}

TEST(gzip_decoder, a_chunked_gzip_body_split_at_every_byte_gives_the_same_records) {
  for (std::size_t chunk : {1u, 5u, 16u, 77u}) {
    const std::string wire = chunked_of(k_gzipped, chunk);
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
      chunked_decoder chunks;
      gzip_decoder inflate;
      std::string out;
      bool ok = true;
      auto body = [&](std::string_view s) {
        ok = ok && inflate.feed(s, [&](std::string_view t) { out.append(t); });
      };
      ASSERT_TRUE(chunks.feed(std::string_view(wire).substr(0, cut), body));
      ASSERT_TRUE(chunks.feed(std::string_view(wire).substr(cut), body));
      EXPECT_TRUE(ok);
      EXPECT_TRUE(chunks.done());
      EXPECT_EQ(out, k_body) << "chunks of " << chunk << ", cut at " << cut;
    }
  }
}

TEST(gzip_decoder, a_plain_chunked_body_split_at_every_byte_gives_the_same_records) {
  const std::string wire = chunked_of(k_body, 9);
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    chunked_decoder chunks;
    std::string out;
    auto body = [&](std::string_view s) { out.append(s); };
    ASSERT_TRUE(chunks.feed(std::string_view(wire).substr(0, cut), body));
    ASSERT_TRUE(chunks.feed(std::string_view(wire).substr(cut), body));
    EXPECT_EQ(out, k_body) << "cut at " << cut;
  }
}

TEST(gzip_decoder, a_corrupt_stream_is_an_error) {
  std::string bad = k_gzipped;
  bad[20] = static_cast<char>(bad[20] ^ 0x5a);
  gzip_decoder d;
  std::string out;
  bool ok = d.feed(bad, [&](std::string_view s) { out.append(s); });
  EXPECT_FALSE(ok);
  EXPECT_TRUE(d.error().starts_with("gzip: ")) << d.error();
  EXPECT_FALSE(d.feed("more", [](std::string_view) {})); // stays failed

  gzip_decoder not_gzip;
  EXPECT_FALSE(not_gzip.feed("{\"id\":1}\n", [](std::string_view) {}));
  EXPECT_EQ(not_gzip.error(), "gzip: incorrect header check");
}

TEST(gzip_encoder, each_flush_is_inflatable_at_once) {
  gzip_encoder e;
  gzip_decoder d;
  std::string all;
  for (int i = 0; i < 3; ++i) {
    std::string z;
    std::string line = "{\"n\":" + std::to_string(i) + "}\n";
    e.compress(line, z);
    std::string out;
    ASSERT_TRUE(d.feed(z, [&](std::string_view s) { out.append(s); }));
    EXPECT_EQ(out, line); // the whole line, before any later byte
  }
  std::string tail;
  e.finish(tail);
  std::string out;
  EXPECT_TRUE(d.feed(tail, [&](std::string_view s) { out.append(s); }));
  EXPECT_EQ(out, "");
}

struct gzip_stream : ::testing::Test {
  gzip_stream() {
    opts.count = 1000;
    opts.stream.seed = 11;
    opts.keep_alive = std::chrono::milliseconds(5);
    opts.rate = 20000; // paced, so keep-alives (compressed too) come between batches
  }
  firehose::server_options opts;
};

TEST_F(gzip_stream, a_gzip_firehose_delivers_the_same_bytes_as_a_plain_one) {
  // Keep-alive lines ("\r\n") may sit between records in both; compare the records.
  auto records = [](std::string s) {
    std::string kept;
    for (std::size_t at = 0, nl; (nl = s.find('\n', at)) != std::string::npos; at = nl + 1)
      if (nl > at && !(nl == at + 1 && s[at] == '\r'))
        kept += s.substr(at, nl - at + 1);
    return kept;
  };
  auto reference = records(plain_body(opts));
  ASSERT_EQ(std::count(reference.begin(), reference.end(), '\n'), 1000);
  opts.gzip = true;
  firehose_on_loopback f(opts);
  stream_request r;
  r.url = f.url();
  auto out = stream_to_end(r);
  EXPECT_EQ(out.res.error(), errc::ended) << out.head.failure;
  EXPECT_EQ(out.head.header("content-encoding").value_or(""), "gzip");
  EXPECT_TRUE(out.head.gzip);
  EXPECT_EQ(records(out.body), reference);

  r.gzip = false; // the same server, a client that does not ask for gzip
  auto identity = stream_to_end(r);
  EXPECT_FALSE(identity.head.gzip);
  EXPECT_EQ(records(identity.body), reference);
}

// A one-shot HTTP server on a thread: reads one request head, answers `response`, closes.
struct one_shot_server {
  explicit one_shot_server(std::string response)
      : acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}) {
    port = acceptor.local_endpoint().port();
    thread = std::thread([this, response = std::move(response)] {
      asio::ip::tcp::socket s(io);
      acceptor.accept(s);
      boost::system::error_code ec;
      asio::read_until(s, asio::dynamic_buffer(request), "\r\n\r\n", ec);
      asio::write(s, asio::buffer(response), ec);
      s.shutdown(asio::socket_base::shutdown_send, ec);
    });
  }
  ~one_shot_server() {
    if (thread.joinable())
      thread.join();
  }
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor;
  std::uint16_t port = 0;
  std::string request;
  std::thread thread;
};

TEST(gzip_client, sends_accept_encoding_and_user_agent_and_fails_on_a_corrupt_body) {
  std::string bad = k_gzipped;
  bad[20] = static_cast<char>(bad[20] ^ 0x5a);
  std::string response =
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(bad.size()) +
      "\r\n\r\n" + bad;
  stream_outcome out;
  std::string request;
  {
    one_shot_server srv(response);
    stream_request r;
    r.url = "http://127.0.0.1:" + std::to_string(srv.port) + "/s";
    out = stream_to_end(r);
    srv.thread.join();
    request = srv.request;
  }
  EXPECT_EQ(out.res.error(), errc::gzip);
  EXPECT_TRUE(out.head.failure.starts_with("gzip: ")) << out.head.failure;
  EXPECT_NE(request.find("\r\nAccept-Encoding: gzip\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nUser-Agent: " + default_user_agent() + "\r\n"), std::string::npos);
  EXPECT_TRUE(default_user_agent().starts_with("sluice/"));
}

TEST(gzip_client, inflates_a_plain_length_body) {
  std::string response = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
                         std::to_string(k_gzipped.size()) + "\r\n\r\n" + k_gzipped;
  one_shot_server srv(response);
  stream_request r;
  r.url = "http://127.0.0.1:" + std::to_string(srv.port) + "/s";
  r.gzip = false;
  r.user_agent = "collector/2";
  auto out = stream_to_end(r);
  srv.thread.join();
  EXPECT_EQ(out.res.error(), errc::ended);
  EXPECT_EQ(out.body, k_body);
  EXPECT_EQ(srv.request.find("Accept-Encoding"), std::string::npos) << srv.request;
  EXPECT_NE(srv.request.find("\r\nUser-Agent: collector/2\r\n"), std::string::npos);
}

} // namespace
} // namespace sluice::io
