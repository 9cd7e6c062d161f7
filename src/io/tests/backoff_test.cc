#include <gtest/gtest.h>

#include "io/backoff.h"

namespace sluice::io {
namespace {

using namespace std::chrono_literals;

TEST(backoff, doubles_up_to_the_cap_without_jitter) {
  backoff b(100ms, 1s, 0.0);
  EXPECT_EQ(b.next(), 100ms);
  EXPECT_EQ(b.next(), 200ms);
  EXPECT_EQ(b.next(), 400ms);
  EXPECT_EQ(b.next(), 800ms);
  EXPECT_EQ(b.next(), 1s);
  EXPECT_EQ(b.next(), 1s);
  b.reset();
  EXPECT_EQ(b.next(), 100ms);
}

TEST(backoff, jitter_takes_off_at_most_its_share) {
  backoff b(1s, 1s, 0.2, 42);
  for (int i = 0; i < 1000; ++i) {
    auto d = b.next();
    EXPECT_LE(d, 1s);
    EXPECT_GE(d, 800ms);
  }
}

} // namespace
} // namespace sluice::io
