#include <filesystem>

#include <gtest/gtest.h>

#include "config/pipeline.h"

// Every configuration in examples/ is one people start from: each must validate cleanly.
namespace sluice::config {
namespace {

TEST(examples, every_file_validates) {
  std::filesystem::path dir = std::filesystem::path(SLUICE_SOURCE_DIR) / "examples";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".toml")
      continue;
    ++files;
    auto errors = validate_file(entry.path());
    EXPECT_TRUE(errors.empty()) << format_errors(errors, entry.path().string());
    if (errors.empty()) {
      EXPECT_NO_THROW(load_pipeline_file(entry.path())) << entry.path();
    }
  }
  EXPECT_GT(files, 0);
}

TEST(examples, nfl_is_the_demo_pipeline) {
  auto p = load_pipeline_file(std::filesystem::path(SLUICE_SOURCE_DIR) / "examples/nfl.toml");
  EXPECT_EQ(p.data_dir, "./sluice-data");
  ASSERT_EQ(p.sources.size(), 1u);
  const auto& http = std::get<http_source>(p.sources[0].settings);
  EXPECT_EQ(http.url, "http://127.0.0.1:4712/1.1/statuses/filter.json");
  ASSERT_EQ(http.params.size(), 1u);
  EXPECT_EQ(http.params[0].first, "track");
  EXPECT_EQ(http.params[0].second.size(), 32u);
  ASSERT_EQ(p.subscriptions.size(), 2u);
  EXPECT_EQ(std::get<eventlog_sink>(p.subscriptions[0].sink).dir, "./sluice-data/events/");
  EXPECT_EQ(std::get<sqlite_sink>(p.subscriptions[1].sink).path, "./sluice-data/sluice.db");
}

} // namespace
} // namespace sluice::config
