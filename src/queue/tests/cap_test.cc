#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/format.h"
#include "queue/tests/queue_helpers.h"
#include "support/eventually.h"

namespace sluice::queue::disk {
namespace {

using sluice::testing::append_range;
using sluice::testing::eventually;
using sluice::testing::read_all;
using sluice::testing::small_options;
using sluice::testing::temp_dir;

TEST(cap, drop_newest_drops_and_counts_what_does_not_fit) {
  temp_dir d;
  auto o = small_options(d.path());
  o.max_disk = 256 * 1024;
  o.when_full = config::when_full_mode::drop_newest;
  auto q = open(o).value();
  std::string p(1000, 'x');
  std::vector<record_in> recs(10, record_in{0, p});
  std::uint64_t appended = 0, dropped = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = q->append(recs).value();
    appended += r.appended;
    dropped += r.dropped;
  }
  EXPECT_EQ(appended + dropped, 1000u);
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(q->stats().dropped_records.get(), dropped);
  ASSERT_TRUE(q->sync().has_value());
  EXPECT_LE(q->stats().disk_bytes.get(), 256 * 1024);
  // Nothing appended was lost: every position given out reads back.
  auto rd = q->open_reader(start_at::beginning()).value();
  auto all = read_all(*rd);
  EXPECT_EQ(all.size(), appended);
  EXPECT_EQ(all.back().first, appended);
}

TEST(cap, block_waits_until_a_subscription_lets_segments_go) {
  temp_dir d;
  auto o = small_options(d.path());
  o.max_disk = 256 * 1024;
  auto q = open(o).value();
  auto sub = q->subscribe("s", start_at::beginning()).value();
  std::atomic<std::uint64_t> appended{0};
  std::thread producer([&] {
    std::string p(1000, 'y');
    std::vector<record_in> recs(10, record_in{0, p});
    for (int i = 0; i < 100; ++i) { // 1000 KB in all: four times the cap
      auto r = q->append(recs);
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(r->dropped, 0u);
      appended += r->appended;
    }
  });
  // The consumer reads and commits; the producer can only finish because it does.
  std::uint64_t consumed = 0;
  batch b;
  while (consumed < 1000) {
    auto r = sub->read(b, {100, 1u << 20}, std::chrono::seconds(30));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    for (std::size_t i = 0; i < b.size(); ++i)
      ASSERT_EQ(b.records[i].pos, consumed + i + 1);
    consumed += b.size();
    ASSERT_TRUE(sub->commit(b.last()).has_value());
  }
  producer.join();
  EXPECT_EQ(appended.load(), 1000u);
  EXPECT_EQ(q->stats().dropped_records.get(), 0u);
  EXPECT_GT(q->stats().blocked_ns.get(), 0u);
}

} // namespace
} // namespace sluice::queue::disk

namespace sluice::queue::disk {
namespace {

// A subscription that never commits holds the queue at its cap: refuse_blocked_appends() frees
// the waiting appender (errc::closed), later appends at the cap fail at once, and reads, commits
// and close() work as before.
TEST(cap, refuse_blocked_appends_frees_a_waiting_appender) {
  temp_dir d;
  auto o = small_options(d.path());
  o.max_disk = 256 * 1024;
  auto q = open(o).value();
  auto sub = q->subscribe("stuck", start_at::beginning()).value();
  std::string p(1000, 'z');
  std::vector<record_in> recs(10, record_in{0, p});
  std::atomic<std::uint64_t> appended{0};
  std::error_code refused;
  std::thread producer([&] {
    for (;;) {
      auto r = q->append(recs);
      if (!r) {
        refused = r.error();
        return;
      }
      appended += r->appended;
    }
  });
  while (q->stats().blocked_appenders.get() == 0)
    std::this_thread::yield();
  q->refuse_blocked_appends();
  producer.join();
  EXPECT_EQ(refused, errc::closed);
  EXPECT_FALSE(q->append(recs).has_value());
  ASSERT_TRUE(q->sync().has_value());
  batch b;
  std::uint64_t read = 0;
  while (sub->read(b, {100000, 64u << 20}, std::chrono::milliseconds(0)).has_value() &&
         b.size() > 0) {
    read += b.size();
    ASSERT_TRUE(sub->commit(b.last()).has_value());
  }
  EXPECT_EQ(read, appended.load());
  sub.reset();
  EXPECT_TRUE(q->close().has_value());
}

} // namespace
} // namespace sluice::queue::disk

namespace sluice::queue::disk {
namespace {

// Four appenders at once against a stuck subscription: the cap holds for all of them together
// (an append waiting for buffer room counts against it), give or take the segment headers.
TEST(cap, concurrent_appenders_stay_under_the_cap) {
  temp_dir d;
  auto o = small_options(d.path());
  o.max_disk = 256 * 1024;
  o.write_buffer_bytes = 12 * 1024; // one append at a time fits: the others wait for room
  auto q = open(o).value();
  auto sub = q->subscribe("stuck", start_at::beginning()).value();
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t)
    producers.emplace_back([&] {
      std::string p(1000, 'c');
      std::vector<record_in> recs(10, record_in{0, p});
      for (int i = 0; i < 30; ++i)
        if (!q->append(recs))
          return; // refused at the end
    });
  eventually(
      std::chrono::seconds(20), [&] { return q->stats().blocked_appenders.get() >= 4; },
      std::chrono::milliseconds(1));
  ASSERT_EQ(q->stats().blocked_appenders.get(), 4);
  ASSERT_TRUE(q->sync().has_value());
  auto segments = static_cast<std::uint64_t>(q->stats().segments.get());
  EXPECT_LE(static_cast<std::uint64_t>(q->stats().disk_bytes.get()),
            o.max_disk + segments * format::k_segment_header_bytes);
  q->refuse_blocked_appends();
  for (auto& t : producers)
    t.join();
  sub.reset();
  EXPECT_TRUE(q->close().has_value());
}

} // namespace
} // namespace sluice::queue::disk
