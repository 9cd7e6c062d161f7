#include <cerrno>

#include <gtest/gtest.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/tests/queue_helpers.h"
#include "support/eventually.h"

namespace sluice::queue::disk {
namespace {

using sluice::testing::append_range;
using sluice::testing::payload_of;
using sluice::testing::read_all;
using sluice::testing::small_options;
using sluice::testing::temp_dir;

std::vector<std::string> payloads_of(queue& q) {
  auto r = q.open_reader(start_at::beginning()).value();
  std::vector<std::string> out;
  position prev = 0;
  for (auto& [pos, p] : read_all(*r)) {
    EXPECT_GT(pos, prev);
    prev = pos;
    out.push_back(p);
  }
  return out;
}

result<append_result> append_one(queue& q, const std::string& p) {
  record_in rec{0, p};
  return q.append({&rec, 1});
}

struct io_failure : ::testing::TestWithParam<bool> {}; // true: fsync fails, false: write fails

TEST_P(io_failure, injected_failure_fails_the_append_and_the_queue_recovers) {
  temp_dir d;
  fault_probe probe;
  auto o = small_options(d.path());
  o.fsync.mode = config::fsync_mode::always;
  o.faults = &probe;
  auto q = open(o).value();
  append_range(*q, 1, 50, 30); // acknowledged: durable
  probe.error = GetParam() ? EIO : EROFS;
  (GetParam() ? probe.fail_fsyncs : probe.fail_writes) = 1;
  auto failed = append_one(*q, "lost");
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error(), std::error_code(GetParam() ? EIO : EROFS, std::system_category()));
  EXPECT_EQ((GetParam() ? q->stats().fsync_errors : q->stats().write_errors).get(), 1u);
  // The fault has cleared: appends work again, positions never go back.
  auto ok = append_one(*q, "kept");
  ASSERT_TRUE(ok.has_value()) << ok.error().message();
  EXPECT_GT(ok->first, 50u);
  auto got = payloads_of(*q);
  ASSERT_EQ(got.size(), 51u);
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(got[i], payload_of(i + 1, 30));
  EXPECT_EQ(got[50], "kept");
  // And after a restart the same is on disk.
  auto closed = q->close();
  ASSERT_TRUE(closed.has_value()) << closed.error().message();
  o.faults = nullptr;
  auto reopened = open(o);
  ASSERT_TRUE(reopened.has_value()) << reopened.error().message();
  auto again = std::move(*reopened);
  EXPECT_EQ(payloads_of(*again).size(), 51u);
}

INSTANTIATE_TEST_SUITE_P(write_and_fsync, io_failure, ::testing::Values(false, true));

TEST(io_failure_interval, wait_durable_reports_the_failure_of_a_buffered_append) {
  temp_dir d;
  fault_probe probe;
  auto o = small_options(d.path());
  o.fsync.interval = std::chrono::milliseconds(2);
  o.faults = &probe;
  auto q = open(o).value();
  append_range(*q, 1, 10);
  ASSERT_TRUE(q->sync().has_value());
  probe.fail_fsyncs = 1;
  auto res = append_one(*q, "doomed");
  if (res.has_value()) { // buffered: the failure shows when we wait for durability
    auto w = q->wait_durable(res->last, std::chrono::seconds(30));
    ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error(), std::error_code(EIO, std::system_category()));
  }
  auto ok = append_one(*q, "fine");
  ASSERT_TRUE(ok.has_value());
  ASSERT_TRUE(q->wait_durable(ok->last, std::chrono::seconds(30)).has_value());
  auto got = payloads_of(*q);
  ASSERT_EQ(got.size(), 11u);
  EXPECT_EQ(got.back(), "fine");
}

// A lost position stays lost: asked about after 70 later failures (the writer once remembered
// 64), and after later records became durable (the watermark is past it), wait_durable says it
// was lost, never that it is safe.
TEST(io_failure_interval, a_lost_position_stays_lost_however_late_it_is_asked_about) {
  temp_dir d;
  fault_probe probe;
  auto o = small_options(d.path());
  o.fsync.interval = std::chrono::hours(1); // a commit only when sync() asks for one
  o.faults = &probe;
  auto q = open(o).value();
  std::vector<position> lost;
  for (int i = 0; i < 70; ++i) {
    auto doomed = append_one(*q, "doomed");
    ASSERT_TRUE(doomed.has_value()) << doomed.error().message();
    probe.fail_fsyncs = 1;
    ASSERT_FALSE(q->sync().has_value()) << "the injected fsync failure did not fail the commit";
    lost.push_back(doomed->last);
    auto kept = append_one(*q, "kept");
    ASSERT_TRUE(kept.has_value()) << kept.error().message();
    ASSERT_TRUE(q->sync().has_value());
  }
  ASSERT_GT(q->durable_watermark(), lost.back());
  for (auto p : lost) {
    auto w = q->wait_durable(p, std::chrono::seconds(1));
    ASSERT_FALSE(w.has_value()) << "position " << p << " was lost but is reported durable";
    EXPECT_EQ(w.error(), std::error_code(EIO, std::system_category()));
  }
  EXPECT_EQ(payloads_of(*q), std::vector<std::string>(70, "kept"));
}

// A failed group commit across two segment rolls: every segment after the durable one holds
// failed-back records only, and all of them go (the retired ones the commit had taken to sync
// survived before, and a restart published their records between acknowledged ones).
TEST(io_failure_interval, a_failed_commit_across_two_rolls_leaves_no_failed_back_segment) {
  temp_dir d;
  fault_probe probe;
  auto o = small_options(d.path());
  o.segment_bytes = 4096;
  o.fsync.interval = std::chrono::hours(1); // a commit only when sync() asks for one
  o.faults = &probe;
  auto q = open(o).value();
  std::vector<std::string> acked;
  for (int i = 0; i < 10; ++i) {
    acked.push_back(payload_of(static_cast<std::uint64_t>(i + 1), 100));
    ASSERT_TRUE(append_one(*q, acked.back()).has_value());
  }
  ASSERT_TRUE(q->sync().has_value());
  auto segments_before = list_segments(d.path()).value().size();
  for (int i = 0; i < 120; ++i) // about three segments of 4 KiB: two rolls or more
    ASSERT_TRUE(append_one(*q, "doomed " + std::string(100, 'x')).has_value());
  probe.fail_fsyncs = 1;
  ASSERT_FALSE(q->sync().has_value());
  EXPECT_EQ(list_segments(d.path()).value().size(), segments_before);
  for (int i = 0; i < 5; ++i) {
    acked.push_back("kept " + std::to_string(i));
    ASSERT_TRUE(append_one(*q, acked.back()).has_value());
  }
  ASSERT_TRUE(q->sync().has_value());
  EXPECT_EQ(payloads_of(*q), acked);
  ASSERT_TRUE(q->close().has_value());
  o.faults = nullptr;
  auto reopened = open(o).value();
  EXPECT_EQ(payloads_of(*reopened), acked);
}

// A persistent error (every fsync fails, as on a disk remounted read-only): putting the files
// back after the failed commit fails again and again. The queue says it is failed (the gauge,
// after a bounded number of attempts), appends fail, and close() finishes with the error instead
// of retrying forever.
TEST(io_failure_interval, a_persistent_error_fails_the_queue_and_close_still_finishes) {
  temp_dir d;
  fault_probe probe;
  auto o = small_options(d.path());
  o.fsync.interval = std::chrono::hours(1);
  o.faults = &probe;
  auto q = open(o).value();
  ASSERT_TRUE(append_one(*q, "durable").has_value());
  ASSERT_TRUE(q->sync().has_value());
  ASSERT_TRUE(append_one(*q, "doomed").has_value());
  probe.fail_fsyncs = 1000000;
  ASSERT_FALSE(q->sync().has_value());
  ASSERT_TRUE(sluice::testing::eventually(std::chrono::seconds(30),
                                          [&] { return q->stats().failed.get() == 1; }));
  auto appended = append_one(*q, "while failed");
  if (appended.has_value()) {
    EXPECT_FALSE(q->wait_durable(appended->last, std::chrono::seconds(1)).has_value());
  }
  auto closed = q->close();
  EXPECT_FALSE(closed.has_value());
  probe.fail_fsyncs = 0;
  o.faults = nullptr;
  auto reopened = open(o).value();
  EXPECT_EQ(payloads_of(*reopened), std::vector<std::string>{"durable"});
}

// A full disk is waited out, not failed: a write that gets ENOSPC (three in a row here) keeps its
// records and is retried until there is space; the append returns once they are durable, and
// nothing is lost, failed back or reordered.
TEST(io_failure_full_disk, a_write_waits_for_space_and_keeps_its_records) {
  for (int error : {ENOSPC, EDQUOT}) {
    temp_dir d;
    fault_probe probe;
    auto o = small_options(d.path());
    o.fsync.mode = config::fsync_mode::always;
    o.faults = &probe;
    auto q = open(o).value();
    append_range(*q, 1, 50, 30);
    probe.error = error;
    probe.fail_writes = 3;
    auto held = append_one(*q, "held");
    ASSERT_TRUE(held.has_value()) << held.error().message();
    EXPECT_EQ(held->first, 51u);
    EXPECT_EQ(q->stats().disk_full_waits.get(), 3u);
    EXPECT_EQ(q->stats().disk_full.get(), 0);
    EXPECT_EQ(q->stats().write_errors.get(), 0u);
    EXPECT_EQ(q->stats().lost_records.get(), 0u);
    auto got = payloads_of(*q);
    ASSERT_EQ(got.size(), 51u);
    for (int i = 0; i < 50; ++i)
      ASSERT_EQ(got[i], payload_of(i + 1, 30));
    EXPECT_EQ(got[50], "held");
  }
}

TEST(io_failure_interval, repeated_failures_never_lose_acknowledged_records) {
  temp_dir d;
  fault_probe probe;
  auto o = small_options(d.path());
  o.fsync.mode = config::fsync_mode::always;
  o.faults = &probe;
  auto q = open(o).value();
  std::vector<std::string> acked;
  for (int i = 0; i < 200; ++i) {
    if (i % 7 == 3)
      probe.fail_writes = 1;
    if (i % 11 == 5)
      probe.fail_fsyncs = 1;
    auto p = payload_of(static_cast<std::uint64_t>(i));
    if (append_one(*q, p).has_value())
      acked.push_back(p);
  }
  EXPECT_LT(acked.size(), 200u);
  EXPECT_EQ(payloads_of(*q), acked);
}

} // namespace
} // namespace sluice::queue::disk
