#include <fstream>

#include <gtest/gtest.h>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace sluice::testing {
namespace {

TEST(validate, the_example_files_are_valid) {
  for (const auto& e : std::filesystem::directory_iterator(SLUICE_SOURCE_DIR "/examples")) {
    if (e.path().extension() != ".toml")
      continue;
    auto r = run_sluice({"validate", "-c", e.path().string()});
    EXPECT_EQ(r.status, 0) << e.path() << "\n" << r.err;
    EXPECT_NE(r.out.find(": ok"), std::string::npos);
  }
}

TEST(validate, each_error_names_its_key_and_line) {
  temp_dir d;
  auto file = d / "broken.toml";
  std::ofstream(file) << "data_dir = \"./x\"\n"            // 1
                         "[queue]\n"                       // 2
                         "fsync = \"sometimes\"\n"         // 3
                         "segmnt_bytes = \"1MiB\"\n"       // 4
                         "[sources.feed]\n"                // 5
                         "type = \"tcp\"\n"                // 6
                         "[subscriptions.archive]\n"       // 7
                         "batch = \"many\"\n"              // 8
                         "sink = { type = \"sqlite\" }\n"; // 9
  auto r = run_sluice({"validate", "-c", file.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("queue.fsync (line 3)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("queue.segmnt_bytes (line 4)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sources.feed (line 5)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("subscriptions.archive.batch (line 8)"), std::string::npos) << r.err;
}

TEST(validate, a_syntax_error_gives_line_and_column) {
  temp_dir d;
  auto file = d / "syntax.toml";
  std::ofstream(file) << "[queue]\nfsync = \n";
  auto r = run_sluice({"validate", "-c", file.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
}

} // namespace
} // namespace sluice::testing
