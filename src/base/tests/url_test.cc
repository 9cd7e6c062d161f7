#include <gtest/gtest.h>

#include "base/url.h"

namespace sluice {
namespace {

TEST(url_decode, decodes_percent_escapes_in_either_case_and_plus_as_space) {
  EXPECT_EQ(url_decode("a%20b+c%2Fd%2fe"), "a b c/d/e");
  EXPECT_EQ(url_decode("%41%62%7e"), "Ab~");
  EXPECT_EQ(url_decode("%2B+%25"), "+ %");
  EXPECT_EQ(url_decode(""), "");
  EXPECT_EQ(url_decode("plain"), "plain");
}

TEST(url_decode, keeps_every_byte_including_nul_and_high_bytes) {
  EXPECT_EQ(url_decode("%00%ff"), std::string("\0\xff", 2));
  EXPECT_EQ(url_decode("%C3%A9"), "\xC3\xA9"); // é in UTF-8
}

TEST(url_decode, is_nothing_for_a_percent_without_two_hex_digits) {
  EXPECT_FALSE(url_decode("%"));
  EXPECT_FALSE(url_decode("a%4"));
  EXPECT_FALSE(url_decode("%4g"));
  EXPECT_FALSE(url_decode("%zz"));
  EXPECT_FALSE(url_decode("ok%41then%"));
}

TEST(url_decode_lenient, decodes_as_url_decode_does) {
  EXPECT_EQ(url_decode_lenient("a%20b+c%2Fd%2fe"), "a b c/d/e");
  EXPECT_EQ(url_decode_lenient("%2B+%25"), "+ %");
  EXPECT_EQ(url_decode_lenient("%00%ff"), std::string("\0\xff", 2));
}

TEST(url_decode_lenient, keeps_a_percent_without_two_hex_digits_as_it_is) {
  EXPECT_EQ(url_decode_lenient("%"), "%");
  EXPECT_EQ(url_decode_lenient("a%4"), "a%4");
  EXPECT_EQ(url_decode_lenient("%4g"), "%4g");
  EXPECT_EQ(url_decode_lenient("100%"), "100%");
  // The kept '%' does not swallow what follows: the next '%' can still start an escape.
  EXPECT_EQ(url_decode_lenient("%%41"), "%A");
  EXPECT_EQ(url_decode_lenient("%+"), "% ");
}

} // namespace
} // namespace sluice
