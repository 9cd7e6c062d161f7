// Power cuts (support/powercut.h) under the real `sluice queue append --ack`: the process is
// killed at a chosen sync call and everything no completed sync covered is discarded, as a power
// cut leaves the disk (a kill -9 keeps the page cache; this does not). After each cut the queue
// is recovered and checked as after a kill -9 (append_rounds.h): every acknowledged record is
// there with its payload, each round's records are a prefix of its lines, nothing of an earlier
// round changed, no position is reused, and nothing damaged is left. Each scenario runs one
// round without a cut to count its sync calls, then cuts at points spread over them.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "append_rounds.h"
#include "support/powercut.h"
#include "support/temp_dir.h"

namespace sluice::queue::disk {
namespace {

using namespace rounds;
using sluice::testing::power_cut;
using sluice::testing::power_plan;
using sluice::testing::temp_dir;

constexpr int k_cut_points = 16;

struct scenario {
  std::string fsync = "10ms";
  std::string match;          ///< which sync calls are cut points (power_plan::match)
  std::uint64_t lines = 3000; ///< per round: about 6 segments of 16 KiB
  int cut_points = k_cut_points;
};

/// The cut points for a run that counted `total` calls: `n` of them spread from the first to
/// the last.
std::vector<long> spread(long total, int n) {
  std::vector<long> at;
  for (int i = 0; i < n && total > 0; ++i)
    at.push_back(1 + (n == 1 ? 0 : static_cast<long>(i) * (total - 1) / (n - 1)));
  at.erase(std::unique(at.begin(), at.end()), at.end());
  return at;
}

class powercut_queue : public ::testing::Test {
protected:
  void SetUp() override { std::filesystem::create_directories(dir_); }

  /// One round under the simulator: cut at the plan's call (or none), then the cut and, with
  /// `check`, the check (which recovers the queue). `torn_bytes`: how much of each file's first
  /// unsynced change survives the cut.
  void round(const scenario& s, long kill_at, std::size_t torn_bytes, bool check = true) {
    ++round_;
    logs_.resize(static_cast<std::size_t>(round_) + 1);
    auto& lg = logs_[static_cast<std::size_t>(round_)];
    SCOPED_TRACE("round " + std::to_string(round_) + ": fsync " + s.fsync + ", cut at call " +
                 std::to_string(kill_at) + (s.match.empty() ? "" : " of '" + s.match + "'") +
                 ", torn " + std::to_string(torn_bytes));
    round_plan plan{.fsync = s.fsync,
                    .segment_bytes = "16KiB",
                    .env = pc_.env({.kill_at = kill_at, .match = s.match}),
                    .lines = s.lines};
    run_round(dir_, d_ / ("append-" + std::to_string(round_) + ".log"), round_, plan, lg);
    if (::testing::Test::HasFatalFailure())
      return;
    last_counted_ = pc_.counted();
    last_killed_ = pc_.killed();
    if (s.fsync == "never")
      lg.acks.clear(); // under "never" an ack says "written", which a power cut does not keep
    pc_.cut(torn_bytes);
    if (check)
      check_queue(dir_, round_, logs_, 0);
  }

  /// The reference round (no cut), then one round per cut point, torn every other time.
  void run(const scenario& s) {
    ASSERT_NO_FATAL_FAILURE(round(s, 0, 0));
    ASSERT_EQ(logs_[1].kept, logs_[1].fed_lines) << "a clean stop keeps every record";
    auto points = spread(last_counted_, s.cut_points);
    ASSERT_FALSE(points.empty()) << "the reference round made no sync call to cut at";
    int killed = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      ASSERT_NO_FATAL_FAILURE(round(s, points[i], i % 2 == 1 ? 700 : 0));
      killed += last_killed_ ? 1 : 0;
    }
    // The rounds are alike, so most reach their cut point (timing moves a few).
    EXPECT_GE(killed, static_cast<int>(points.size()) / 2);
  }

  temp_dir d_{"powercut"};
  std::filesystem::path dir_ = d_ / "q";
  power_cut pc_{(std::filesystem::create_directories(dir_), dir_), d_ / "shadow"};
  std::vector<round_log> logs_;
  int round_ = 0;
  long last_counted_ = 0;
  bool last_killed_ = false;
};

// Group commit every 10 ms: a cut at any sync call (segment data, directory, watermark).
TEST_F(powercut_queue, during_group_commit) {
  run({.fsync = "10ms"});
}

// The directory syncs: each follows a new segment file, so the cut comes just after a roll,
// before the new segment's entry is durable.
TEST_F(powercut_queue, just_after_a_segment_roll) {
  run({.fsync = "10ms", .match = "dirsync "});
}

// fsync = "always": every ack follows an fdatasync of its records; cut at those.
TEST_F(powercut_queue, with_fsync_always) {
  run({.fsync = "always", .match = "fdatasync ", .lines = 1500});
}

// Recovery itself cut short: after a torn cut mid-round, the next rounds open the queue (the
// recovery of that cut) and append nothing, and the power goes at one call of that recovery
// after another; only then is the queue checked.
TEST_F(powercut_queue, during_recovery) {
  const scenario s{.fsync = "10ms"};
  const scenario opening{.fsync = "10ms", .lines = 0};
  ASSERT_NO_FATAL_FAILURE(round(s, 0, 0));
  auto points = spread(last_counted_, 1 + k_cut_points / 2);
  ASSERT_GE(points.size(), 2u);
  for (long at : points) {
    ASSERT_NO_FATAL_FAILURE(round(s, at, 700, false)); // a torn, unsynced tail to recover
    for (long k = 1; k <= 3; ++k) {
      ASSERT_NO_FATAL_FAILURE(round(opening, k, k % 2 == 0 ? 700 : 0, false));
      if (!last_killed_) // the recovery made fewer calls: it finished
        break;
    }
    ASSERT_NO_FATAL_FAILURE(check_queue(dir_, round_, logs_, 0));
  }
}

// fsync = "never" promises what a clean stop synced (the reference round keeps everything) and,
// across a cut before that, only a consistent prefix: the checks hold without the acks.
TEST_F(powercut_queue, with_fsync_never) {
  run({.fsync = "never", .cut_points = 3});
}

} // namespace
} // namespace sluice::queue::disk
