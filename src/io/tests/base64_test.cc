#include "io/base64.h"

#include <gtest/gtest.h>

namespace sluice::io {
namespace {

TEST(base64, encodes_the_rfc_4648_vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("user:pa ss"), "dXNlcjpwYSBzcw==");
}

TEST(base64, decodes_what_it_encodes_binary_included) {
  std::string bytes;
  for (int i = 0; i < 256; ++i)
    bytes += static_cast<char>(i);
  for (std::size_t len : {0u, 1u, 2u, 3u, 100u, 256u}) {
    auto round = base64_decode(base64_encode(bytes.substr(0, len)));
    ASSERT_TRUE(round) << len;
    EXPECT_EQ(*round, bytes.substr(0, len)) << len;
  }
  EXPECT_EQ(base64_decode("Zm9vYg==").value(), "foob");
}

TEST(base64, refuses_what_is_not_base64) {
  EXPECT_FALSE(base64_decode("Zm9"));
  EXPECT_FALSE(base64_decode("Zm9v!!!!"));
}

} // namespace
} // namespace sluice::io
