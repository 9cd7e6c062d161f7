#include <gtest/gtest.h>

#include "base/units.h"

namespace sluice {
namespace {

TEST(units, sizes) {
  EXPECT_EQ(parse_size("4096").value(), 4096u);
  EXPECT_EQ(parse_size("64MiB").value(), 64u << 20);
  EXPECT_EQ(parse_size("512 KiB").value(), 512u << 10);
  EXPECT_EQ(parse_size("1GB").value(), 1000000000u);
  EXPECT_EQ(parse_size("1.5GiB").value(), 3u << 29);
  EXPECT_FALSE(parse_size("").has_value());
  EXPECT_FALSE(parse_size("12 parsecs").has_value());
  EXPECT_FALSE(parse_size("-1").has_value());
  EXPECT_FALSE(parse_size("MiB").has_value());
}

TEST(units, durations) {
  using namespace std::chrono;
  EXPECT_EQ(parse_duration("10ms").value(), milliseconds(10));
  EXPECT_EQ(parse_duration("2s").value(), seconds(2));
  EXPECT_EQ(parse_duration("1.5s").value(), milliseconds(1500));
  EXPECT_EQ(parse_duration("5m").value(), minutes(5));
  EXPECT_EQ(parse_duration("7d").value(), hours(168));
  EXPECT_EQ(parse_duration("250us").value(), microseconds(250));
  EXPECT_FALSE(parse_duration("10").has_value());
  EXPECT_FALSE(parse_duration("soon").has_value());
}

TEST(units, format) {
  EXPECT_EQ(format_size(12), "12 B");
  EXPECT_EQ(format_size(64u << 20), "64.0 MiB");
}

TEST(units, a_formatted_duration_reads_back_exactly) {
  using namespace std::chrono;
  EXPECT_EQ(format_duration(milliseconds(10)), "10ms");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(seconds(120)), "2m");
  EXPECT_EQ(format_duration(microseconds(250)), "250us");
  EXPECT_EQ(format_duration(nanoseconds(7)), "7ns");
  EXPECT_EQ(format_duration(nanoseconds(0)), "0ns");
  for (auto d : {nanoseconds(1), nanoseconds(1001), nanoseconds(999'999'999),
                 duration_cast<nanoseconds>(hours(49))})
    EXPECT_EQ(parse_duration(format_duration(d)).value(), d) << format_duration(d);
}

} // namespace
} // namespace sluice
