// One flipped bit inside a closed queue's segment: verify pins it to one record, readers skip
// exactly that record, repair quarantines exactly its bytes, and recovery never truncates valid
// records that follow it.

#include <cstdint>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/disk/format.h"
#include "queue/tests/queue_helpers.h"

namespace sluice::queue::disk {
namespace {

using sluice::testing::append_range;
using sluice::testing::payload_of;
using sluice::testing::small_options;
using sluice::testing::temp_dir;

// 300 records of 524 bytes in 64 KiB segments: 125 records in each of the first two segments
// (32 + 125 * 524 = 65532 bytes), 50 in the third.
constexpr std::uint64_t k_records = 300;
constexpr std::size_t k_payload = 500;
constexpr std::uint64_t k_record_bytes = format::k_record_header_bytes + k_payload;
constexpr std::uint64_t k_per_segment = 125;

// Appends records 1..k_records (payload_of(i, k_payload)) and closes the queue.
std::vector<segment_entry> build_queue(const std::filesystem::path& dir) {
  auto q = open(small_options(dir)).value();
  append_range(*q, 1, k_records, k_payload);
  EXPECT_TRUE(q->close().has_value());
  return list_segments(dir).value();
}

// Where record `pos` starts in segment `seg`: the segment header, then records of equal size.
std::uint64_t record_offset(const segment_entry& seg, position pos) {
  return format::k_segment_header_bytes + (pos - seg.first) * k_record_bytes;
}

std::string read_bytes(const std::filesystem::path& p, std::uint64_t offset, std::size_t n) {
  auto f = open_file(p, O_RDONLY).value();
  std::string out(n, '\0');
  EXPECT_EQ(pread_full(f.get(), out.data(), n, offset).value(), n);
  return out;
}

void flip_bit(const std::filesystem::path& p, std::uint64_t offset, int bit) {
  auto f = open_file(p, O_RDWR).value();
  char c = 0;
  ASSERT_EQ(::pread(f.get(), &c, 1, static_cast<off_t>(offset)), 1);
  c = static_cast<char>(c ^ (1 << bit));
  ASSERT_EQ(::pwrite(f.get(), &c, 1, static_cast<off_t>(offset)), 1);
}

// The segment holding record `pos`, with the record's header checked where the format puts it,
// so a change of layout fails here rather than flipping a bit somewhere else.
struct located {
  segment_entry seg;
  std::uint64_t offset = 0;
};
located locate(const std::vector<segment_entry>& segs, position pos) {
  located at;
  for (const auto& s : segs)
    if (s.first <= pos)
      at.seg = s;
  at.offset = record_offset(at.seg, pos);
  auto header = read_bytes(at.seg.path, at.offset, format::k_record_header_bytes);
  EXPECT_EQ(format::get_u32(header.data() + 4), k_payload);
  EXPECT_EQ(format::get_u64(header.data() + 8), pos);
  return at;
}

struct read_back {
  std::vector<std::pair<position, std::string>> records;
  std::uint64_t damaged_records = 0;
  std::uint64_t damaged_bytes = 0;
};

// Reads until the reader has nothing more; a bounded number of reads.
read_back read_everything(reader& r) {
  read_back out;
  batch b;
  for (std::uint64_t i = 0; i < 2 * k_records + 10; ++i) {
    auto res = r.read(b, {64, 1u << 20}, std::chrono::milliseconds(0));
    if (!res) {
      EXPECT_EQ(res.error(), errc::timed_out) << res.error().message();
      return out;
    }
    out.damaged_records += b.damaged_records;
    out.damaged_bytes += b.damaged_bytes;
    for (const auto& rec : b.records)
      out.records.emplace_back(rec.pos, std::string(rec.payload));
  }
  ADD_FAILURE() << "the reader did not run dry";
  return out;
}

// Every record 1..k_records but `missing`, in order, with its payload.
void expect_all_but(const read_back& got, position missing) {
  ASSERT_EQ(got.records.size(), k_records - 1);
  std::size_t i = 0;
  for (position p = 1; p <= k_records; ++p) {
    if (p == missing)
      continue;
    ASSERT_EQ(got.records[i].first, p);
    ASSERT_EQ(got.records[i].second, payload_of(p, k_payload)) << "position " << p;
    ++i;
  }
}

// The whole check for one damaged record at `at` (position `pos`) in a sealed segment: verify,
// a reader from another process, repair, then verify and a reader again.
void expect_one_damaged_record_then_repair(const std::filesystem::path& dir, const located& at,
                                           position pos, const std::string& reason) {
  const auto name = at.seg.path.filename().string();
  const auto damaged = read_bytes(at.seg.path, at.offset, k_record_bytes);
  const auto size_before = std::filesystem::file_size(at.seg.path);

  auto report = verify(dir).value();
  EXPECT_EQ(report.segments, 3u);
  EXPECT_EQ(report.records, k_records - 1);
  ASSERT_EQ(report.damages.size(), 1u);
  const auto& d = report.damages[0];
  EXPECT_EQ(d.segment, name);
  EXPECT_EQ(d.offset, at.offset);
  EXPECT_EQ(d.bytes, k_record_bytes);
  EXPECT_EQ(d.after, pos - 1);
  EXPECT_EQ(d.before, pos + 1);
  EXPECT_FALSE(d.torn_tail);
  if (!reason.empty()) {
    EXPECT_EQ(d.reason, reason);
  }

  {
    auto r = open_reader(dir, start_at::beginning()).value();
    auto got = read_everything(*r);
    EXPECT_EQ(got.damaged_records, 1u);
    EXPECT_EQ(got.damaged_bytes, k_record_bytes);
    expect_all_but(got, pos);
  }

  auto rep = repair(dir).value();
  EXPECT_EQ(rep.before.damages.size(), 1u);
  EXPECT_EQ(rep.truncated_bytes, 0u);
  EXPECT_EQ(rep.quarantined_bytes, k_record_bytes);
  ASSERT_EQ(rep.quarantine_files.size(), 1u);
  const auto qfile = dir / "quarantine" / rep.quarantine_files[0];
  ASSERT_EQ(std::filesystem::file_size(qfile), k_record_bytes);
  EXPECT_EQ(read_bytes(qfile, 0, k_record_bytes), damaged);
  EXPECT_EQ(std::filesystem::file_size(at.seg.path), size_before - k_record_bytes);

  auto after = verify(dir).value();
  EXPECT_TRUE(after.clean()) << after.damages.size() << " damages, first at "
                             << after.damages[0].segment << " offset " << after.damages[0].offset;
  EXPECT_EQ(after.records, k_records - 1);
  {
    auto r = open_reader(dir, start_at::beginning()).value();
    auto got = read_everything(*r);
    EXPECT_EQ(got.damaged_records, 0u);
    expect_all_but(got, pos);
  }
}

TEST(bit_flip, payload_bit_in_first_segment_is_reported_skipped_and_quarantined) {
  temp_dir d;
  auto segs = build_queue(d.path());
  ASSERT_EQ(segs.size(), 3u);
  const position pos = k_per_segment / 2; // the middle of the first segment
  auto at = locate(segs, pos);
  ASSERT_EQ(at.seg.first, 1u);
  flip_bit(at.seg.path, at.offset + format::k_record_header_bytes + k_payload / 2, 3);
  expect_one_damaged_record_then_repair(d.path(), at, pos, "crc mismatch");
}

// A flipped bit in the length field: the length is wrong (larger, smaller, past the segment or
// impossible), and resynchronisation must still find the very next record.
class bit_flip_length : public ::testing::TestWithParam<int> {};

TEST_P(bit_flip_length, length_bit_in_first_segment_resynchronises_at_next_record) {
  temp_dir d;
  auto segs = build_queue(d.path());
  ASSERT_EQ(segs.size(), 3u);
  const position pos = k_per_segment / 2;
  auto at = locate(segs, pos);
  const int bit = GetParam();
  flip_bit(at.seg.path, at.offset + 4 + static_cast<std::uint64_t>(bit / 8), bit % 8);
  expect_one_damaged_record_then_repair(d.path(), at, pos, "");
}

// 500 is 0x1f4. Bit 0: 501; bit 2: 496; bit 9: 1012; bit 17: runs past the segment's end;
// bit 30: above format::k_max_payload (a bad header).
INSTANTIATE_TEST_SUITE_P(bits, bit_flip_length, ::testing::Values(0, 2, 9, 17, 30),
                         [](const ::testing::TestParamInfo<int>& bit) {
                           return "bit_" + std::to_string(bit.param);
                         });

TEST(bit_flip, bit_flip_in_last_segment_middle_is_not_truncated) {
  temp_dir d;
  auto segs = build_queue(d.path());
  ASSERT_EQ(segs.size(), 3u);
  const position pos = 2 * k_per_segment + 25; // 25 records before it, 25 after it
  auto at = locate(segs, pos);
  ASSERT_EQ(at.seg.path, segs.back().path);
  flip_bit(at.seg.path, at.offset + format::k_record_header_bytes + 7, 0);
  const auto size = std::filesystem::file_size(at.seg.path);

  auto q = open(small_options(d.path())).value();
  EXPECT_EQ(std::filesystem::file_size(at.seg.path), size);
  EXPECT_EQ(q->stats().truncated_bytes.get(), 0u);
  EXPECT_GE(q->stats().damaged_records.get(), 1u);
  EXPECT_EQ(q->durable_watermark(), k_records);
  {
    auto r = q->open_reader(start_at::beginning()).value();
    auto got = read_everything(*r);
    EXPECT_EQ(got.damaged_records, 1u);
    expect_all_but(got, pos);
  }
  // The next position is after every record kept: none is reused.
  std::string p = "after";
  record_in rec{0, p};
  EXPECT_EQ(q->append({&rec, 1}).value().first, k_records + 1);
  EXPECT_TRUE(q->close().has_value());
}

// Repair rewrites the newest segment shorter than the watermark file says it is; a reader from
// another process must not take the missing bytes at the end for damage.
TEST(bit_flip, repair_in_last_segment_leaves_no_damage_for_readers) {
  temp_dir d;
  auto segs = build_queue(d.path());
  ASSERT_EQ(segs.size(), 3u);
  const position pos = 2 * k_per_segment + 25;
  auto at = locate(segs, pos);
  flip_bit(at.seg.path, at.offset + format::k_record_header_bytes + 7, 0);

  auto rep = repair(d.path()).value();
  EXPECT_EQ(rep.quarantined_bytes, k_record_bytes);
  EXPECT_TRUE(verify(d.path()).value().clean());
  auto r = open_reader(d.path(), start_at::beginning()).value();
  auto got = read_everything(*r);
  EXPECT_EQ(got.damaged_records, 0u);
  EXPECT_EQ(got.damaged_bytes, 0u);
  expect_all_but(got, pos);
}

} // namespace
} // namespace sluice::queue::disk
