#include <gtest/gtest.h>

#include "io/chunked.h"

namespace sluice::io {
namespace {

const std::string k_body = "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n2\r\n\r\n\r\n"
                           "0\r\nX-Trailer: y\r\n\r\n";

TEST(chunked, decodes_split_at_every_offset) {
  for (std::size_t cut = 0; cut <= k_body.size(); ++cut) {
    chunked_decoder d;
    std::string out;
    auto sink = [&](std::string_view s) { out.append(s); };
    ASSERT_TRUE(d.feed(std::string_view(k_body).substr(0, cut), sink)) << cut;
    ASSERT_TRUE(d.feed(std::string_view(k_body).substr(cut), sink)) << cut << d.error();
    EXPECT_EQ(out, "helloabcdefghijklmnopqrstuvwxyz\r\n") << cut;
    EXPECT_TRUE(d.done());
  }
}

TEST(chunked, byte_by_byte) {
  chunked_decoder d;
  std::string out;
  for (char c : k_body)
    ASSERT_TRUE(d.feed(std::string_view(&c, 1), [&](std::string_view s) { out.append(s); }));
  EXPECT_EQ(out, "helloabcdefghijklmnopqrstuvwxyz\r\n");
}

TEST(chunked, malformed_streams_are_refused) {
  for (std::string bad : {"zz\r\n", "5\r\nhelloXX", "5\nhello", "\r\n"}) {
    chunked_decoder d;
    EXPECT_FALSE(d.feed(bad, [](std::string_view) {})) << bad;
    EXPECT_FALSE(d.error().empty());
  }
}

} // namespace
} // namespace sluice::io
