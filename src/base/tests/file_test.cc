#include "base/file.h"

#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <unistd.h>

#include "support/temp_dir.h"

namespace sluice {
namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(file, replace_file_swaps_the_whole_content_and_leaves_no_temporary) {
  testing::temp_dir dir("file");
  auto path = dir / "state";
  std::string first = "first version\n";
  ASSERT_TRUE(replace_file(path, first.data(), first.size()));
  EXPECT_EQ(read_text(path), first);
  std::string second = "v2";
  ASSERT_TRUE(replace_file(path, second.data(), second.size()));
  EXPECT_EQ(read_text(path), second);
  EXPECT_FALSE(std::filesystem::exists(dir / "state.tmp"));
}

TEST(file, replace_file_in_a_missing_directory_fails_with_its_errno) {
  testing::temp_dir dir("file");
  auto r = replace_file(dir / "missing" / "state", "x", 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::no_such_file_or_directory);
}

TEST(file, writes_and_reads_back_at_offsets) {
  testing::temp_dir dir("file");
  auto f = open_file(dir / "data", O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(f) << f.error().message();
  std::string text = "0123456789";
  ASSERT_TRUE(write_all(f->get(), text.data(), text.size()));
  ASSERT_TRUE(pwrite_all(f->get(), "ab", 2, 4));
  EXPECT_EQ(file_size(f->get()).value(), 10u);
  char buf[16] = {};
  auto n = pread_full(f->get(), buf, sizeof buf, 2);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string(buf, *n), "23ab6789");
  EXPECT_TRUE(sync_dir(dir.path()));
}

TEST(file, open_file_of_a_missing_file_fails_and_file_closes_once_moved) {
  testing::temp_dir dir("file");
  auto missing = open_file(dir / "nope", O_RDONLY);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
  auto f = open_file(dir / "x", O_WRONLY | O_CREAT);
  ASSERT_TRUE(f);
  int fd = f->get();
  file moved = std::move(*f);
  EXPECT_FALSE(f->valid());
  EXPECT_EQ(moved.get(), fd);
  moved.reset();
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
}

TEST(file, a_lock_file_is_held_once_and_names_its_holder) {
  testing::temp_dir dir("file");
  auto path = dir / "lock";
  EXPECT_EQ(lock_holder(path), 0);
  auto held = lock_file(path, nullptr);
  ASSERT_TRUE(held) << held.error().message();
  EXPECT_EQ(lock_holder(path), ::getpid());
  int holder = 0;
  auto second = lock_file(path, &holder);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::operation_would_block);
  EXPECT_EQ(holder, ::getpid());
  held->reset();
  EXPECT_EQ(lock_holder(path), 0);
  EXPECT_TRUE(lock_file(path, nullptr));
}

} // namespace
} // namespace sluice
