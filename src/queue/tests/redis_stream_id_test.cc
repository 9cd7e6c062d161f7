#include <gtest/gtest.h>

#include "queue/redis/stream_id.h"

namespace sluice::queue::redis {
namespace {

TEST(redis_stream_id, maps_ids_onto_positions_in_the_stream_order) {
  EXPECT_EQ(parse_stream_id("1-0"), position{1} << 20);
  EXPECT_EQ(parse_stream_id("0-1"), 1u);
  EXPECT_EQ(parse_stream_id("1700000000000-5"), (std::uint64_t{1700000000000} << 20) | 5);
  // Order: the sequence within a millisecond, then the next millisecond.
  EXPECT_LT(*parse_stream_id("1700000000000-1048575"), *parse_stream_id("1700000000001-0"));
  EXPECT_LT(*parse_stream_id("1700000000000-9"), *parse_stream_id("1700000000000-10"));
  for (const char* id : {"1700000000000-0", "1700000000000-1048575", "17592186044415-7", "0-1"})
    EXPECT_EQ(stream_id_of(*parse_stream_id(id)), id);
}

TEST(redis_stream_id, refuses_what_sluice_never_writes) {
  for (const char* id : {"0-0", "1-1048576", "17592186044416-0", "", "-", "5", "5-", "-5", "a-1",
                         "1-a", "1-2-3", "1 -2", "+1-2", "18446744073709551616-0"})
    EXPECT_FALSE(parse_stream_id(id).has_value()) << id;
  EXPECT_FALSE(position_of(0, 0).has_value());
  EXPECT_EQ(position_of(k_max_ms, (1u << 20) - 1), ~std::uint64_t{0});
}

} // namespace
} // namespace sluice::queue::redis
