#include <string>

#include <gtest/gtest.h>

#include "base/json_string.h"

namespace sluice {
namespace {

std::string json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(json_string, escapes_quotes_backslashes_and_controls) {
  EXPECT_EQ(json(std::string_view("a\"b\\c\nd\te\x01\x1f\r\x7f", 13)),
            "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f\\r\\u007f\"");
  EXPECT_EQ(json(std::string_view("\0", 1)), "\"\\u0000\"");
  EXPECT_EQ(json(""), "\"\"");
}

TEST(json_string, keeps_valid_utf8_and_replaces_invalid_bytes) {
  EXPECT_EQ(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8f\x88"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8f\x88\"");
  // A lone byte, a truncated sequence, a surrogate, an overlong form, above U+10FFFF.
  EXPECT_EQ(json("a\xff"), "\"a\\ufffd\"");
  EXPECT_EQ(json("\xc3"), "\"\\ufffd\"");
  EXPECT_EQ(json("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(json("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json("\xe2\x82\"x"), "\"\\ufffd\\ufffd\\\"x\"");
}

TEST(json_string, appends_to_what_is_there) {
  std::string out = "x:";
  append_json_string(out, "y");
  EXPECT_EQ(out, "x:\"y\"");
}

} // namespace
} // namespace sluice
