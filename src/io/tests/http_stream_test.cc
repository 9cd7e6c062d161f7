#include <memory>

#include <gtest/gtest.h>

#include "firehose/server.h"
#include "io/http_stream.h"
#include "support/firehose_fixture.h"

namespace sluice::io {
namespace {

namespace asio = boost::asio;

TEST(http_stream, parses_urls) {
  auto u = parse_url("http://127.0.0.1:4712/1.1/statuses/filter.json?x=1").value();
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 4712);
  EXPECT_EQ(u.target, "/1.1/statuses/filter.json?x=1");
  EXPECT_EQ(parse_url("http://[::1]:80/").value().host, "::1");
  EXPECT_EQ(parse_url("http://example").value().target, "/");
  auto https = parse_url("https://stream.example.com/s?x=1").value();
  EXPECT_TRUE(https.tls);
  EXPECT_EQ(https.host, "stream.example.com");
  EXPECT_EQ(https.port, 443);
  EXPECT_EQ(https.target, "/s?x=1");
  EXPECT_EQ(parse_url("https://[::1]:8443").value().port, 8443);
  EXPECT_FALSE(parse_url("http://x/").value().tls);
  EXPECT_EQ(parse_url("ftp://x/").error(), errc::unsupported_scheme);
  EXPECT_EQ(parse_url("x/y").error(), errc::bad_url);
  EXPECT_EQ(parse_url("http://x:99999/").error(), errc::bad_url);
}

TEST(http_stream, builds_get_and_post_requests) {
  stream_request r;
  r.url = "http://h:81/s.json";
  r.params = {{"track", {"Bears", "Green Bay"}}};
  r.basic_auth = std::make_pair(std::string("ann"), std::string("secret"));
  auto u = parse_url(r.url).value();
  auto get = build_request(u, r);
  EXPECT_TRUE(get.starts_with("GET /s.json?track=Bears%2CGreen%20Bay HTTP/1.1\r\nHost: h:81\r\n"))
      << get;
  EXPECT_NE(get.find("Authorization: Basic YW5uOnNlY3JldA==\r\n"), std::string::npos);
  EXPECT_NE(get.find("\r\nUser-Agent: " + default_user_agent() + "\r\n"), std::string::npos);
  EXPECT_NE(get.find("\r\nAccept-Encoding: gzip\r\n"), std::string::npos);
  r.gzip = false;
  r.headers = {{"user-agent", "mine/1"}};
  auto own = build_request(u, r);
  EXPECT_EQ(own.find("Accept-Encoding"), std::string::npos) << own;
  EXPECT_EQ(own.find("User-Agent: sluice"), std::string::npos) << own;
  EXPECT_NE(own.find("\r\nuser-agent: mine/1\r\n"), std::string::npos) << own;
  auto tls_default = parse_url("https://h/s").value();
  EXPECT_NE(build_request(tls_default, r).find("\r\nHost: h\r\n"), std::string::npos);
  r.post = true;
  auto post = build_request(u, r);
  EXPECT_TRUE(post.starts_with("POST /s.json HTTP/1.1\r\n"));
  EXPECT_TRUE(post.ends_with("Content-Length: 25\r\n\r\ntrack=Bears%2CGreen%20Bay")) << post;
}

TEST(http_stream, parses_a_response_head) {
  auto h = parse_response_head("HTTP/1.1 420 Enhance Your Calm\r\nRetry-After: 60\r\n"
                               "Transfer-Encoding: chunked\r\n")
               .value();
  EXPECT_EQ(h.status, 420);
  EXPECT_EQ(h.header("retry-after").value(), "60");
  EXPECT_TRUE(h.chunked);
  EXPECT_EQ(parse_response_head("garbage").error(), errc::protocol);
}

struct firehose_fixture : ::testing::Test {
  void start(firehose::server_options o) {
    fh = std::make_unique<sluice::testing::firehose_on_loopback>(std::move(o));
    port = fh->port;
  }
  result<void> run(stream_request req, std::string& body, response_head& head,
                   std::chrono::nanoseconds stall = std::chrono::seconds(30)) {
    asio::io_context io;
    result<void> out = fail(errc::protocol);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          out = co_await stream_once(req, stall, head, [&](std::string_view s) { body.append(s); });
        },
        asio::detached);
    io.run();
    return out;
  }
  std::unique_ptr<sluice::testing::firehose_on_loopback> fh;
  std::uint16_t port = 0;
};

TEST_F(firehose_fixture, streams_the_whole_body_until_the_server_ends_it) {
  firehose::server_options o;
  o.count = 2000;
  start(o);
  stream_request r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json";
  std::string body;
  response_head head;
  auto res = run(r, body, head);
  EXPECT_EQ(res.error(), errc::ended);
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.chunked);
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 2000);
}

// A close from inside on_data (a source retiring a connection on the record it just got) ends
// the stream there: the rest of the bytes already read are not handed on.
TEST_F(firehose_fixture, a_close_from_inside_on_data_ends_the_stream_at_once) {
  firehose::server_options o;
  o.count = 50000; // as fast as it reads: each read brings many chunks
  start(o);
  stream_request r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json";
  auto stop = std::make_shared<stream_stop>();
  std::size_t calls = 0, after_close = 0, bytes = 0;
  result<void> res = fail(errc::protocol);
  response_head head;
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        res = co_await stream_once(
            r, std::chrono::seconds(10), head,
            [&](std::string_view s) {
              ++calls;
              bytes += s.size();
              if (stop->closed())
                ++after_close;
              else if (bytes >= 100'000)
                stop->close();
            },
            stop);
      },
      asio::detached);
  io.run();
  EXPECT_EQ(res.error(), errc::closed);
  EXPECT_TRUE(stop->closed());
  EXPECT_GT(calls, 1u);
  EXPECT_EQ(after_close, 0u);
}

TEST_F(firehose_fixture, tracks_terms_with_post) {
  firehose::server_options o;
  o.count = 300;
  start(o);
  stream_request r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json";
  r.post = true;
  r.params = {{"track", {"Bears"}}};
  std::string body;
  response_head head;
  EXPECT_EQ(run(r, body, head).error(), errc::ended);
  std::size_t lines = 0, with_bears = 0;
  for (std::size_t at = 0, nl; (nl = body.find('\n', at)) != std::string::npos; at = nl + 1) {
    ++lines;
    auto line = std::string_view(body).substr(at, nl - at);
    if (line.find("Bears") != std::string_view::npos || line.starts_with("{\"delete\"") ||
        line.starts_with("{\"limit\""))
      ++with_bears;
  }
  EXPECT_EQ(lines, 300u);
  EXPECT_EQ(with_bears, 300u);
}

TEST_F(firehose_fixture, reports_the_http_status) {
  firehose::server_options o;
  o.status = 420;
  o.status_first = 1;
  start(o);
  stream_request r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json";
  std::string body;
  response_head head;
  EXPECT_EQ(run(r, body, head).error(), errc::http_status);
  EXPECT_EQ(head.status, 420);
}

TEST_F(firehose_fixture, a_stalled_stream_is_cut_at_the_stall_timeout) {
  firehose::server_options o;
  o.stall_after = 10;
  start(o);
  stream_request r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/1.1/statuses/filter.json";
  std::string body;
  response_head head;
  EXPECT_EQ(run(r, body, head, std::chrono::milliseconds(300)).error(), errc::stalled);
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 10);
}

TEST(http_stream, connection_refused_is_a_network_error) {
  // Bind and close a socket to find a port nobody listens on.
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  stream_request r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  response_head head;
  result<void> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        out = co_await stream_once(r, std::chrono::seconds(5), head, [](std::string_view) {});
      },
      asio::detached);
  io.run();
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error(), std::error_code(ECONNREFUSED, std::system_category()));
}

} // namespace
} // namespace sluice::io
