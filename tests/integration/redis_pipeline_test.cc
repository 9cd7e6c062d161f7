// sluice scaled out on one Redis, as users run it: two collectors (`sluice run` with only a
// source, each fed by its own firehose with its own seed) and two deliverers (`sluice run` with
// only a subscription, into one SQLite table), all sharing the stream of a private redis-server.
// One deliverer is killed with SIGKILL mid-run: the other takes over what it left pending, and
// the table ends with every event of both firehoses exactly once, byte for byte.

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "firehose/generator.h"
#include "pipeline_e2e_fixture.h"
#include "support/eventually.h"
#include "support/redis_server.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t k_per_collector = 30000;

/// The configuration of one instance: the Redis queue as `consumer`, and either an http source
/// called `source` reading the firehose on `port`, or the subscription "sqlite" into `db`.
void write_instance(const fs::path& root, const redis_server& redis, const std::string& consumer,
                    const std::string& source, std::uint16_t port, const fs::path& db) {
  fs::create_directories(root);
  std::ofstream f(root / "sluice.toml");
  f << "data_dir = " << toml_string((root / "data").string()) << "\n"
    << "shutdown_timeout = \"10s\"\n\n"
    << "[api]\nlisten = []\n\n"
    << "[queue]\nbackend = \"redis\"\nurl = \"" << redis.url() << "\"\n"
    << "consumer = \"" << consumer << "\"\nclaim_idle = \"1s\"\n\n";
  if (!source.empty())
    f << "[sources." << source << "]\ntype = \"http\"\n"
      << "url = \"http://127.0.0.1:" << port << "/1.1/statuses/filter.json\"\n"
      << "default_type = \"tweet\"\n"
      << "reconnect = { network_initial = \"10ms\", network_step = \"10ms\", network_max = "
         "\"200ms\" }\n";
  else
    f << "[subscriptions.sqlite]\nstart = \"beginning\"\n"
      << "sink = { type = \"sqlite\", path = " << toml_string(db.string()) << " }\n";
}

std::unique_ptr<child_process> start_instance(const fs::path& root) {
  return std::make_unique<child_process>(
      std::vector<std::string>{"run", "-c", (root / "sluice.toml").string(), "--no-status"},
      child_stdio{.pipe_stdin = false, .pipe_stdout = false, .log = root / "run.log"});
}

std::int64_t rows_in(const fs::path& db) {
  return sqlite_try_count(db, "\"sqlite\"").value_or(0);
}

TEST(redis_pipeline, two_collectors_two_deliverers_one_killed_every_event_exactly_once) {
  redis_server redis;
  temp_dir dir("redis-pipeline");
  const fs::path db = dir.path() / "shared.db";
  std::map<std::string, std::uint64_t> seeds{{"a", 7}, {"b", 8}};
  std::vector<std::unique_ptr<firehose_child>> firehoses;
  std::vector<std::unique_ptr<child_process>> collectors;
  for (const auto& [name, seed] : seeds) {
    firehoses.push_back(std::make_unique<firehose_child>(
        std::vector<std::string>{"--count", std::to_string(k_per_collector), "--seed",
                                 std::to_string(seed), "--resume"},
        dir.path() / ("firehose-" + name + ".log")));
    ASSERT_NE(firehoses.back()->port(), 0) << firehoses.back()->log();
    auto root = dir.path() / ("collector-" + name);
    write_instance(root, redis, "collector-" + name, name, firehoses.back()->port(), db);
    collectors.push_back(start_instance(root));
  }
  std::vector<std::unique_ptr<child_process>> deliverers;
  for (const std::string name : {"d1", "d2"}) {
    write_instance(dir.path() / name, redis, name, "", 0, db);
    deliverers.push_back(start_instance(dir.path() / name));
  }

  // Mid-run, the first deliverer dies without a word.
  ASSERT_TRUE(eventually(
      120s, [&] { return rows_in(db) >= 10000; }, 5ms))
      << tail_of(deliverers[0]->log()) << tail_of(deliverers[1]->log());
  deliverers[0]->kill(SIGKILL);
  deliverers[0]->wait(10s);

  ASSERT_TRUE(eventually(
      180s, [&] { return rows_in(db) >= static_cast<std::int64_t>(2 * k_per_collector); }))
      << rows_in(db) << " rows\n"
      << tail_of(deliverers[1]->log()) << tail_of(collectors[0]->log());
  for (auto& c : collectors)
    stop_run(*c);
  stop_run(*deliverers[1]);

  // Each collector's events, in the stream's order, are its firehose's, once each.
  EXPECT_EQ(rows_in(db), static_cast<std::int64_t>(2 * k_per_collector));
  std::map<std::string, std::uint64_t> next_rank{{"a", 1}, {"b", 1}};
  std::map<std::string, firehose::generator> gens;
  for (const auto& [name, seed] : seeds)
    gens.emplace(name, firehose::generator(firehose::stream_options{.seed = seed}));
  sqlite_rows table(db);
  ASSERT_TRUE(table.ok()) << table.error();
  sqlite_row row;
  int mismatches = 0;
  while (table.next(row) && mismatches < 5) {
    auto it = next_rank.find(row.source);
    if (it == next_rank.end()) {
      ++mismatches;
      ADD_FAILURE() << "row " << row.id << " from an unknown source " << row.source;
      continue;
    }
    auto want = gens.at(row.source).line_at(it->second);
    if (row.payload != want) {
      ++mismatches;
      ADD_FAILURE() << "source " << row.source << " rank " << it->second << ": row " << row.id
                    << "\n  want    " << want << "\n  payload " << row.payload;
    }
    ++it->second;
  }
  EXPECT_EQ(next_rank["a"], k_per_collector + 1);
  EXPECT_EQ(next_rank["b"], k_per_collector + 1);
}

} // namespace
} // namespace sluice::testing
