#include <thread>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/tests/queue_helpers.h"

namespace sluice::queue::disk {
namespace {

using sluice::testing::append_range;
using sluice::testing::payload_of;
using sluice::testing::read_all;
using sluice::testing::small_options;
using sluice::testing::temp_dir;

TEST(disk_queue, append_assigns_positions_and_reads_back_in_order) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  std::string a = "alpha", b = "beta", c = "";
  record_in recs[] = {{1, a}, {2, b}, {3, c}};
  auto r = q->append(recs).value();
  EXPECT_EQ(r.first, 1u);
  EXPECT_EQ(r.last, 3u);
  EXPECT_EQ(r.appended, 3u);
  ASSERT_TRUE(q->sync().has_value());
  EXPECT_EQ(q->durable_watermark(), 3u);
  auto rd = q->open_reader(start_at::beginning()).value();
  batch out;
  ASSERT_TRUE(rd->read(out, {}, std::chrono::milliseconds(0)).has_value());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out.records[0].pos, 1u);
  EXPECT_EQ(out.records[0].received_ns, 1);
  EXPECT_EQ(out.records[0].payload, "alpha");
  EXPECT_EQ(out.records[1].payload, "beta");
  EXPECT_EQ(out.records[2].payload, "");
  EXPECT_EQ(rd->read(out, {}, std::chrono::milliseconds(0)).error(), errc::timed_out);
}

TEST(disk_queue, segments_roll_at_segment_bytes_and_reads_cross_them) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  append_range(*q, 1, 5000, 100);
  ASSERT_TRUE(q->sync().has_value());
  auto segs = list_segments(d.path()).value();
  EXPECT_GT(segs.size(), 5u);
  for (std::size_t i = 0; i < segs.size(); ++i) {
    EXPECT_LE(std::filesystem::file_size(segs[i].path), 64u * 1024) << segs[i].path;
    if (i > 0) {
      EXPECT_GT(segs[i].first, segs[i - 1].first);
    }
  }
  EXPECT_EQ(segs.front().first, 1u);
  auto rd = q->open_reader(start_at::beginning()).value();
  auto all = read_all(*rd);
  ASSERT_EQ(all.size(), 5000u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].first, i + 1);
    ASSERT_EQ(all[i].second, payload_of(i + 1, 100));
  }
}

TEST(disk_queue, reopen_continues_positions_and_keeps_records) {
  temp_dir d;
  {
    auto q = open(small_options(d.path())).value();
    append_range(*q, 1, 1000, 50);
    ASSERT_TRUE(q->close().has_value());
  }
  auto q = open(small_options(d.path())).value();
  EXPECT_EQ(q->durable_watermark(), 1000u);
  std::string p = "after";
  record_in rec{0, p};
  EXPECT_EQ(q->append({&rec, 1}).value().first, 1001u);
  ASSERT_TRUE(q->sync().has_value());
  auto rd = q->open_reader(start_at::beginning()).value();
  auto all = read_all(*rd);
  ASSERT_EQ(all.size(), 1001u);
  EXPECT_EQ(all.back().second, "after");
}

TEST(disk_queue, reader_from_end_and_from_position) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  append_range(*q, 1, 3000, 64);
  ASSERT_TRUE(q->sync().has_value());
  auto from_end = q->open_reader(start_at::end()).value();
  auto from_pos = q->open_reader(start_at::at(2500)).value();
  EXPECT_TRUE(read_all(*from_end).empty());
  append_range(*q, 3001, 3010, 64);
  ASSERT_TRUE(q->sync().has_value());
  auto tail = read_all(*from_end);
  ASSERT_EQ(tail.size(), 10u);
  EXPECT_EQ(tail.front().first, 3001u);
  auto mid = read_all(*from_pos);
  ASSERT_EQ(mid.size(), 511u);
  EXPECT_EQ(mid.front().first, 2500u);
  EXPECT_EQ(mid.front().second, payload_of(2500, 64));
}

TEST(disk_queue, read_waits_for_a_record_appended_by_another_thread) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  auto rd = q->open_reader(start_at::beginning()).value();
  std::thread t([&] { append_range(*q, 1, 1); });
  batch out;
  auto r = rd->read(out, {}, std::chrono::seconds(30));
  t.join();
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.records[0].payload, payload_of(1));
}

TEST(disk_queue, interrupt_wakes_a_blocked_read) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  auto rd = q->open_reader(start_at::beginning()).value();
  std::thread t([&] { rd->interrupt(); });
  batch out;
  auto r = rd->read(out, {}, std::chrono::seconds(60));
  t.join();
  EXPECT_EQ(r.error(), errc::closed);
}

TEST(disk_queue, read_limits_bound_each_batch) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  append_range(*q, 1, 100, 100);
  ASSERT_TRUE(q->sync().has_value());
  auto rd = q->open_reader(start_at::beginning()).value();
  batch out;
  ASSERT_TRUE(rd->read(out, {7, 1u << 20}, std::chrono::milliseconds(0)).has_value());
  EXPECT_EQ(out.size(), 7u);
  ASSERT_TRUE(rd->read(out, {1000, 350}, std::chrono::milliseconds(0)).has_value());
  EXPECT_EQ(out.size(), 3u); // 3 x 100 bytes fit in 350, a fourth does not
  EXPECT_EQ(out.records[0].pos, 8u);
}

TEST(disk_queue, second_writer_is_refused_with_the_holder_pid) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  std::string detail;
  auto second = open(small_options(d.path()), &detail);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error(), errc::locked);
  EXPECT_NE(detail.find("pid " + std::to_string(::getpid())), std::string::npos) << detail;
}

TEST(disk_queue, fsync_always_with_concurrent_appenders_shares_fsyncs) {
  temp_dir d;
  auto o = small_options(d.path());
  o.fsync.mode = config::fsync_mode::always;
  o.segment_bytes = 1u << 20;
  auto q = open(o).value();
  constexpr int k_threads = 8, k_appends = 50;
  std::vector<std::thread> ts;
  for (int t = 0; t < k_threads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < k_appends; ++i) {
        std::string p = "x";
        record_in r{0, p};
        auto res = q->append({&r, 1});
        ASSERT_TRUE(res.has_value());
        // fsync=always: durable when append returns.
        ASSERT_GE(q->durable_watermark(), res->last);
      }
    });
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(q->durable_watermark(), static_cast<position>(k_threads * k_appends));
  EXPECT_EQ(q->stats().appended_records.get(), static_cast<std::uint64_t>(k_threads * k_appends));
  EXPECT_GT(q->stats().fsyncs.get(), 0u);
  EXPECT_EQ(q->stats().durable_ns.count(), static_cast<std::uint64_t>(k_threads * k_appends));
}

TEST(disk_queue, wait_durable_with_interval_policy) {
  temp_dir d;
  auto o = small_options(d.path());
  o.fsync.interval = std::chrono::milliseconds(5);
  auto q = open(o).value();
  std::string p = "x";
  record_in r{0, p};
  auto res = q->append({&r, 1}).value();
  ASSERT_TRUE(q->wait_durable(res.last, std::chrono::seconds(30)).has_value());
  EXPECT_GE(q->durable_watermark(), res.last);
  EXPECT_EQ(q->wait_durable(99, std::chrono::milliseconds(0)).error(), errc::invalid_argument);
}

TEST(disk_queue, record_larger_than_the_limit_is_refused) {
  temp_dir d;
  auto o = small_options(d.path());
  o.max_record_bytes = 1000;
  auto q = open(o).value();
  std::string big(1001, 'x');
  record_in r{0, big};
  EXPECT_EQ(q->append({&r, 1}).error(), errc::record_too_large);
  EXPECT_EQ(q->last_position(), 0u);
}

// max_record_bytes past the format's 1 GiB: such a record would be acknowledged, then read back
// as a damaged header and cut off by recovery. The queue refuses the setting.
TEST(disk_queue, a_record_limit_past_the_format_is_refused) {
  temp_dir d;
  auto o = small_options(d.path());
  o.max_record_bytes = std::size_t{2} << 30;
  std::string why;
  auto q = open(o, &why);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error(), errc::invalid_argument);
  EXPECT_NE(why.find("max_record_bytes must be at most 1073741824"), std::string::npos) << why;
}

// After a power cut that took records a subscription had committed past (simulated: every
// segment and the watermark file gone, the cursor file kept), recovery never reuses a position
// at or below a committed cursor: the next record comes after it, and the subscription reads it
// instead of taking it for delivered.
TEST(disk_queue, recovery_never_reuses_a_position_below_a_committed_cursor) {
  temp_dir d;
  auto o = small_options(d.path());
  {
    auto q = open(o).value();
    append_range(*q, 1, 100);
    ASSERT_TRUE(q->sync().has_value());
    ASSERT_TRUE(q->subscribe("s", start_at::beginning()).value()->commit(100).has_value());
    ASSERT_TRUE(q->close().has_value());
  }
  auto segs = list_segments(d.path()).value();
  for (const auto& seg : segs)
    std::filesystem::remove(seg.path);
  std::filesystem::remove(d / "watermark");
  auto q = open(o).value();
  std::string text = "after the cut";
  record_in r{0, text};
  auto a = q->append({&r, 1});
  ASSERT_TRUE(a.has_value());
  EXPECT_GT(a->first, 100u);
  ASSERT_TRUE(q->sync().has_value());
  auto sub = q->subscribe("s", start_at::beginning()).value();
  auto got = read_all(*sub);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, text);
}

TEST(disk_queue, records_larger_than_the_write_buffer) {
  temp_dir d;
  auto o = small_options(d.path());
  o.write_buffer_bytes = 4096;
  o.segment_bytes = 1u << 20;
  auto q = open(o).value();
  std::string big(100000, 'b');
  std::vector<record_in> recs(5, record_in{0, big});
  auto res = q->append(recs).value();
  EXPECT_EQ(res.appended, 5u);
  ASSERT_TRUE(q->sync().has_value());
  auto rd = q->open_reader(start_at::beginning()).value();
  auto all = read_all(*rd);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[4].second, big);
}

TEST(disk_queue, another_process_view_reads_what_the_writer_published) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  append_range(*q, 1, 200, 20);
  ASSERT_TRUE(q->sync().has_value());
  auto rd = open_reader(d.path(), start_at::beginning()).value();
  EXPECT_EQ(read_all(*rd).size(), 200u);
  auto info = inspect(d.path()).value();
  EXPECT_EQ(info.first, 1u);
  EXPECT_EQ(info.last, 200u);
  EXPECT_EQ(info.watermark, 200u);
  EXPECT_EQ(info.writer_pid, ::getpid());
}

} // namespace
} // namespace sluice::queue::disk

namespace sluice::queue::disk {
namespace {

TEST(disk_queue, writer_waits_for_the_syncer_past_max_unsynced_bytes) {
  sluice::testing::temp_dir d;
  auto o = sluice::testing::small_options(d.path());
  o.fsync.interval = std::chrono::milliseconds(20);
  o.write_buffer_bytes = 4096;
  o.max_unsynced_bytes = 8192; // far below what is appended: the writer must wait many times
  auto q = open(o).value();
  sluice::testing::append_range(*q, 1, 5000, 100, 10);
  ASSERT_TRUE(q->sync().has_value());
  EXPECT_EQ(q->durable_watermark(), 5000u);
  // Each wait ends with an fsync: far more of them than one per 20 ms interval would give.
  EXPECT_GE(q->stats().fsyncs.get(), 5000u * 124 / 8192 / 2);
  auto r = q->open_reader(start_at::beginning()).value();
  EXPECT_EQ(sluice::testing::read_all(*r).size(), 5000u);
}

} // namespace
} // namespace sluice::queue::disk
