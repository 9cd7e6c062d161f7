#include "queue/disk/files.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "queue/disk/format.h"

namespace sluice::queue::disk {

result<file> open_segment_for_reading(const std::filesystem::path& p) {
  auto f = open_file(p, O_RDONLY);
  if (!f)
    return f;
  int r;
  do {
    r = ::flock(f->get(), LOCK_SH | LOCK_NB);
  } while (r != 0 && errno == EINTR);
  if (r != 0)
    return fail_errno(errno == EWOULDBLOCK ? ENOENT : errno);
  struct stat st {};
  if (::fstat(f->get(), &st) != 0)
    return fail_errno(errno);
  if (st.st_nlink == 0)
    return fail_errno(ENOENT);
  return f;
}

result<std::vector<segment_entry>> list_segments(const std::filesystem::path& dir) {
  std::vector<segment_entry> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec)
    return fail(ec);
  for (const auto& e : it) {
    auto name = e.path().filename().string();
    if (auto first = format::parse_segment_file_name(name))
      out.push_back({*first, e.path()});
  }
  std::sort(out.begin(), out.end(),
            [](const segment_entry& a, const segment_entry& b) { return a.first < b.first; });
  return out;
}

result<file> lock_file(const std::filesystem::path& path, int* holder_pid) {
  auto f = sluice::lock_file(path, holder_pid);
  if (!f && f.error() == std::errc::operation_would_block)
    return fail(errc::locked);
  return f;
}

result<dir_lock> dir_lock::acquire(const std::filesystem::path& dir, int* holder_pid) {
  auto f = lock_file(dir / "lock", holder_pid);
  if (!f)
    return fail(f.error());
  dir_lock l;
  l.fd_ = std::move(*f);
  return l;
}

int dir_lock::holder(const std::filesystem::path& dir) { return lock_holder(dir / "lock"); }

} // namespace sluice::queue::disk
