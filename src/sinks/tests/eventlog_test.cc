#include <fcntl.h>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sink_helpers.h"
#include "base/crc32c.h"
#include "sinks/eventlog.h"
#include "sinks/eventlog_state.h"
#include "support/temp_dir.h"

namespace sluice::sinks {
namespace {

using testing::event_batch;
using testing::read_all;
using testing::read_lines;

std::unique_ptr<eventlog_sink> open_sink(const std::filesystem::path& dir, bool envelope = false) {
  eventlog_options o;
  o.dir = dir;
  o.envelope = envelope;
  auto s = eventlog_sink::open(o);
  EXPECT_TRUE(s) << s.error().message();
  return std::move(*s);
}

std::string lines_for(const event_batch& b, std::size_t from, std::size_t to) {
  std::string out;
  for (auto i = from; i < to; ++i)
    out += b.payload(i) + "\n";
  return out;
}

TEST(eventlog, writes_payload_lines_and_points_current_at_the_file) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir.path());
  auto b = event_batch::make(1, 3);
  ASSERT_TRUE(sink->write(b.views()));
  auto file = sink->current_file();
  EXPECT_EQ(read_all(file), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
  EXPECT_EQ(std::filesystem::read_symlink(dir / "current"), file.filename());
  EXPECT_EQ(sink->last_written(), 3u);
  EXPECT_EQ(sink->counters().events_written.load(), 3u);
  EXPECT_EQ(sink->counters().bytes_written.load(), 24u);
  EXPECT_EQ(sink->counters().batches.load(), 1u);
  EXPECT_EQ(sink->type(), "eventlog");
}

TEST(eventlog, writes_envelope_lines) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir.path(), true);
  event_batch b;
  b.add(5, 1700000000123456789, "fh", "tweet", R"({"text":"hi"})");
  b.add(9, 1700000001000000000, "tcp \"1\"", "line", "plain \"text\"");
  ASSERT_TRUE(sink->write(b.views()));
  EXPECT_EQ(read_lines(sink->current_file()),
            (std::vector<std::string>{
                R"({"id":5,"source":"fh","received_at":"2023-11-14T22:13:20.123456789Z",)"
                R"("type":"tweet","event":{"text":"hi"}})",
                R"({"id":9,"source":"tcp \"1\"","received_at":"2023-11-14T22:13:21.000000000Z",)"
                R"("type":"line","event":"plain \"text\""})"}));
}

TEST(eventlog, newline_in_a_payload_becomes_a_space) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir.path());
  event_batch b;
  b.add(1, 1, "s", "t", "{\"a\":\n1}");
  ASSERT_TRUE(sink->write(b.views()));
  EXPECT_EQ(read_all(sink->current_file()), "{\"a\": 1}\n");
  EXPECT_EQ(sink->counters().payloads_altered.load(), 1u);
}

TEST(eventlog, redelivered_batch_writes_nothing_twice) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 8);
  {
    auto sink = open_sink(dir.path());
    ASSERT_TRUE(sink->write(b.views(0, 5)));
    ASSERT_TRUE(sink->write(b.views(0, 5)));
    EXPECT_EQ(sink->counters().duplicates_skipped.load(), 5u);
    EXPECT_EQ(sink->counters().events_written.load(), 5u);
  }
  // After a restart, the same batch and then an overlapping one.
  auto sink = open_sink(dir.path());
  EXPECT_EQ(sink->last_written(), 5u);
  ASSERT_TRUE(sink->write(b.views(0, 5)));
  ASSERT_TRUE(sink->write(b.views(2, 8)));
  EXPECT_EQ(sink->counters().duplicates_skipped.load(), 8u);
  EXPECT_EQ(read_all(sink->current_file()), lines_for(b, 0, 8));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}),
            4); // the file, current, the state and the lock
}

TEST(eventlog, torn_last_line_is_cut_and_its_events_written_again) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 6);
  std::filesystem::path file;
  {
    auto sink = open_sink(dir.path());
    ASSERT_TRUE(sink->write(b.views(0, 3)));
    file = sink->current_file();
  }
  // A crash while writing events 4 and 5: one complete line and half of the next.
  {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << "{\"n\":4}\n{\"n\":";
  }
  auto sink = open_sink(dir.path());
  EXPECT_EQ(read_all(file), lines_for(b, 0, 3));
  EXPECT_EQ(sink->counters().recoveries.load(), 1u);
  ASSERT_TRUE(sink->write(b.views(2, 6)));
  EXPECT_EQ(read_all(file), lines_for(b, 0, 6));
}

TEST(eventlog, torn_state_save_falls_back_to_the_previous_position) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 6);
  std::filesystem::path file;
  {
    auto sink = open_sink(dir.path());
    ASSERT_TRUE(sink->write(b.views(0, 3))); // state slot 1
    ASSERT_TRUE(sink->write(b.views(3, 5))); // state slot 0
    file = sink->current_file();
  }
  // Tear the newest slot, as a crash during its save would: the batch it confirmed was never
  // reported written, so its lines go and come again.
  int fd = ::open((dir / ".eventlog-state").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "torn", 4, 20), 4);
  ::close(fd);
  auto sink = open_sink(dir.path());
  EXPECT_EQ(sink->last_written(), 3u);
  EXPECT_EQ(read_all(file), lines_for(b, 0, 3));
  ASSERT_TRUE(sink->write(b.views(3, 6)));
  EXPECT_EQ(read_all(file), lines_for(b, 0, 6));
}

TEST(eventlog, crash_before_the_first_state_save_writes_nothing_twice) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 5);
  std::filesystem::path file;
  {
    auto sink = open_sink(dir.path());
    ASSERT_TRUE(sink->write(b.views(0, 3))); // state slot 1
    file = sink->current_file();
  }
  // Blank the only save, as a crash between the data's fdatasync and the first state save
  // leaves it: the file holds lines no save confirmed, and their batch comes again.
  int fd = ::open((dir / ".eventlog-state").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char zeros[64] = {};
  ASSERT_EQ(::pwrite(fd, zeros, sizeof zeros, 4096), 64); // slot 1, in the second block
  ::close(fd);
  auto sink = open_sink(dir.path());
  EXPECT_EQ(sink->last_written(), 0u);
  EXPECT_FALSE(std::filesystem::exists(file));
  ASSERT_TRUE(sink->write(b.views(0, 5)));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    files += e.path().filename().string().starts_with("events-") ? 1 : 0;
  EXPECT_EQ(files, 1);
  EXPECT_EQ(read_all(sink->current_file()), lines_for(b, 0, 5));
}

// A torn write of a block damages one slot at most: each has a block of its own. Zeroing the
// whole first block (slot 0, the newer save) leaves slot 1, the save before it.
TEST(eventlog, a_torn_block_damages_one_slot_only) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 6);
  std::filesystem::path file;
  {
    auto sink = open_sink(dir.path());
    ASSERT_TRUE(sink->write(b.views(0, 3))); // state slot 1
    ASSERT_TRUE(sink->write(b.views(3, 5))); // state slot 0
    file = sink->current_file();
  }
  int fd = ::open((dir / ".eventlog-state").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  std::string zeros(4096, '\0');
  ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), 0), 4096);
  ::close(fd);
  auto sink = open_sink(dir.path());
  EXPECT_EQ(sink->last_written(), 3u);
  EXPECT_EQ(read_all(file), lines_for(b, 0, 3));
}

// Both slots unreadable (the whole file zeroed, as a torn write of a one-block file could leave
// it): damage, reported and counted, never "nothing was saved": every line stays. Before version
// 2 this deleted the event file with every confirmed line in it.
TEST(eventlog, a_zeroed_state_file_is_damage_and_keeps_every_line) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 8);
  std::filesystem::path file;
  {
    auto sink = open_sink(dir.path());
    ASSERT_TRUE(sink->write(b.views(0, 3)));
    ASSERT_TRUE(sink->write(b.views(3, 6)));
    file = sink->current_file();
  }
  auto state = dir / ".eventlog-state";
  auto size = std::filesystem::file_size(state);
  int fd = ::open(state.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  std::string zeros(size, '\0');
  ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), 0), static_cast<ssize_t>(size));
  ::close(fd);
  auto sink = open_sink(dir.path());
  EXPECT_EQ(sink->counters().recoveries.load(), 1u);
  EXPECT_EQ(read_all(file), lines_for(b, 0, 6));
  // It goes on in a new file; the next save makes the state readable again.
  ASSERT_TRUE(sink->write(b.views(6, 8)));
  EXPECT_NE(sink->current_file(), file);
  EXPECT_EQ(read_all(sink->current_file()), lines_for(b, 6, 8));
  EXPECT_EQ(read_all(file), lines_for(b, 0, 6));
}

// A version 1 state file (two 512-byte slots in one block) is read; the next save writes
// version 2, which the open after it reads.
TEST(eventlog, a_version_1_state_file_is_read_and_saved_as_version_2) {
  sluice::testing::temp_dir dir;
  char v1[1024] = {};
  auto put = [](char* p, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      p[i] = static_cast<char>(v >> (8 * i));
  };
  char* slot1 = v1 + 512;
  put(slot1, 0x4c454c53, 4); // "SLEL"
  put(slot1 + 4, 1, 4);      // version 1
  put(slot1 + 8, 1, 8);      // seq
  put(slot1 + 16, 42, 8);    // last_id
  put(slot1 + 56, sluice::crc32c(slot1, 56), 4);
  {
    std::ofstream out(dir / ".eventlog-state", std::ios::binary);
    out.write(v1, sizeof v1);
  }
  auto st = eventlog_state::open(dir.path());
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_TRUE(st->saved());
  EXPECT_EQ(st->saved()->last_id, 42u);
  EXPECT_FALSE(st->damaged());
  eventlog_position next;
  next.last_id = 50;
  ASSERT_TRUE(st->save(next));
  auto again = eventlog_state::open(dir.path());
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->saved());
  EXPECT_EQ(again->saved()->last_id, 50u);
}

TEST(eventlog, files_of_a_lost_state_file_are_kept) {
  sluice::testing::temp_dir dir;
  auto b = event_batch::make(1, 3);
  std::filesystem::path file;
  {
    auto sink = open_sink(dir.path());
    ASSERT_TRUE(sink->write(b.views()));
    file = sink->current_file();
  }
  std::filesystem::remove(dir / ".eventlog-state");
  open_sink(dir.path()); // a new state file, no save in it
  // Still no save: what the file holds is unknown, not unconfirmed.
  auto sink = open_sink(dir.path());
  EXPECT_EQ(read_all(file), lines_for(b, 0, 3));
}

TEST(eventlog, a_second_sink_on_the_directory_is_refused) {
  sluice::testing::temp_dir dir;
  auto sink = open_sink(dir.path());
  eventlog_options o;
  o.dir = dir.path();
  auto second = eventlog_sink::open(o);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), errc::in_use);
}

TEST(eventlog, empty_dir_option_is_invalid_config) {
  auto s = eventlog_sink::open(eventlog_options{});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), errc::invalid_config);
  EXPECT_FALSE(is_retryable(s.error()));
}

} // namespace
} // namespace sluice::sinks
