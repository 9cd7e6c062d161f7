#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "config/docs.h"
#include "config/tables.h"

namespace sluice::config {
namespace {

TEST(config_docs, up_to_date) {
  std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/docs/config.md", std::ios::binary);
  std::stringstream file;
  file << in.rdbuf();
  EXPECT_TRUE(file.str() == config_reference())
      << "docs/config.md is out of date with the option tables: regenerate it with "
         "`ninja -C BUILD_DIR config_docs` and commit the result";
}

TEST(config_docs, every_table_and_option_is_documented) {
  auto md = config_reference();
  for (const auto* t :
       {&file_options, &queue_options, &source_common_options, &http_source_options,
        &tcp_source_options, &unix_source_options, &listen_source_options, &stdin_source_options,
        &auth_options, &reconnect_options, &subscription_options, &filter_options, &retry_options,
        &eventlog_sink_options, &sqlite_sink_options}) {
    EXPECT_NE(md.find("## " + std::string(t->title) + "\n"), std::string::npos) << t->title;
    for (const auto& o : t->options)
      EXPECT_NE(md.find("| `" + std::string(o.name) + "` |"), std::string::npos) << o.name;
  }
}

} // namespace
} // namespace sluice::config
