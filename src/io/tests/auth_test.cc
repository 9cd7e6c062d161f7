#include <gtest/gtest.h>

#include "io/tests/stream_client.h"

namespace sluice::io {
namespace {

using namespace sluice::io::testing;

std::size_t lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(firehose_auth, basic_auth_streams_with_the_right_credentials_only) {
  firehose::server_options o;
  o.count = 100;
  o.require_basic = "ann:s3cret";
  firehose_on_loopback f(o);
  stream_request r;
  r.url = f.url();
  r.basic_auth = std::make_pair(std::string("ann"), std::string("s3cret"));
  auto ok = stream_to_end(r);
  EXPECT_EQ(ok.res.error(), errc::ended);
  EXPECT_EQ(ok.head.status, 200);
  EXPECT_EQ(lines(ok.body), 100u);

  r.basic_auth = std::make_pair(std::string("ann"), std::string("wrong"));
  auto wrong = stream_to_end(r);
  EXPECT_EQ(wrong.res.error(), errc::http_status);
  EXPECT_EQ(wrong.head.status, 401);
  EXPECT_EQ(wrong.head.header("www-authenticate").value_or(""), "Basic realm=\"firehose\"");
  EXPECT_EQ(wrong.body, "");

  r.basic_auth.reset();
  EXPECT_EQ(stream_to_end(r).head.status, 401);
}

TEST(firehose_auth, bearer_streams_with_the_right_token_only) {
  firehose::server_options o;
  o.count = 100;
  o.require_bearer = "T0KEN";
  firehose_on_loopback f(o);
  stream_request r;
  r.url = f.url();
  r.bearer = "T0KEN";
  auto ok = stream_to_end(r);
  EXPECT_EQ(ok.res.error(), errc::ended);
  EXPECT_EQ(lines(ok.body), 100u);
  r.bearer = "t0ken";
  auto wrong = stream_to_end(r);
  EXPECT_EQ(wrong.res.error(), errc::http_status);
  EXPECT_EQ(wrong.head.status, 401);
  r.bearer.reset();
  r.basic_auth = std::make_pair(std::string("T0KEN"), std::string(""));
  EXPECT_EQ(stream_to_end(r).head.status, 401);
}

TEST(firehose_status, retry_after_is_visible_to_the_client) {
  firehose::server_options o;
  o.status = 429;
  o.status_first = 1;
  o.retry_after = 75;
  o.count = 10;
  firehose_on_loopback f(o);
  stream_request r;
  r.url = f.url();
  auto limited = stream_to_end(r);
  EXPECT_EQ(limited.res.error(), errc::http_status);
  EXPECT_EQ(limited.head.status, 429);
  EXPECT_EQ(limited.head.retry_after, std::chrono::seconds(75));
  auto next = stream_to_end(r); // past --status-first: streams, no Retry-After
  EXPECT_EQ(next.head.status, 200);
  EXPECT_EQ(next.head.retry_after, std::nullopt);
  EXPECT_EQ(lines(next.body), 10u);
}

TEST(http_stream, retry_after_parses_delta_seconds_only) {
  auto h = parse_response_head("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\n").value();
  EXPECT_EQ(h.retry_after, std::chrono::seconds(120));
  auto date =
      parse_response_head("HTTP/1.1 503 x\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n")
          .value();
  EXPECT_EQ(date.retry_after, std::nullopt);
}

TEST(firehose_limits, limit_skipped_counts_cumulatively_per_connection) {
  firehose::server_options o;
  o.count = 20;
  o.stream.limit_every = 5;
  o.stream.limit_skipped = 3;
  o.stream.delete_every = 0;
  o.disconnect_every = 10;
  o.resume = true;
  firehose_on_loopback f(o);
  stream_request r;
  r.url = f.url();
  auto notices = [](const std::string& body) {
    std::vector<std::string> out;
    for (std::size_t at = 0, nl; (nl = body.find('\n', at)) != std::string::npos; at = nl + 1)
      if (body.compare(at, 9, "{\"limit\":") == 0)
        out.push_back(body.substr(at, nl - at));
    return out;
  };
  std::vector<std::string> expected = {R"({"limit":{"track":3}})", R"({"limit":{"track":6}})"};
  auto first = stream_to_end(r); // ranks 1..10, dropped after 10
  EXPECT_EQ(lines(first.body), 10u);
  EXPECT_EQ(notices(first.body), expected);
  auto second = stream_to_end(r); // ranks 11..20: the count starts again on a new connection
  EXPECT_EQ(lines(second.body), 10u);
  EXPECT_EQ(notices(second.body), expected);
}

} // namespace
} // namespace sluice::io
