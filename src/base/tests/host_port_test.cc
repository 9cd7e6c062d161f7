#include <gtest/gtest.h>

#include "base/host_port.h"

namespace sluice {
namespace {

TEST(host_port, parses_names_v4_and_bracketed_v6) {
  auto a = parse_host_port("localhost:4712");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 4712);
  auto b = parse_host_port("127.0.0.1:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 0);
  auto c = parse_host_port("[::1]:65535");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 65535);
}

TEST(host_port, refuses_what_is_not_host_and_port) {
  for (const char* bad :
       {"", "localhost", ":80", "[]:80", "host:", "host:65536", "host:8x", "host:-1", "host: 80"})
    EXPECT_FALSE(parse_host_port(bad)) << bad;
}

} // namespace
} // namespace sluice
