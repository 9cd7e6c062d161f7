#include "base/file.h"

#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace sluice {

file& file::operator=(file&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void file::reset() noexcept {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

result<file> open_file(const std::filesystem::path& p, int flags, int mode) {
  int fd;
  do {
    fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return fail_errno(errno);
  return file(fd);
}

result<void> write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail_errno(errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

result<void> pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail_errno(errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

result<std::size_t> pread_full(int fd, char* data, std::size_t size, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail_errno(errno);
    }
    if (n == 0)
      break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

result<std::uint64_t> file_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return fail_errno(errno);
  return static_cast<std::uint64_t>(st.st_size);
}

result<void> sync_dir(const std::filesystem::path& dir) {
  auto d = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!d)
    return fail(d.error());
  if (::fsync(d->get()) != 0)
    return fail_errno(errno);
  return {};
}

result<void> create_directories_durably(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (auto p = dir; !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path())
      break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0750) != 0 && errno != EEXIST)
      return fail_errno(errno);
    auto parent = it->parent_path();
    if (auto s = sync_dir(parent.empty() ? std::filesystem::path(".") : parent); !s)
      return s;
  }
  return {};
}

result<void> replace_file(const std::filesystem::path& path, const char* data, std::size_t size) {
  auto tmp = path;
  tmp += ".tmp";
  {
    auto f = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (!f)
      return fail(f.error());
    if (auto w = write_all(f->get(), data, size); !w)
      return w;
    if (::fdatasync(f->get()) != 0)
      return fail_errno(errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail_errno(errno);
  return sync_dir(path.parent_path());
}

namespace {

int read_pid(int fd) {
  char buf[32] = {};
  auto n = pread_full(fd, buf, sizeof buf - 1, 0);
  if (!n)
    return 0;
  int pid = 0;
  std::from_chars(buf, buf + *n, pid);
  return pid;
}

} // namespace

result<file> lock_file(const std::filesystem::path& path, int* holder_pid) {
  auto f = open_file(path, O_RDWR | O_CREAT, 0640);
  if (!f)
    return fail(f.error());
  while (::flock(f->get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR)
      continue;
    if (errno == EWOULDBLOCK) {
      if (holder_pid)
        *holder_pid = read_pid(f->get());
      return fail_errno(EWOULDBLOCK);
    }
    return fail_errno(errno);
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(f->get(), 0) != 0)
    return fail_errno(errno);
  if (auto w = pwrite_all(f->get(), pid.data(), pid.size(), 0); !w)
    return fail(w.error());
  return f;
}

int lock_holder(const std::filesystem::path& path) {
  auto f = open_file(path, O_RDONLY);
  if (!f)
    return 0;
  if (::flock(f->get(), LOCK_SH | LOCK_NB) == 0) {
    ::flock(f->get(), LOCK_UN);
    return 0;
  }
  return read_pid(f->get());
}

} // namespace sluice
