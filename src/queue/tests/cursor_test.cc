#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "queue/disk/cursor_file.h"
#include "queue/disk/disk_queue.h"
#include "queue/tests/queue_helpers.h"

namespace sluice::queue::disk {
namespace {

using sluice::testing::append_range;
using sluice::testing::read_all;
using sluice::testing::small_options;
using sluice::testing::temp_dir;

TEST(cursor, commit_is_durable_and_resumes_after_reopen) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  append_range(*q, 1, 100);
  ASSERT_TRUE(q->sync().has_value());
  {
    auto s = q->subscribe("archive", start_at::beginning()).value();
    batch b;
    ASSERT_TRUE(s->read(b, {40, 1u << 20}, std::chrono::milliseconds(0)).has_value());
    ASSERT_EQ(b.size(), 40u);
    ASSERT_TRUE(s->commit(b.last()).has_value());
    EXPECT_EQ(s->committed(), 40u);
    EXPECT_EQ(cursor_file::read(d.path(), "archive").value().value(), 40u);
    // Read more without committing: a crash here redelivers 41.. next time.
    ASSERT_TRUE(s->read(b, {10, 1u << 20}, std::chrono::milliseconds(0)).has_value());
    EXPECT_EQ(b.records.front().pos, 41u);
  }
  auto s = q->subscribe("archive", start_at::end()).value(); // start ignored: it has a cursor
  auto rest = read_all(*s);
  ASSERT_EQ(rest.size(), 60u);
  EXPECT_EQ(rest.front().first, 41u);
  auto cs = q->cursors();
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].name, "archive");
  EXPECT_EQ(cs[0].committed, 40u);
  EXPECT_EQ(cs[0].lag, 60u);
}

TEST(cursor, new_subscription_at_end_sees_only_new_records) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  append_range(*q, 1, 50);
  ASSERT_TRUE(q->sync().has_value());
  auto s = q->subscribe("live", start_at::end()).value();
  EXPECT_EQ(s->committed(), 50u);
  append_range(*q, 51, 55);
  ASSERT_TRUE(q->sync().has_value());
  auto got = read_all(*s);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.front().first, 51u);
}

TEST(cursor, commit_below_the_cursor_is_ignored) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  append_range(*q, 1, 10);
  ASSERT_TRUE(q->sync().has_value());
  auto s = q->subscribe("a", start_at::beginning()).value();
  ASSERT_TRUE(s->commit(8).has_value());
  ASSERT_TRUE(s->commit(3).has_value());
  EXPECT_EQ(cursor_file::read(d.path(), "a").value().value(), 8u);
}

TEST(cursor, one_reader_per_subscription) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  auto first = q->subscribe("only", start_at::beginning()).value();
  std::string detail;
  auto second = subscribe(d.path(), "only", start_at::beginning(), &detail);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error(), errc::subscription_busy);
  EXPECT_NE(detail.find("held by pid"), std::string::npos) << detail;
  EXPECT_EQ(q->subscribe("../escape", start_at::beginning()).error(), errc::invalid_argument);
}

TEST(cursor, a_busy_subscription_names_the_holders_pid) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  ASSERT_TRUE(q->close().has_value());
  // Held by this process through the library as another process would: `sluice drain` says
  // whose it is from this detail.
  auto held = subscribe(d.path(), "drained", start_at::beginning()).value();
  std::string detail;
  auto second = subscribe(d.path(), "drained", start_at::beginning(), &detail);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error(), errc::subscription_busy);
  EXPECT_EQ(detail, "subscription 'drained' is held by pid " + std::to_string(::getpid()));
  held.reset();
  // Let go: the next one takes it.
  EXPECT_TRUE(subscribe(d.path(), "drained", start_at::beginning(), &detail).has_value());
}

TEST(cursor, damaged_cursor_file_is_reported_not_trusted) {
  temp_dir d;
  ASSERT_TRUE(std::filesystem::create_directories(d.path() / "cursors"));
  ASSERT_TRUE(cursor_file::write(d.path(), "x", 77).has_value());
  auto p = cursor_file::path_of(d.path(), "x");
  {
    std::FILE* f = std::fopen(p.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 17, SEEK_SET);
    std::fputc(0x55, f);
    std::fclose(f);
  }
  EXPECT_EQ(cursor_file::read(d.path(), "x").error(), errc::corrupt);
}

// What the pipeline and the API do to a cursor goes through queue::queue, not its files.
TEST(cursor, the_queue_reads_moves_and_forgets_a_cursor) {
  temp_dir d;
  auto q = open(small_options(d.path())).value();
  EXPECT_EQ(q->location(), d.path().string());
  append_range(*q, 1, 100);
  ASSERT_TRUE(q->sync().has_value());
  EXPECT_FALSE(q->cursor("audit").value().has_value());
  // A skip on a subscription that has no cursor yet creates it there.
  ASSERT_TRUE(q->set_cursor("audit", 60).has_value());
  EXPECT_EQ(q->cursor("audit").value().value(), 60u);
  {
    auto s = q->subscribe("audit", start_at::beginning()).value();
    EXPECT_EQ(s->next_position(), 61u);
    // Held: neither a move nor a forget happens under an open subscription.
    EXPECT_EQ(q->set_cursor("audit", 10).error(), errc::subscription_busy);
    EXPECT_EQ(q->forget_subscription("audit").error(), errc::subscription_busy);
  }
  // A rewind: the next open starts right after it.
  ASSERT_TRUE(q->set_cursor("audit", 10).has_value());
  EXPECT_EQ(q->subscribe("audit", start_at::end()).value()->next_position(), 11u);
  ASSERT_TRUE(q->forget_subscription("audit").has_value());
  EXPECT_FALSE(q->cursor("audit").value().has_value());
  EXPECT_TRUE(q->cursors().empty());
  EXPECT_FALSE(std::filesystem::exists(cursor_file::path_of(d.path(), "audit")));
  ASSERT_TRUE(q->forget_subscription("audit").has_value()); // forgetting nothing is no error
  EXPECT_EQ(q->set_cursor(".hidden", 1).error(), errc::invalid_argument);
}

TEST(disk_queue, options_follow_the_configuration) {
  config::pipeline_config cfg;
  cfg.data_dir = "/var/lib/x";
  cfg.queue.fsync.mode = config::fsync_mode::always;
  cfg.queue.segment_bytes = 1 << 20;
  cfg.queue.max_disk = 5 << 20;
  cfg.queue.when_full = config::when_full_mode::drop_newest;
  cfg.queue.retain_bytes = 7;
  cfg.queue.retain_age = std::chrono::seconds(3);
  config::source_config s;
  s.max_record_bytes = 100u << 20;
  cfg.sources.push_back(s);
  auto o = options_of(cfg);
  EXPECT_EQ(o.dir, std::filesystem::path("/var/lib/x/queue"));
  EXPECT_EQ(o.fsync.mode, config::fsync_mode::always);
  EXPECT_EQ(o.segment_bytes, 1u << 20);
  EXPECT_EQ(o.max_disk, 5u << 20);
  EXPECT_EQ(o.when_full, config::when_full_mode::drop_newest);
  EXPECT_EQ(o.retain_bytes, 7u);
  EXPECT_EQ(o.retain_age, std::chrono::seconds(3));
  // A source's largest record fits in the queue with its envelope.
  EXPECT_GT(o.max_record_bytes, 100u << 20);
}

} // namespace
} // namespace sluice::queue::disk
