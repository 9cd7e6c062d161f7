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
  const auto& http = p.sources[0].settings;
  EXPECT_EQ(http.string("url"), "http://127.0.0.1:4712/1.1/statuses/filter.json");
  auto params = http.entries("params");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].first, "track");
  EXPECT_EQ(params[0].second.size(), 32u);
  ASSERT_EQ(p.subscriptions.size(), 2u);
  EXPECT_EQ(p.subscriptions[0].sink.string("dir"), "./sluice-data/events/");
  EXPECT_EQ(p.subscriptions[1].sink.string("path"), "./sluice-data/sluice.db");
}

} // namespace
} // namespace sluice::config
