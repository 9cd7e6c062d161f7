#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sources/fd_source.h"
#include "sources/tests/source_helpers.h"

namespace sluice::sources {
namespace {

using namespace testing;

TEST(fd_source, reads_until_eof_last_line_without_newline_counts) {
  temp_dir d;
  auto q = open_queue(d / "q");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto cfg = source_cfg("in", config::record_format::json);
  cfg.settings = source_settings("stdin", {});
  fd_source src(cfg, *q, d.path(), fds[0]);
  asio::io_context io;
  ASSERT_TRUE(src.start(io).has_value());
  std::string data;
  for (int i = 0; i < 5000; ++i)
    data += "{\"n\":" + std::to_string(i) + "}\n";
  data += "oops\n{\"n\":5000}";
  std::string_view rest = data;
  while (!rest.empty()) {
    ssize_t n = ::write(fds[1], rest.data(), std::min<std::size_t>(rest.size(), 4093));
    ASSERT_GT(n, 0);
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  ::close(fds[1]);
  src.wait();
  ::close(fds[0]);
  EXPECT_EQ(src.state(), source_state::stopped);
  auto events = read_events(*q);
  ASSERT_EQ(events.size(), 5001u);
  for (int i = 0; i <= 5000; ++i)
    ASSERT_EQ(events[static_cast<std::size_t>(i)].payload, "{\"n\":" + std::to_string(i) + "}");
  EXPECT_EQ(src.stats().records.load(), 5001u);
  EXPECT_EQ(src.stats().rejected_by(reason::invalid_json), 1u);
  ASSERT_TRUE(q->close().has_value());
}

TEST(fd_source, stop_returns_while_no_input_comes) {
  temp_dir d;
  auto q = open_queue(d / "q");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  fd_source src(source_cfg("in", config::record_format::lines), *q, d.path(), fds[0]);
  asio::io_context io;
  ASSERT_TRUE(src.start(io).has_value());
  ASSERT_EQ(::write(fds[1], "only\n", 5), 5);
  auto events = wait_for_events(*q, 1);
  ASSERT_EQ(events.size(), 1u);
  src.stop(); // the writer end is still open: no EOF
  EXPECT_EQ(src.state(), source_state::stopped);
  ::close(fds[0]);
  ::close(fds[1]);
}

} // namespace
} // namespace sluice::sources
