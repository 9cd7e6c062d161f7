#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>

#include <gtest/gtest.h>

#include "daemon/memory.h"

namespace sluice::daemon {
namespace {

constexpr std::uint64_t k_mib = 1024 * 1024;

// Where the test buffer's address escapes to, so the compiler cannot drop the allocation or the
// memset that touches it.
unsigned char* volatile g_escape = nullptr;

TEST(memory, resident_bytes_is_positive) {
  EXPECT_GT(resident_bytes(), 0u);
}

TEST(memory, resident_bytes_grows_when_memory_is_touched) {
  constexpr std::size_t k_size = 64 * k_mib;
  std::uint64_t before = resident_bytes();
  ASSERT_GT(before, 0u);
  auto buf = std::make_unique_for_overwrite<unsigned char[]>(k_size);
  g_escape = buf.get();
  std::memset(g_escape, 0xA5, k_size);
  std::uint64_t after = resident_bytes();
  EXPECT_EQ(g_escape[k_size - 1], 0xA5);
  EXPECT_GE(after, before + 32 * k_mib) << "before " << before << " after " << after;
  g_escape = nullptr;
}

TEST(memory, threshold_boundaries_are_exact) {
  memory_check c{1000, 70};
  EXPECT_EQ(c.threshold_bytes(), 700u);
  EXPECT_FALSE(c.exceeded(0));
  EXPECT_FALSE(c.exceeded(699));
  EXPECT_FALSE(c.exceeded(700));
  EXPECT_TRUE(c.exceeded(701));
  EXPECT_TRUE(c.exceeded(1000));
  EXPECT_TRUE(c.exceeded(std::numeric_limits<std::uint64_t>::max()));
}

TEST(memory, threshold_rounds_down) {
  EXPECT_EQ((memory_check{999, 70}.threshold_bytes()), 699u); // 699.3
  EXPECT_EQ((memory_check{1000, 100}.threshold_bytes()), 1000u);
  EXPECT_FALSE((memory_check{1000, 100}.exceeded(1000)));
  EXPECT_TRUE((memory_check{1000, 100}.exceeded(1001)));
}

TEST(memory, zero_limit_is_never_exceeded) {
  memory_check c{0, 70};
  EXPECT_FALSE(c.exceeded(0));
  EXPECT_FALSE(c.exceeded(1));
  EXPECT_FALSE(c.exceeded(std::numeric_limits<std::uint64_t>::max()));
}

TEST(memory, threshold_does_not_overflow_for_huge_limits) {
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ((memory_check{max, 100}.threshold_bytes()), max);
  EXPECT_EQ((memory_check{max, 50}.threshold_bytes()), max / 2);
  // limit × 70 does not fit in 64 bits; the result does.
  EXPECT_EQ((memory_check{max / 100 * 100, 70}.threshold_bytes()), max / 100 * 70);
}

TEST(memory, negative_percent_counts_as_zero) {
  memory_check c{1000, -5};
  EXPECT_EQ(c.threshold_bytes(), 0u);
  EXPECT_FALSE(c.exceeded(0));
  EXPECT_TRUE(c.exceeded(1));
}

} // namespace
} // namespace sluice::daemon
