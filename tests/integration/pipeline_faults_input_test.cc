// The whole pipeline fed bad input, the real `sluice run` as a child process: every good line is
// delivered in order, every bad one is set aside in the source's dead-letter file with its
// reason, and the counts by reason are exact.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "firehose/generator.h"
#include "pipeline_faults_fixture.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

// 2. Bad input: every good line is delivered in order, every bad one is in the source's
// dead-letter file with its reason, and the counts by reason are exact.
TEST(pipeline_faults, bad_lines_go_to_the_dead_letter_file_by_reason) {
  constexpr std::uint64_t k_ranks = 20000;
  const sluice::firehose::stream_options stream{.seed = 5, .garbage_every = 100};
  std::vector<std::uint64_t> good, bad;
  std::map<std::string, std::size_t> expected_by_reason;
  auto reason_at = [&](std::uint64_t rank) -> std::string {
    switch (rank / stream.garbage_every % 3) {
    case 1:
      return "invalid_json"; // a truncated object
    case 2:
      return "not_utf8";
    default:
      return "too_long"; // over max_record_bytes (1 MiB by default)
    }
  };
  for (std::uint64_t r = 1; r <= k_ranks; ++r) {
    if (sluice::firehose::kind_of(stream, r) == sluice::firehose::event_kind::garbage) {
      bad.push_back(r);
      ++expected_by_reason[reason_at(r)];
    } else {
      good.push_back(r);
    }
  }
  ASSERT_EQ(bad.size(), 200u);
  ASSERT_EQ(expected_by_reason["invalid_json"], 67u);
  ASSERT_EQ(expected_by_reason["not_utf8"], 67u);
  ASSERT_EQ(expected_by_reason["too_long"], 66u);

  temp_dir dir;
  auto db_path = dir / "sluice.db";
  auto data = dir / "data";
  auto dead = data / "dead-letter" / "firehose.ndjson";
  firehose_child fh({"--count", "20000", "--seed", "5", "--garbage-every", "100", "--resume"}, dir / "firehose.log");
  ASSERT_NE(fh.port(), 0);
  write_file(dir / "sluice.toml", "data_dir = " + toml_path(data) +
                                      "\n"
                                      "shutdown_timeout = \"20s\"\n\n"
                                      "[sources.firehose]\n"
                                      "type = \"http\"\n"
                                      "format = \"json\"\n"
                                      "url = \"http://127.0.0.1:" +
                                      std::to_string(fh.port()) + "/1.1/statuses/filter.json\"\n\n" +
                                      sqlite_subscription(db_path));
  sluice_daemon sluice(dir / "sluice.toml", dir / "sluice.log");
  sqlite_db reader(db_path);

  auto dead_lines = [&] {
    auto text = file_text(dead);
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  };
  ASSERT_TRUE(sluice.wait_for([&] {
    return reader.count("events") >= static_cast<std::int64_t>(good.size()) &&
           dead_lines() >= bad.size();
  })) << "rows: "
      << reader.count("events") << ", dead letters: " << dead_lines() << "\n"
      << tail_of(sluice.log());

  // The good ones: ids 1..19800 in stream order, each byte for byte.
  sluice::firehose::generator gen(stream);
  auto payloads = sqlite_payloads(reader);
  ASSERT_EQ(payloads.size(), good.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < good.size(); ++i)
    if (payloads[i] != gen.line_at(good[i]) && differ++ == 0)
      ADD_FAILURE() << "row " << i + 1 << " (rank " << good[i]
                    << "): " << payloads[i].substr(0, 200);
  EXPECT_EQ(differ, 0u);

  // The bad ones: one line each, in stream order, with reason, full length and the record (its
  // head when too long; invalid bytes as U+FFFD).
  std::map<std::string, std::size_t> by_reason;
  std::vector<json> rejects;
  {
    auto text = file_text(dead);
    std::size_t at = 0;
    while (at < text.size()) {
      auto nl = text.find('\n', at);
      ASSERT_NE(nl, std::string::npos) << "unterminated dead-letter line";
      try {
        rejects.push_back(json::parse(text.substr(at, nl - at)));
      } catch (const std::exception& e) {
        FAIL() << "dead-letter line is not JSON: " << e.what() << ": "
               << text.substr(at, std::min<std::size_t>(nl - at, 200));
      }
      at = nl + 1;
    }
  }
  ASSERT_EQ(rejects.size(), bad.size());
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const auto& j = rejects[i];
    auto rank = bad[i];
    auto line = gen.line_at(rank);
    auto why = reason_at(rank);
    std::string record = line;
    if (why == "too_long") {
      record = line.substr(0, 1024);
    } else if (why == "not_utf8") {
      record.clear(); // the line is ASCII but for its invalid bytes
      for (char c : line)
        record += static_cast<unsigned char>(c) < 0x80 ? std::string(1, c) : "\xEF\xBF\xBD";
    }
    SCOPED_TRACE("dead-letter line " + std::to_string(i + 1) + ", rank " + std::to_string(rank));
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j.value("source", ""), "firehose");
    EXPECT_EQ(j.value("reason", ""), why);
    EXPECT_EQ(j.value("length", std::uint64_t{0}), line.size());
    EXPECT_TRUE(j.value("record", "") == record) << j.value("record", "").substr(0, 200);
    EXPECT_TRUE(j.value("time", "").ends_with("Z")) << j.dump().substr(0, 200);
    ++by_reason[j.value("reason", "")];
  }
  EXPECT_EQ(by_reason, expected_by_reason);

  EXPECT_EQ(sluice.stop(), 0) << tail_of(sluice.log());
  auto log = sluice.log();
  EXPECT_TRUE(contains(log, "source firehose: record rejected")) << tail_of(log);
  EXPECT_TRUE(contains(log, "source firehose: 19800 events collected, 200 set aside"))
      << tail_of(log);
  expect_clean_stop(fh.proc(), "firehose");
}

} // namespace
} // namespace sluice::testing
