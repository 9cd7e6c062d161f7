#include <fstream>

#include <gtest/gtest.h>

#include "config/load.h"
#include "support/temp_dir.h"

namespace sluice::config {
namespace {

TEST(load, parses_a_string) {
  auto doc = load_string("a = 1\n[t]\nb = \"x\"\n", "inline");
  EXPECT_EQ(doc.name, "inline");
  EXPECT_EQ(doc.root["a"].value<int>(), 1);
  EXPECT_EQ(doc.root["t"]["b"].value<std::string>(), "x");
  const auto* b = doc.root["t"]["b"].node();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->source().begin.line, 3u);
}

TEST(load, syntax_error_names_line_and_column) {
  try {
    load_string("a = 1\nb = \"unterminated\n", "broken.toml");
    FAIL() << "no exception";
  } catch (const config_exception& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    const auto& err = e.errors()[0];
    EXPECT_EQ(err.key_path, "");
    EXPECT_EQ(err.line, 2);
    EXPECT_GT(err.column, 0);
    EXPECT_NE(err.message.find("TOML syntax error"), std::string::npos) << err.message;
    EXPECT_EQ(std::string(e.what()).rfind("broken.toml: line 2, column ", 0), 0u) << e.what();
  }
}

TEST(load, duplicate_key_is_a_syntax_error) {
  try {
    load_string("a = 1\n\na = 2\n", "dup.toml");
    FAIL() << "no exception";
  } catch (const config_exception& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0].line, 3);
  }
}

TEST(load, reads_a_file) {
  sluice::testing::temp_dir dir("config");
  std::ofstream(dir / "c.toml") << "x = \"y\"\n";
  auto doc = load_file(dir / "c.toml");
  EXPECT_EQ(doc.name, (dir / "c.toml").string());
  EXPECT_EQ(doc.root["x"].value<std::string>(), "y");
}

TEST(load, missing_file_is_an_error_naming_it) {
  sluice::testing::temp_dir dir("config");
  try {
    load_file(dir / "nope.toml");
    FAIL() << "no exception";
  } catch (const config_exception& e) {
    EXPECT_EQ(e.name(), (dir / "nope.toml").string());
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_NE(e.errors()[0].message.find("cannot read"), std::string::npos);
  }
}

} // namespace
} // namespace sluice::config
