#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/tests/queue_helpers.h"
#include "support/eventually.h"

namespace sluice::queue::disk {
namespace {

using sluice::testing::append_range;
using sluice::testing::eventually;
using sluice::testing::payload_of;
using sluice::testing::read_all;
using sluice::testing::small_options;
using sluice::testing::temp_dir;

std::size_t segment_count(const std::filesystem::path& dir) {
  return list_segments(dir).value().size();
}

// Waits (bounded) until the queue's housekeeping has brought the segment count to `want`.
bool wait_segments(const queue& q, const std::filesystem::path& dir, std::size_t want) {
  return eventually(
      std::chrono::seconds(30),
      [&] {
        if (segment_count(dir) == want)
          return true;
        q.stats(); // keep the loop observable
        return false;
      },
      std::chrono::milliseconds(10));
}

TEST(retention, segments_go_once_every_subscription_passed_them) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  auto a = q->subscribe("a", start_at::beginning()).value();
  auto b = q->subscribe("b", start_at::beginning()).value();
  append_range(*q, 1, 3000, 100); // about 5 segments of 64 KiB
  ASSERT_TRUE(q->sync().has_value());
  auto segs = list_segments(d.path()).value();
  ASSERT_GE(segs.size(), 4u);
  EXPECT_EQ(q->first_position().value(), 1u);
  // "a" passes everything, "b" only the first segment: only segment 1 may go.
  ASSERT_TRUE(a->commit(3000).has_value());
  ASSERT_TRUE(b->commit(segs[1].first - 1).has_value());
  ASSERT_TRUE(wait_segments(*q, d.path(), segs.size() - 1));
  EXPECT_EQ(list_segments(d.path()).value().front().first, segs[1].first);
  EXPECT_EQ(q->first_position().value(), segs[1].first);
  // "b" catches up: everything but the active segment goes.
  ASSERT_TRUE(b->commit(3000).has_value());
  ASSERT_TRUE(wait_segments(*q, d.path(), 1));
  // The files go first, the counters follow when housekeeping retakes the queue's lock.
  eventually(
      std::chrono::seconds(3), [&] { return q->stats().segments_deleted.get() >= segs.size() - 1; },
      std::chrono::milliseconds(1));
  EXPECT_EQ(q->stats().segments_deleted.get(), segs.size() - 1);
  // What is left still reads from the start position of the remaining segment.
  auto r = q->open_reader(start_at::beginning()).value();
  batch out;
  auto res = r->read(out, {}, std::chrono::milliseconds(0));
  ASSERT_TRUE(res.has_value());
  EXPECT_GE(out.records.front().pos, list_segments(d.path()).value().front().first);
  EXPECT_EQ(q->first_position().value(), r->next_position() - out.records.size());
  EXPECT_EQ(q->first_position().value(), segs.back().first);
}

TEST(retention, no_subscription_keeps_everything) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  append_range(*q, 1, 3000, 100);
  ASSERT_TRUE(q->sync().has_value());
  auto before = segment_count(d.path());
  // Ask for housekeeping through a subscription that commits nothing, then drop it.
  auto s = q->subscribe("late", start_at::beginning()).value();
  ASSERT_TRUE(s->commit(0).has_value());
  std::this_thread::yield();
  EXPECT_EQ(segment_count(d.path()), before);
}

// A cursor file that cannot be read holds retention back: its subscription's place is unknown,
// so it counts as at the start (it was left out before, and its segments could go). Once the
// cursor is set again, retention goes on.
TEST(retention, an_unreadable_cursor_file_holds_every_segment) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  auto a = q->subscribe("a", start_at::beginning()).value();
  ASSERT_TRUE(q->subscribe("b", start_at::beginning()).value()->commit(0).has_value());
  {
    std::ofstream damaged(d / "cursors" / "b.cursor", std::ios::binary | std::ios::trunc);
    damaged << "not a cursor file";
  }
  append_range(*q, 1, 3000, 100);
  ASSERT_TRUE(q->sync().has_value());
  auto before = segment_count(d.path());
  ASSERT_GE(before, 4u);
  ASSERT_TRUE(a->commit(3000).has_value());
  auto cursors = q->cursors();
  auto b =
      std::find_if(cursors.begin(), cursors.end(), [](const auto& c) { return c.name == "b"; });
  ASSERT_NE(b, cursors.end()) << "the damaged cursor is left out";
  EXPECT_EQ(b->committed, 0u);
  EXPECT_EQ(segment_count(d.path()), before);
  EXPECT_TRUE(eventually(std::chrono::seconds(10), [&] {
    return q->stats().unreadable_cursors.get() == 1;
  })) << "the damaged cursor shows on /metrics";
  ASSERT_TRUE(q->set_cursor("b", 3000).has_value());
  ASSERT_TRUE(wait_segments(*q, d.path(), 1));
  EXPECT_TRUE(eventually(std::chrono::seconds(10),
                         [&] { return q->stats().unreadable_cursors.get() == 0; }));
}

// A segment missing between two others (removed by hand, or lost with records no one was told
// were safe): a reader reads on at the next segment, warns, and counts the positions it skipped.
// The next segment is opened by its name; only the missing one makes the reader list.
TEST(retention, a_reader_counts_the_positions_a_missing_segment_held) {
  temp_dir d;
  std::vector<segment_entry> segs;
  {
    auto q = open(small_options(d.path())).value();
    append_range(*q, 1, 3000, 100);
    ASSERT_TRUE(q->sync().has_value());
    segs = list_segments(d.path()).value();
    ASSERT_GE(segs.size(), 4u);
  }
  std::filesystem::remove(segs[1].path);
  auto q = open(small_options(d.path())).value();
  auto r = q->open_reader(start_at::beginning()).value();
  auto got = read_all(*r);
  const std::uint64_t missing = segs[2].first - segs[1].first;
  ASSERT_EQ(got.size(), 3000 - missing);
  EXPECT_EQ(got[segs[1].first - 2].first, segs[1].first - 1);
  EXPECT_EQ(got[segs[1].first - 1].first, segs[2].first);
  EXPECT_EQ(got.back().first, 3000u);
  EXPECT_EQ(q->stats().gap_records.get(), missing);
}

TEST(retention, retain_bytes_keeps_the_newest_consumed_segments) {
  temp_dir d;
  auto o = small_options(d.path());
  o.retain_bytes = 100 * 1024; // at least 100 KiB: two segments of just under 64 KiB
  auto q = open(o).value();
  auto a = q->subscribe("a", start_at::beginning()).value();
  append_range(*q, 1, 4000, 100);
  ASSERT_TRUE(q->sync().has_value());
  auto segs = list_segments(d.path()).value();
  ASSERT_GE(segs.size(), 6u);
  ASSERT_TRUE(a->commit(4000).has_value());
  // The active segment plus two consumed ones within retain_bytes.
  ASSERT_TRUE(wait_segments(*q, d.path(), 3));
}

// Deleted segments this process still holds open (the housekeeper shrinks them in steps).
std::size_t open_deleted_segments(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec).string();
    if (!ec && target.starts_with(dir.string()) && target.ends_with(" (deleted)"))
      ++n;
  }
  return n;
}

TEST(retention, deleted_segments_are_freed_in_steps_and_let_go) {
  temp_dir d;
  auto o = small_options(d.path());
  o.segment_bytes = 12u << 20; // three steps of 4 MiB each
  auto q = open(o).value();
  auto a = q->subscribe("a", start_at::beginning()).value();
  append_range(*q, 1, 4000, 8000); // three segments of 12 MiB and part of a fourth
  ASSERT_TRUE(q->sync().has_value());
  auto segs = list_segments(d.path()).value();
  ASSERT_EQ(segs.size(), 3u);
  // "a" reads everything, as a delivery does, so its reader is on the last segment.
  ASSERT_EQ(read_all(*a).size(), 4000u);
  ASSERT_TRUE(a->commit(4000).has_value());
  ASSERT_TRUE(wait_segments(*q, d.path(), 1));
  // The deleted segments are released once shrunk, none kept open for ever.
  bool released = eventually(
      std::chrono::seconds(30), [&] { return open_deleted_segments(d.path()) == 0; },
      std::chrono::milliseconds(10));
  EXPECT_TRUE(released);
}

TEST(retention, a_reader_on_a_deleted_segment_reads_it_whole) {
  temp_dir d;
  auto o = small_options(d.path());
  o.segment_bytes = 12u << 20; // more than one shrink step
  auto q = open(o).value();
  auto a = q->subscribe("a", start_at::beginning()).value();
  append_range(*q, 1, 4000, 8000);
  ASSERT_TRUE(q->sync().has_value());
  auto segs = list_segments(d.path()).value();
  ASSERT_EQ(segs.size(), 3u);
  // A reader without a subscription opens the first segment and reads ten records of it.
  auto r = q->open_reader(start_at::beginning()).value();
  batch b;
  ASSERT_TRUE(r->read(b, {10, 1u << 20}, std::chrono::milliseconds(0)).has_value());
  ASSERT_EQ(b.records.size(), 10u);
  // "a" reads and passes everything: retention deletes every segment but the active one; the
  // housekeeper lets go of those it shrank, and only the reader's file stays open.
  ASSERT_EQ(read_all(*a).size(), 4000u);
  ASSERT_TRUE(a->commit(4000).has_value());
  ASSERT_TRUE(wait_segments(*q, d.path(), 1));
  bool settled = eventually(
      std::chrono::seconds(30), [&] { return open_deleted_segments(d.path()) == 1; },
      std::chrono::milliseconds(10));
  ASSERT_TRUE(settled);
  // The rest of the first segment still reads, byte for byte: it was not shrunk under the reader.
  position next = 11;
  while (next < segs[1].first) {
    auto res = r->read(b, {100, 4u << 20}, std::chrono::milliseconds(0));
    ASSERT_TRUE(res.has_value()) << res.error().message();
    for (const auto& rec : b.records) {
      if (rec.pos >= segs[1].first)
        break;
      ASSERT_EQ(rec.pos, next);
      ASSERT_EQ(std::string(rec.payload), payload_of(rec.pos, 8000));
      ++next;
    }
  }
  EXPECT_EQ(next, segs[1].first);
}

// Reading a backlog of many segments opens each next one by its name: one directory listing (the
// seek) for the whole backlog, none while the caught-up reader polls, none when it follows the
// live queue across segment rolls.
TEST(reader, lists_the_directory_once_per_seek_not_per_segment_or_poll) {
  temp_dir d;
  auto o = small_options(d.path());
  o.segment_bytes = 4096;
  auto q = open(o).value();
  append_range(*q, 1, 3000, 100);
  ASSERT_TRUE(q->sync().has_value());
  ASSERT_GE(segment_count(d.path()), 80u);
  const auto listings = [&] { return q->stats().reader_listings.get(); };
  auto before = listings();
  auto r = q->open_reader(start_at::beginning()).value();
  auto got = read_all(*r);
  ASSERT_EQ(got.size(), 3000u);
  EXPECT_EQ(got.back().first, 3000u);
  EXPECT_EQ(listings() - before, 1u) << "the seek";
  before = listings();
  batch b;
  for (int i = 0; i < 100; ++i) {
    auto res = r->read(b, {1000, 1u << 20}, std::chrono::milliseconds(0));
    ASSERT_FALSE(res.has_value());
    EXPECT_EQ(res.error(), errc::timed_out);
  }
  EXPECT_EQ(listings(), before) << "an idle caught-up reader lists nothing";
  append_range(*q, 3001, 3500, 100); // rolls more segments while the reader follows
  ASSERT_TRUE(q->sync().has_value());
  got = read_all(*r);
  ASSERT_EQ(got.size(), 500u);
  EXPECT_EQ(got.front().first, 3001u);
  EXPECT_EQ(got.back().first, 3500u);
  EXPECT_EQ(listings(), before);
}

} // namespace
} // namespace sluice::queue::disk
