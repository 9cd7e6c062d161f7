#include "queue/disk/watermark_file.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "queue/disk/files.h"
#include "queue/disk/format.h"

namespace sluice::queue::disk {
namespace {

constexpr std::size_t k_seq = 12, k_pos = 16, k_seg = 24, k_off = 32, k_pid = 40;

template <class T> std::atomic_ref<T> field(char* base, std::size_t off) {
  return std::atomic_ref<T>(*reinterpret_cast<T*>(base + off));
}

result<char*> map(int fd, bool writable) {
  void* p = ::mmap(nullptr, format::k_watermark_file_bytes,
                   writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return fail_errno(errno);
  return static_cast<char*>(p);
}

} // namespace

watermark_file::watermark_file(watermark_file&& o) noexcept : base_(o.base_) {
  o.base_ = nullptr;
}

watermark_file& watermark_file::operator=(watermark_file&& o) noexcept {
  if (this != &o) {
    if (base_)
      ::munmap(base_, format::k_watermark_file_bytes);
    base_ = o.base_;
    o.base_ = nullptr;
  }
  return *this;
}

watermark_file::~watermark_file() {
  if (base_)
    ::munmap(base_, format::k_watermark_file_bytes);
}

result<watermark_file> watermark_file::open_for_writer(const std::filesystem::path& dir,
                                                       const watermark& initial) {
  auto f = open_file(dir / "watermark", O_RDWR | O_CREAT, 0640);
  if (!f)
    return fail(f.error());
  auto size = file_size(f->get());
  if (!size)
    return fail(size.error());
  if (*size != format::k_watermark_file_bytes &&
      ::ftruncate(f->get(), format::k_watermark_file_bytes) != 0)
    return fail_errno(errno);
  auto m = map(f->get(), true);
  if (!m)
    return fail(m.error());
  watermark_file w;
  w.base_ = *m;
  std::memcpy(w.base_, format::k_watermark_magic, 8);
  format::put_u32(w.base_ + 8, format::k_version);
  field<std::uint64_t>(w.base_, k_pid).store(static_cast<std::uint64_t>(::getpid()));
  // A previous writer killed in mid-publish left the sequence odd: make it even again.
  auto seq = field<std::uint32_t>(w.base_, k_seq);
  seq.store((seq.load() + 1) & ~1u);
  w.publish(initial);
  return w;
}

result<void> watermark_file::sync() const {
  if (::msync(base_, format::k_watermark_file_bytes, MS_SYNC) != 0)
    return fail_errno(errno);
  return {};
}

result<watermark_file> watermark_file::open_for_reader(const std::filesystem::path& dir) {
  auto f = open_file(dir / "watermark", O_RDONLY);
  if (!f) {
    if (f.error() == std::errc::no_such_file_or_directory)
      return fail(errc::not_found);
    return fail(f.error());
  }
  auto size = file_size(f->get());
  if (!size)
    return fail(size.error());
  if (*size < format::k_watermark_file_bytes)
    return fail(errc::not_found);
  auto m = map(f->get(), false);
  if (!m)
    return fail(m.error());
  watermark_file w;
  w.base_ = *m;
  if (std::memcmp(w.base_, format::k_watermark_magic, 8) != 0)
    return fail(errc::corrupt);
  if (format::get_u32(w.base_ + 8) != format::k_version)
    return fail(errc::bad_format_version);
  return w;
}

std::uint32_t* watermark_file::seq_word() const noexcept {
  return reinterpret_cast<std::uint32_t*>(base_ + k_seq);
}

void watermark_file::publish(const watermark& w) noexcept {
  auto seq = field<std::uint32_t>(base_, k_seq);
  // Odd while updating. The read-modify-write's acquire keeps the field stores after it; the
  // final release store keeps them before it. (No standalone fences: ThreadSanitizer cannot
  // check those.)
  std::uint32_t s = seq.fetch_add(1, std::memory_order_acq_rel);
  field<std::uint64_t>(base_, k_pos).store(w.pos, std::memory_order_relaxed);
  field<std::uint64_t>(base_, k_seg).store(w.segment, std::memory_order_relaxed);
  field<std::uint64_t>(base_, k_off).store(w.offset, std::memory_order_relaxed);
  seq.store(s + 2, std::memory_order_release);
  wake_all();
}

watermark watermark_file::load() const noexcept {
  auto seq = field<std::uint32_t>(base_, k_seq);
  auto read_fields = [&] {
    watermark w;
    // Acquire loads keep the second read of the sequence after them.
    w.pos = field<std::uint64_t>(base_, k_pos).load(std::memory_order_acquire);
    w.segment = field<std::uint64_t>(base_, k_seg).load(std::memory_order_acquire);
    w.offset = field<std::uint64_t>(base_, k_off).load(std::memory_order_acquire);
    return w;
  };
  for (std::uint64_t spins = 0;; ++spins) {
    std::uint32_t s1 = seq.load(std::memory_order_acquire);
    if ((s1 & 1) == 0) {
      auto w = read_fields();
      if (seq.load(std::memory_order_relaxed) == s1)
        return w;
    }
    // A publish takes nanoseconds. An odd sequence that stays odd means the writer died in the
    // middle of one: nobody updates the fields any more, so they are stable; the next writer's
    // recovery rewrites them.
    if (spins > 1000) {
      if (spins > 1000 + 10000)
        return read_fields();
      ::sched_yield();
    }
  }
}

std::uint32_t watermark_file::sequence() const noexcept {
  return field<std::uint32_t>(base_, k_seq).load(std::memory_order_acquire);
}

void watermark_file::wait_change(std::uint32_t seen,
                                 std::chrono::nanoseconds timeout) const noexcept {
  if (timeout.count() <= 0)
    return;
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
  // A shared (not private) futex: the appending process may be another process.
  ::syscall(SYS_futex, seq_word(), FUTEX_WAIT, seen, &ts, nullptr, 0);
}

void watermark_file::wake_all() const noexcept {
  ::syscall(SYS_futex, seq_word(), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

} // namespace sluice::queue::disk
