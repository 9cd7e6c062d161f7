#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>

#include "sink_helpers.h"
#include "sinks/eventlog.h"
#include "support/temp_dir.h"

namespace sluice::sinks {
namespace {

using testing::event_batch;
using testing::read_all;
using testing::read_lines;

constexpr std::int64_t k_t0 = 1700000000000000000; // 2023-11-14T22:13:20Z

class fake_clock final : public wall_clock {
public:
  std::int64_t now_ns() const noexcept override { return now; }
  std::int64_t now = k_t0;
};

struct rotation : ::testing::Test {
  sluice::testing::temp_dir dir;
  fake_clock clock;

  std::unique_ptr<eventlog_sink> open_sink(eventlog_options o) {
    o.dir = dir.path();
    o.clock = &clock;
    auto s = eventlog_sink::open(o);
    EXPECT_TRUE(s) << s.error().message();
    return std::move(*s);
  }
  /// Event file names in the directory, sorted by N.
  std::vector<std::string> files() const {
    std::vector<std::pair<std::uint64_t, std::string>> v;
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
      if (auto n = parse_eventlog_file_seq(e.path().filename().string()))
        v.emplace_back(*n, e.path().filename().string());
    std::sort(v.begin(), v.end());
    std::vector<std::string> names;
    for (auto& [n, name] : v)
      names.push_back(name);
    return names;
  }
  std::size_t lines(const std::string& name) const { return read_lines(dir / name).size(); }
  std::string current() const { return std::filesystem::read_symlink(dir / "current").string(); }
};

TEST_F(rotation, by_events_splits_a_batch_across_files) {
  eventlog_options o;
  o.rotate_events = 3;
  auto sink = open_sink(o);
  auto b = event_batch::make(1, 10);
  ASSERT_TRUE(sink->write(b.views()));
  EXPECT_EQ(files(), (std::vector<std::string>{"events-20231114T221320Z-000001.ndjson",
                                               "events-20231114T221320Z-000002.ndjson",
                                               "events-20231114T221320Z-000003.ndjson",
                                               "events-20231114T221320Z-000004.ndjson"}));
  EXPECT_EQ(lines(files()[0]), 3u);
  EXPECT_EQ(lines(files()[1]), 3u);
  EXPECT_EQ(lines(files()[2]), 3u);
  EXPECT_EQ(read_all(dir / files()[3]), "{\"n\":10}\n");
  EXPECT_EQ(current(), files()[3]);
  EXPECT_EQ(sink->counters().files_rotated.load(), 3u);
  // The last file has room for two more, then the next batch opens file 5.
  ASSERT_TRUE(sink->write(event_batch::make(11, 3).views()));
  EXPECT_EQ(lines(files()[3]), 3u);
  ASSERT_EQ(files().size(), 5u);
  EXPECT_EQ(read_all(dir / files()[4]), "{\"n\":13}\n");
  EXPECT_EQ(current(), files()[4]);
}

TEST_F(rotation, by_bytes_keeps_each_file_under_the_limit) {
  eventlog_options o;
  o.rotate_bytes = 20; // "{"n":1}\n" is 8 bytes: two lines a file
  auto sink = open_sink(o);
  ASSERT_TRUE(sink->write(event_batch::make(1, 9).views()));
  auto names = files();
  ASSERT_EQ(names.size(), 5u);
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_EQ(std::filesystem::file_size(dir / names[i]), 16u) << names[i];
  EXPECT_EQ(read_all(dir / names[4]), "{\"n\":9}\n");
  EXPECT_EQ(current(), names[4]);
}

TEST_F(rotation, by_bytes_gives_an_oversized_line_a_file_of_its_own) {
  eventlog_options o;
  o.rotate_bytes = 20;
  auto sink = open_sink(o);
  event_batch b;
  b.add(1, 1, "s", "t", "{}");
  b.add(2, 1, "s", "t", std::string(50, 'x'));
  b.add(3, 1, "s", "t", "{}");
  ASSERT_TRUE(sink->write(b.views()));
  auto names = files();
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(read_all(dir / names[0]), "{}\n");
  EXPECT_EQ(read_all(dir / names[1]), std::string(50, 'x') + "\n");
  EXPECT_EQ(read_all(dir / names[2]), "{}\n");
}

TEST_F(rotation, by_interval_names_files_by_their_creation_time) {
  eventlog_options o;
  o.rotate_interval = std::chrono::seconds(60);
  auto sink = open_sink(o);
  ASSERT_TRUE(sink->write(event_batch::make(1, 2).views()));
  clock.now += 59'000'000'000;
  ASSERT_TRUE(sink->write(event_batch::make(3, 2).views()));
  EXPECT_EQ(files(), (std::vector<std::string>{"events-20231114T221320Z-000001.ndjson"}));
  clock.now += 1'000'000'000;
  ASSERT_TRUE(sink->write(event_batch::make(5, 1).views()));
  EXPECT_EQ(files(), (std::vector<std::string>{"events-20231114T221320Z-000001.ndjson",
                                               "events-20231114T221420Z-000002.ndjson"}));
  EXPECT_EQ(lines(files()[0]), 4u);
  EXPECT_EQ(lines(files()[1]), 1u);
  EXPECT_EQ(current(), "events-20231114T221420Z-000002.ndjson");
}

TEST_F(rotation, limits_hold_across_a_restart) {
  eventlog_options o;
  o.rotate_events = 4;
  {
    auto sink = open_sink(o);
    ASSERT_TRUE(sink->write(event_batch::make(1, 3).views()));
  }
  auto sink = open_sink(o);
  ASSERT_TRUE(sink->write(event_batch::make(4, 3).views()));
  auto names = files();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(lines(names[0]), 4u);
  EXPECT_EQ(lines(names[1]), 2u);
  EXPECT_EQ(names[1], "events-20231114T221320Z-000002.ndjson");
}

TEST_F(rotation, files_of_an_unconfirmed_batch_are_removed_on_open) {
  eventlog_options o;
  o.rotate_events = 2;
  auto b = event_batch::make(1, 6);
  {
    auto sink = open_sink(o);
    ASSERT_TRUE(sink->write(b.views(0, 2)));
  }
  // A crash after a rotation: a newer file the state never confirmed, and `current` at it.
  clock.now += 5'000'000'000;
  auto stray = "events-20231114T221325Z-000002.ndjson";
  {
    std::ofstream out(dir / stray);
    out << "{\"n\":3}\n{\"n\":4}\n";
  }
  std::filesystem::remove(dir / "current");
  std::filesystem::create_symlink(stray, dir / "current");
  auto sink = open_sink(o);
  EXPECT_EQ(files(), (std::vector<std::string>{"events-20231114T221320Z-000001.ndjson"}));
  EXPECT_EQ(current(), "events-20231114T221320Z-000001.ndjson");
  ASSERT_TRUE(sink->write(b.views(0, 6)));
  // N keeps increasing past the removed file's, so a name is never used twice.
  EXPECT_EQ(files(), (std::vector<std::string>{"events-20231114T221320Z-000001.ndjson",
                                               "events-20231114T221325Z-000003.ndjson",
                                               "events-20231114T221325Z-000004.ndjson"}));
  EXPECT_EQ(read_all(dir / files()[1]), "{\"n\":3}\n{\"n\":4}\n");
  EXPECT_EQ(read_all(dir / files()[2]), "{\"n\":5}\n{\"n\":6}\n");
}

TEST_F(rotation, failed_rotation_is_retryable_and_leaves_no_line_twice) {
  eventlog_options o;
  o.rotate_events = 3;
  auto sink = open_sink(o);
  auto b = event_batch::make(1, 5);
  ASSERT_TRUE(sink->write(b.views(0, 1)));
  // The next file's name is taken (by a directory), so creating it fails after two more lines
  // went into file 1: the batch fails, and those lines were not confirmed.
  auto blocker = dir / "events-20231114T221320Z-000002.ndjson";
  std::filesystem::create_directory(blocker);
  auto r = sink->write(b.views(0, 5));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_retryable(r.error())) << r.error().message();
  EXPECT_EQ(sink->counters().failures.load(), 1u);
  EXPECT_EQ(sink->last_written(), 1u);
  std::filesystem::remove(blocker);
  ASSERT_TRUE(sink->write(b.views(0, 5)));
  auto names = files();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(read_all(dir / names[0]), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
  EXPECT_EQ(read_all(dir / names[1]), "{\"n\":4}\n{\"n\":5}\n");
  EXPECT_EQ(current(), names[1]);
}

} // namespace
} // namespace sluice::sinks
