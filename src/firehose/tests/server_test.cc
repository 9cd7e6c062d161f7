#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <signal.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "firehose/generator.h"
#include "firehose/server.h"
#include "firehose/tests/http_client.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace sluice::firehose {
namespace {

using json = nlohmann::json;
using namespace testing;

std::vector<std::string> expected_lines(const stream_options& o, std::uint64_t first,
                                        std::uint64_t n, stream_filter filter = {}) {
  generator gen(o, std::move(filter));
  gen.seek(first);
  std::vector<std::string> lines;
  std::string buf;
  for (std::uint64_t i = 0; i < n; ++i) {
    buf.clear();
    gen.append_next(buf);
    buf.pop_back();
    lines.push_back(buf);
  }
  return lines;
}

// A server on 127.0.0.1:0 run by one thread for the test's duration.
struct running_server {
  explicit running_server(server_options o) : options(o), srv(std::move(o)) {
    auto p = srv.listen_http("127.0.0.1", 0);
    EXPECT_TRUE(p.has_value());
    port = p.value_or(0);
  }
  void start() { srv.start(1); }
  server_options options;
  server srv;
  std::uint16_t port = 0;
};

server_options with_seed(std::uint64_t seed) {
  server_options o;
  o.stream.seed = seed;
  return o;
}

TEST(server, get_streams_the_generator_output_chunked) {
  running_server s(with_seed(7));
  s.start();
  auto sock = test_socket::tcp(s.port);
  auto r = read_http(sock, get_request(), 3000);
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_NE(r.head.find("Transfer-Encoding: chunked"), std::string::npos);
  ASSERT_FALSE(r.framing_error);
  ASSERT_GE(r.received.lines.size(), 3000u);
  r.received.lines.resize(3000);
  EXPECT_EQ(r.received.lines, expected_lines(s.options.stream, 1, 3000));
}

TEST(server, post_form_track_filters) {
  running_server s(with_seed(3));
  s.start();
  auto sock = test_socket::tcp(s.port);
  auto r = read_http(sock, post_request("track=Patriots%2Cbears&stall_warnings=true"), 300);
  ASSERT_EQ(r.status, 200) << r.head;
  ASSERT_GE(r.received.lines.size(), 300u);
  r.received.lines.resize(300);
  EXPECT_EQ(r.received.lines,
            expected_lines(s.options.stream, 1, 300, {{"Patriots", "bears"}, {}}));
}

TEST(server, unknown_path_is_404) {
  running_server s(with_seed(1));
  s.start();
  auto sock = test_socket::tcp(s.port);
  auto r = read_http(sock, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 404);
}

TEST(server, count_ends_the_response) {
  auto o = with_seed(11);
  o.count = 500;
  running_server s(o);
  s.start();
  auto sock = test_socket::tcp(s.port);
  auto r = read_http(sock, get_request());
  ASSERT_TRUE(r.ended);
  EXPECT_EQ(r.received.lines, expected_lines(o.stream, 1, 500));
}

TEST(server, disconnect_every_with_resume_loses_nothing) {
  auto o = with_seed(12);
  o.count = 1000;
  o.disconnect_every = 300;
  o.resume = true;
  running_server s(o);
  s.start();
  std::vector<std::string> all;
  int connections = 0;
  for (; connections < 10; ++connections) {
    auto sock = test_socket::tcp(s.port);
    auto r = read_http(sock, get_request());
    ASSERT_EQ(r.status, 200);
    ASSERT_FALSE(r.framing_error);
    EXPECT_LE(r.received.lines.size(), 300u);
    all.insert(all.end(), r.received.lines.begin(), r.received.lines.end());
    if (r.ended)
      break;
  }
  EXPECT_EQ(connections, 3); // 300 + 300 + 300 + 100 and the end
  EXPECT_EQ(all, expected_lines(o.stream, 1, 1000));
}

TEST(server, count_backfills_before_the_resume_point) {
  auto o = with_seed(13);
  o.disconnect_every = 100;
  o.resume = true;
  running_server s(o);
  s.start();
  {
    auto sock = test_socket::tcp(s.port);
    auto r = read_http(sock, get_request());
    ASSERT_TRUE(r.closed);
    ASSERT_EQ(r.received.lines.size(), 100u);
  }
  auto sock = test_socket::tcp(s.port);
  auto r = read_http(sock, get_request("count=-20"));
  ASSERT_EQ(r.received.lines.size(), 100u);
  EXPECT_EQ(r.received.lines, expected_lines(o.stream, 81, 100));
}

TEST(server, status_first_refuses_the_first_connections) {
  auto o = with_seed(14);
  o.status = 420;
  o.status_first = 1;
  running_server s(o);
  s.start();
  {
    auto sock = test_socket::tcp(s.port);
    auto r = read_http(sock, get_request());
    ASSERT_EQ(r.status, 420);
    EXPECT_NE(r.head.find("Enhance Your Calm"), std::string::npos);
    EXPECT_EQ(json::parse(r.body).at("errors").at(0).at("code"), 420);
  }
  auto sock = test_socket::tcp(s.port);
  auto r = read_http(sock, get_request(), 10);
  ASSERT_EQ(r.status, 200);
  r.received.lines.resize(10);
  EXPECT_EQ(r.received.lines, expected_lines(o.stream, 1, 10));
}

TEST(server, garbage_lines_take_ranks) {
  auto o = with_seed(15);
  o.stream.garbage_every = 10;
  o.count = 60;
  running_server s(o);
  s.start();
  auto sock = test_socket::tcp(s.port);
  auto r = read_http(sock, get_request());
  ASSERT_TRUE(r.ended);
  ASSERT_EQ(r.received.lines.size(), 60u);
  EXPECT_EQ(r.received.lines, expected_lines(o.stream, 1, 60));
  std::size_t good = 0, long_lines = 0;
  for (const auto& l : r.received.lines) {
    if (l.size() > (1u << 20))
      ++long_lines;
    else if (json::accept(l))
      ++good;
  }
  EXPECT_EQ(good, 54u);      // 60 - 60 / 10
  EXPECT_EQ(long_lines, 2u); // ranks 30 and 60
}

TEST(server, stall_after_goes_silent_and_keeps_the_connection) {
  auto o = with_seed(16);
  o.stall_after = 50;
  running_server s(o);
  s.start();
  auto sock = test_socket::tcp(s.port);
  auto r = read_http(sock, get_request(), 50);
  ASSERT_EQ(r.received.lines.size(), 50u);
  std::string more;
  // Asserting silence needs a bounded wait: nothing may arrive, and the connection stays open.
  EXPECT_FALSE(sock.read_some(more, std::chrono::milliseconds(300)));
  EXPECT_TRUE(more.empty());
}

TEST(server, keep_alive_when_the_filter_matches_nothing) {
  auto o = with_seed(17);
  o.keep_alive = std::chrono::milliseconds(100);
  running_server s(o);
  s.start();
  auto sock = test_socket::tcp(s.port);
  std::string request = get_request("track=no-such-team");
  sock.send_all(request);
  std::string in;
  for (int i = 0; i < 100 && in.find("\r\n\r\n2\r\n\r\n\r\n") == std::string::npos; ++i)
    ASSERT_TRUE(sock.read_some(in));
  EXPECT_NE(in.find("\r\n\r\n2\r\n\r\n\r\n"), std::string::npos);
}

TEST(server, tcp_and_unix_serve_plain_ndjson) {
  sluice::testing::temp_dir dir("firehose");
  auto o = with_seed(18);
  server srv(o);
  auto port = srv.listen_tcp("127.0.0.1", 0);
  ASSERT_TRUE(port);
  auto path = dir / "firehose.sock";
  ASSERT_TRUE(srv.listen_unix(path.string()));
  srv.start(2);
  auto expected = expected_lines(o.stream, 1, 2000);
  {
    auto sock = test_socket::tcp(*port);
    auto c = read_lines(sock, 2000);
    ASSERT_GE(c.lines.size(), 2000u);
    c.lines.resize(2000);
    EXPECT_EQ(c.lines, expected);
  }
  auto sock = test_socket::unix_socket(path.string());
  auto c = read_lines(sock, 2000);
  ASSERT_GE(c.lines.size(), 2000u);
  c.lines.resize(2000);
  EXPECT_EQ(c.lines, expected);
  srv.stop();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(server, serving_rate_figure) {
  auto o = with_seed(19);
  server srv(o);
  auto port = srv.listen_tcp("127.0.0.1", 0);
  ASSERT_TRUE(port);
  srv.start(1);
  auto sock = test_socket::tcp(*port);
  constexpr std::size_t n = 1000000;
  std::size_t lines = 0, bytes = 0;
  std::string in;
  auto t0 = std::chrono::steady_clock::now();
  while (lines < n && sock.read_some(in)) {
    bytes += in.size();
    lines += static_cast<std::size_t>(std::count(in.begin(), in.end(), '\n'));
    in.clear();
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_GE(lines, n);
  std::printf("served %zu events over loopback TCP in %.3f s: %.0f events/s, %.0f MB/s\n", lines, s,
              static_cast<double>(lines) / s, static_cast<double>(bytes) / s / 1e6);
}

// The verb: port 0 is printed, the stream is the generator's, SIGTERM exits 0.
TEST(firehose_verb, listens_on_a_free_port_and_stops_on_sigterm) {
  sluice::testing::child_process child(
      {"firehose", "--listen", "127.0.0.1:0", "--seed", "21", "--count", "100"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto line = child.read_line(deadline);
  ASSERT_TRUE(line);
  const std::string prefix = "listening on 127.0.0.1:";
  ASSERT_TRUE(line->starts_with(prefix)) << *line;
  auto port = static_cast<std::uint16_t>(std::stoi(line->substr(prefix.size())));
  auto sock = test_socket::tcp(port);
  auto r = read_http(sock, get_request());
  ASSERT_TRUE(r.ended);
  stream_options so;
  so.seed = 21;
  EXPECT_EQ(r.received.lines, expected_lines(so, 1, 100));
  child.kill(SIGTERM);
  auto status = child.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status);
  EXPECT_EQ(sluice::testing::exit_code(*status), 0) << sluice::testing::describe_status(*status);
}

TEST(firehose_verb, stdout_writes_count_events) {
  auto r = sluice::testing::run_sluice({"firehose", "--stdout", "--count", "1000", "--seed", "4"});
  EXPECT_EQ(r.status, 0) << r.err;
  stream_options so;
  so.seed = 4;
  std::string expected;
  for (const auto& l : expected_lines(so, 1, 1000))
    expected += l + "\n";
  EXPECT_EQ(r.out, expected);
}

} // namespace
} // namespace sluice::firehose
