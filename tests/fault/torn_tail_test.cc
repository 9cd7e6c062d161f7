#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/disk/format.h"
#include "queue/tests/queue_helpers.h"

namespace sluice::queue::disk {
namespace {

using sluice::testing::append_range;
using sluice::testing::payload_of;
using sluice::testing::read_all;
using sluice::testing::small_options;
using sluice::testing::temp_dir;

constexpr std::uint64_t k_records = 20;
constexpr std::size_t k_payload = 40;
constexpr std::uint64_t k_record_bytes = format::k_record_header_bytes + k_payload;

// A closed queue of k_records records in one segment; returns the segment's path.
std::filesystem::path make_queue(const std::filesystem::path& dir) {
  auto q = open(small_options(dir)).value();
  append_range(*q, 1, k_records, k_payload);
  EXPECT_TRUE(q->close().has_value());
  auto segs = list_segments(dir).value();
  EXPECT_EQ(segs.size(), 1u);
  return segs.back().path;
}

void expect_exactly_records_before_last(const std::filesystem::path& dir,
                                        const std::filesystem::path& seg) {
  auto q = open(small_options(dir)).value();
  auto last_start = format::k_segment_header_bytes + (k_records - 1) * k_record_bytes;
  EXPECT_EQ(std::filesystem::file_size(seg), last_start);
  auto r = q->open_reader(start_at::beginning()).value();
  auto all = read_all(*r);
  ASSERT_EQ(all.size(), k_records - 1);
  for (std::uint64_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].first, i + 1);
    ASSERT_EQ(all[i].second, payload_of(i + 1, k_payload));
  }
  // The queue goes on: a new record lands after them and reads back.
  std::string p = "after-recovery";
  record_in rec{0, p};
  auto res = q->append({&rec, 1}).value();
  EXPECT_GE(res.first, k_records);
  ASSERT_TRUE(q->sync().has_value());
  auto more = read_all(*r);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].second, p);
}

TEST(torn_tail, torn_tail_at_every_offset_of_the_last_record) {
  temp_dir d;
  auto seg = make_queue(d.path());
  auto full = std::filesystem::file_size(seg);
  auto last_start = format::k_segment_header_bytes + (k_records - 1) * k_record_bytes;
  ASSERT_EQ(full, last_start + k_record_bytes);
  std::vector<char> original(full);
  {
    auto f = open_file(seg, O_RDONLY).value();
    ASSERT_EQ(pread_full(f.get(), original.data(), full, 0).value(), full);
  }
  for (std::uint64_t cut = last_start; cut < full; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    temp_dir each;
    std::filesystem::copy(d.path(), each.path(), std::filesystem::copy_options::recursive);
    auto s = each.path() / seg.filename();
    ASSERT_EQ(::truncate(s.c_str(), static_cast<off_t>(cut)), 0);
    expect_exactly_records_before_last(each.path(), s);
  }
}

TEST(torn_tail, crc_mismatch_in_the_last_record_is_truncated) {
  temp_dir d;
  auto seg = make_queue(d.path());
  auto full = std::filesystem::file_size(seg);
  {
    auto f = open_file(seg, O_RDWR).value();
    char c = 0;
    ASSERT_EQ(pread_full(f.get(), &c, 1, full - 1).value(), 1u);
    c ^= 0x01;
    ASSERT_TRUE(pwrite_all(f.get(), &c, 1, full - 1).has_value());
  }
  {
    auto q = open(small_options(d.path())).value();
    EXPECT_EQ(q->stats().truncated_bytes.get(), k_record_bytes);
  }
  expect_exactly_records_before_last(d.path(), seg);
}

TEST(torn_tail, garbage_after_the_last_record_is_truncated) {
  temp_dir d;
  auto seg = make_queue(d.path());
  auto full = std::filesystem::file_size(seg);
  {
    auto f = open_file(seg, O_WRONLY | O_APPEND).value();
    std::string junk(1000, '\0');
    for (std::size_t i = 0; i < junk.size(); ++i)
      junk[i] = static_cast<char>(i * 37);
    ASSERT_TRUE(write_all(f.get(), junk.data(), junk.size()).has_value());
  }
  auto q = open(small_options(d.path())).value();
  EXPECT_EQ(std::filesystem::file_size(seg), full);
  EXPECT_EQ(q->stats().truncated_bytes.get(), 1000u);
  auto r = q->open_reader(start_at::beginning()).value();
  EXPECT_EQ(read_all(*r).size(), k_records);
}

TEST(torn_tail, torn_segment_header_of_a_new_segment_is_removed) {
  temp_dir d;
  make_queue(d.path());
  // A crash while creating the next segment left 10 bytes of its header.
  auto torn = d.path() / format::segment_file_name(k_records + 1);
  {
    auto f = open_file(torn, O_WRONLY | O_CREAT, 0640).value();
    ASSERT_TRUE(write_all(f.get(), "SLUICSEG\x01\x00", 10).has_value());
  }
  auto q = open(small_options(d.path())).value();
  EXPECT_FALSE(std::filesystem::exists(torn) && std::filesystem::file_size(torn) == 10);
  auto r = q->open_reader(start_at::beginning()).value();
  EXPECT_EQ(read_all(*r).size(), k_records);
  std::string p = "next";
  record_in rec{0, p};
  EXPECT_EQ(q->append({&rec, 1}).value().first, k_records + 1);
}

} // namespace
} // namespace sluice::queue::disk
