#include "base/name.h"

#include <string>

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(name, letters_digits_and_three_marks_up_to_128) {
  EXPECT_TRUE(valid_name("archive-1.main_x"));
  EXPECT_TRUE(valid_name("a"));
  EXPECT_TRUE(valid_name(std::string(128, 'a')));
  EXPECT_FALSE(valid_name(std::string(129, 'a')));
  EXPECT_FALSE(valid_name(""));
}

TEST(name, nothing_that_climbs_hides_or_spaces) {
  EXPECT_FALSE(valid_name(".hidden"));
  EXPECT_FALSE(valid_name("."));
  EXPECT_FALSE(valid_name(".."));
  EXPECT_FALSE(valid_name("../etc"));
  EXPECT_FALSE(valid_name("a/b"));
  EXPECT_FALSE(valid_name("a b"));
  EXPECT_FALSE(valid_name("caf\xc3\xa9"));
}

} // namespace
} // namespace sluice
