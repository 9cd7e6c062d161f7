// The whole pipeline with the real binary, undisturbed: `sluice firehose` streams 200,000 events
// over HTTP into `sluice run`, and every rank arrives in the event log and the SQLite table, in
// order, exactly once.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "firehose/generator.h"
#include "pipeline_e2e_fixture.h"
#include "support/child_process.h"
#include "support/eventually.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

/// Counts the lines of an event log that only grows (no crash in between): each call reads only
/// what was added since the previous one. A partial last line is not counted.
class eventlog_line_counter {
public:
  explicit eventlog_line_counter(fs::path dir) : dir_(std::move(dir)) {}

  std::uint64_t count() {
    for (const auto& f : eventlog_files(dir_)) {
      auto& done = read_[f.name];
      std::ifstream in(dir_ / f.name, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(done));
      char buf[1 << 16];
      while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        auto n = static_cast<std::size_t>(in.gcount());
        lines_ += static_cast<std::uint64_t>(std::count(buf, buf + n, '\n'));
        done += n;
      }
    }
    return lines_;
  }

private:
  fs::path dir_;
  std::map<std::string, std::uint64_t> read_;
  std::uint64_t lines_ = 0;
};

TEST_F(pipeline_e2e_test, firehose_to_eventlog_and_sqlite_every_rank_once_in_order) {
  firehose_child fh(e2e_firehose_options(), paths_.firehose_log());
  ASSERT_NE(fh.port(), 0) << "the firehose did not print its port\n" << fh.proc().log();
  paths_.write_config(fh.port(), false);

  auto started = steady::now();
  auto run = start_run(paths_);
  eventlog_line_counter lines(paths_.events());
  std::uint64_t rows = 0, logged = 0;
  bool moved = eventually(k_pipeline_timeout, [&] {
    if (ended_early(*run))
      return true;
    rows = sqlite_max_id(paths_.db());
    if (rows < k_events)
      return false;
    logged = lines.count();
    return logged >= k_events;
  });
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(moved) << "after " << k_pipeline_timeout.count() << " s: sqlite's last id " << rows
                     << ", event log lines " << logged << "\n"
                     << tail_of(run->log());
  auto took = std::chrono::duration<double>(steady::now() - started).count();
  stop_run(*run);
  ASSERT_FALSE(HasFailure());
  std::cout << "[ figures  ] " << k_events << " events through the pipeline in " << took << " s\n";

  auto run_log = run->log();
  EXPECT_NE(run_log.find("source firehose: 200000 events collected, 0 set aside"),
            std::string::npos)
      << tail_of(run_log);

  sqlite_rows table(paths_.db());
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_EQ(table.count(), std::optional<std::int64_t>(k_events));
  expect_eventlog_layout(paths_.events());
  eventlog_lines events(paths_.events());

  firehose::generator g(stream_options());
  sqlite_row row;
  std::string line;
  int mismatches = 0;
  std::uint64_t rank = 1;
  for (; rank <= k_events && mismatches < 5; ++rank) {
    auto want = g.line_at(rank);
    if (!table.next(row)) {
      ADD_FAILURE() << "the table ends after " << rank - 1 << " rows";
      break;
    }
    if (!events.next(line)) {
      ADD_FAILURE() << "the event log ends after " << rank - 1 << " lines";
      break;
    }
    if (row.id != static_cast<std::int64_t>(rank) || row.payload != want ||
        row.type != expected_type(rank) || row.source != "firehose" || row.received_at <= 0 ||
        line != want) {
      ++mismatches;
      ADD_FAILURE() << "rank " << rank << ": row id " << row.id << ", source " << row.source
                    << ", type " << row.type << " (want " << expected_type(rank)
                    << "), received_at " << row.received_at << "\n  want    " << want
                    << "\n  payload " << row.payload << "\n  line    " << line;
    }
  }
  if (rank > k_events) {
    EXPECT_FALSE(table.next(row)) << "a row past rank " << k_events << ": id " << row.id;
    EXPECT_FALSE(events.next(line)) << "a line past rank " << k_events << ": " << line;
    EXPECT_FALSE(events.unterminated) << "the event log's last line has no newline";
  }
}

} // namespace
} // namespace sluice::testing
