#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/crc32c.h"
#include "queue/disk/format.h"

namespace sluice::queue::disk::format {
namespace {

TEST(format, record_round_trip_with_exact_bytes) {
  std::string payload = "{\"id\":1}";
  std::vector<char> buf(k_record_header_bytes + payload.size());
  encode_record(buf.data(), 42, -7, payload);
  EXPECT_EQ(get_u32(buf.data() + 4), payload.size());
  EXPECT_EQ(get_u64(buf.data() + 8), 42u);
  EXPECT_EQ(static_cast<std::int64_t>(get_u64(buf.data() + 16)), -7);
  EXPECT_EQ(std::string(buf.data() + 24, payload.size()), payload);
  EXPECT_EQ(get_u32(buf.data()), crc32c(buf.data() + 4, buf.size() - 4));
  auto r = parse_record(buf.data(), buf.size());
  ASSERT_EQ(r.status, parse_status::ok);
  EXPECT_EQ(r.rec.pos, 42u);
  EXPECT_EQ(r.rec.received_ns, -7);
  EXPECT_EQ(r.rec.payload, payload);
  EXPECT_EQ(r.size, buf.size());
}

TEST(format, short_bad_header_and_bad_crc_are_told_apart) {
  std::string payload(100, 'x');
  std::vector<char> buf(k_record_header_bytes + payload.size());
  encode_record(buf.data(), 1, 0, payload);
  EXPECT_EQ(parse_record(buf.data(), 10).status, parse_status::short_data);
  EXPECT_EQ(parse_record(buf.data(), buf.size() - 1).status, parse_status::short_data);
  auto flipped = buf;
  flipped[50] ^= 0x10;
  EXPECT_EQ(parse_record(flipped.data(), flipped.size()).status, parse_status::bad_crc);
  auto zero_pos = buf;
  put_u64(zero_pos.data() + 8, 0);
  EXPECT_EQ(parse_record(zero_pos.data(), zero_pos.size()).status, parse_status::bad_header);
  auto huge = buf;
  put_u32(huge.data() + 4, 0xFFFFFFFF);
  EXPECT_EQ(parse_record(huge.data(), huge.size()).status, parse_status::bad_header);
}

TEST(format, segment_header_and_names) {
  char h[k_segment_header_bytes];
  encode_segment_header(h, 12345);
  EXPECT_EQ(std::string(h, 8), "SLUICSEG");
  EXPECT_EQ(decode_segment_header(h, sizeof h).value(), 12345u);
  h[17] ^= 1;
  EXPECT_FALSE(decode_segment_header(h, sizeof h).has_value());
  EXPECT_EQ(segment_file_name(42), "00000000000000000042.seg");
  EXPECT_EQ(parse_segment_file_name("00000000000000000042.seg").value(), 42u);
  EXPECT_FALSE(parse_segment_file_name("00000000000000000042.se").has_value());
  EXPECT_FALSE(parse_segment_file_name("lock").has_value());
}

} // namespace
} // namespace sluice::queue::disk::format
