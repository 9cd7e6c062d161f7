#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sources/framer.h"

namespace sluice::sources {
namespace {

struct collect final : framer::handler {
  std::vector<std::string> records;
  std::vector<std::pair<std::string, std::uint64_t>> too_long;
  void on_record(std::string_view r) override { records.emplace_back(r); }
  void on_too_long(std::string_view head, std::uint64_t length) override {
    too_long.emplace_back(std::string(head), length);
  }
};

TEST(framer, lines_crlf_and_blank_keepalives) {
  framer f(100);
  collect c;
  f.feed("a\nbb\r\n\n\r\n\ncc\n", c);
  EXPECT_EQ(c.records, (std::vector<std::string>{"a", "bb", "cc"}));
  EXPECT_FALSE(f.has_partial());
}

TEST(framer, split_across_reads_at_every_byte_offset) {
  const std::string stream = "{\"a\":1}\r\nsecond line\n\nthird\r\n";
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    for (std::size_t j = i; j <= stream.size(); ++j) {
      framer f(100);
      collect c;
      f.feed(std::string_view(stream).substr(0, i), c);
      f.feed(std::string_view(stream).substr(i, j - i), c);
      f.feed(std::string_view(stream).substr(j), c);
      ASSERT_EQ(c.records, (std::vector<std::string>{"{\"a\":1}", "second line", "third"}))
          << i << " " << j;
      ASSERT_TRUE(c.too_long.empty());
    }
  }
}

TEST(framer, byte_by_byte) {
  const std::string stream = "one\r\ntwo\n";
  framer f(10);
  collect c;
  for (char ch : stream)
    f.feed(std::string_view(&ch, 1), c);
  EXPECT_EQ(c.records, (std::vector<std::string>{"one", "two"}));
}

TEST(framer, over_long_line_is_rejected_then_good_line_passes) {
  for (std::size_t piece : {1u, 7u, 100u, 5000u}) {
    framer f(10);
    collect c;
    std::string stream = std::string(3000, 'x') + "\nok\n" + std::string(11, 'y') + "\r\nfine\n";
    for (std::size_t at = 0; at < stream.size(); at += piece)
      f.feed(std::string_view(stream).substr(at, piece), c);
    EXPECT_EQ(c.records, (std::vector<std::string>{"ok", "fine"})) << piece;
    ASSERT_EQ(c.too_long.size(), 2u) << piece;
    EXPECT_EQ(c.too_long[0].first, std::string(framer::k_head_bytes, 'x'));
    EXPECT_EQ(c.too_long[0].second, 3000u);
    EXPECT_EQ(c.too_long[1].first.substr(0, 11), std::string(11, 'y'));
  }
}

TEST(framer, exactly_the_limit_passes_with_crlf) {
  framer f(4);
  collect c;
  f.feed("abcd\r", c);
  f.feed("\nabcde\n", c);
  EXPECT_EQ(c.records, (std::vector<std::string>{"abcd"}));
  ASSERT_EQ(c.too_long.size(), 1u);
  EXPECT_EQ(c.too_long[0].second, 5u);
}

TEST(framer, finish_and_drop_partial) {
  framer f(100);
  collect c;
  f.feed("a\nlast", c);
  f.finish(c);
  EXPECT_EQ(c.records, (std::vector<std::string>{"a", "last"}));
  f.feed("half", c);
  EXPECT_TRUE(f.has_partial());
  EXPECT_EQ(f.drop_partial(), 4u);
  f.feed("new\n", c);
  EXPECT_EQ(c.records.back(), "new");
}

} // namespace
} // namespace sluice::sources
