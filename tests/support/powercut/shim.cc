// The power-loss simulator's recording half: an LD_PRELOAD library for a sluice process under
// test. It wraps the calls that make data durable (fsync, fdatasync, msync with MS_SYNC, syncfs,
// sync) and, for files and directories under SLUICE_POWERCUT_ROOT, copies what each completed
// call covers into SLUICE_POWERCUT_SHADOW: a file's contents at the start of its sync, a
// directory's listing (name -> file identity) at the start of its fsync. What no completed sync
// covered is not in the shadow, and support/powercut.h rebuilds the root from the shadow alone
// after the process was killed: that is the disk after a power cut.
//
// Files are known by inode number and birth time (statx), so a reused inode number is another
// file. The shadow begins with a copy of the whole root when the first process of a run starts
// (what was there before counts as durable). Everything else passes through unchanged.
//
// Environment (read once, at load):
//   SLUICE_POWERCUT_ROOT    the tree to track (absolute); unset: the library does nothing
//   SLUICE_POWERCUT_SHADOW  where the copies go (outside the root, empty at a run's start)
//   SLUICE_POWERCUT_KILL_AT N: SIGKILL this process at the start of the Nth counted call,
//                           before it syncs anything (a power cut at that moment); unset, the
//                           number in SHADOW/kill_at when there is one (set while it runs)
//   SLUICE_POWERCUT_FAIL_AT N: the Nth counted call fails with SLUICE_POWERCUT_ERRNO (default
//                           EIO) and syncs nothing; SLUICE_POWERCUT_FAILS calls in a row (default
//                           1); unset, the number in SHADOW/fail_at when there is one
//   SLUICE_POWERCUT_MATCH   count only calls whose "KIND PATH" contains this text (KIND: fsync,
//                           fdatasync, dirsync, msync, syncfs, sync, rename, ftruncate); default:
//                           every call
//   SLUICE_POWERCUT_WRITES  faults of write, pwrite and pwrite64 under the root: "chop" makes
//                           every other call fail with EINTR and the others write at most half
//                           of what they were given (logged once: "chopped"); "full", while
//                           SHADOW/full exists (a full disk; each spell logged once: "full"),
//                           makes every other call write half of what it was given and the
//                           others fail with ENOSPC. Unset: writes pass through untouched.
// Every tracked call is appended to SHADOW/log as "N KIND PATH" (N: its number among the counted
// calls, 0 when it is not counted), "kill N" or "fail N" before a cut or an injected failure.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include "powercut/identity.h"

namespace {

using sluice::testing::powercut::identity;

struct settings {
  bool on = false;
  std::string root, shadow, match;
  long kill_at = 0, fail_at = 0, fails = 1;
  int fail_errno = EIO;
  enum class writes { untouched, chop, full } write_faults = writes::untouched;
};

long env_number(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

settings read_settings() {
  settings s;
  const char* root = std::getenv("SLUICE_POWERCUT_ROOT");
  const char* shadow = std::getenv("SLUICE_POWERCUT_SHADOW");
  if (!root || !shadow)
    return s;
  char buf[PATH_MAX];
  if (::realpath(root, buf) == nullptr)
    return s;
  s.root = buf;
  s.shadow = shadow;
  if (const char* m = std::getenv("SLUICE_POWERCUT_MATCH"))
    s.match = m;
  s.kill_at = env_number("SLUICE_POWERCUT_KILL_AT", 0);
  s.fail_at = env_number("SLUICE_POWERCUT_FAIL_AT", 0);
  s.fails = env_number("SLUICE_POWERCUT_FAILS", 1);
  s.fail_errno = static_cast<int>(env_number("SLUICE_POWERCUT_ERRNO", EIO));
  if (const char* w = std::getenv("SLUICE_POWERCUT_WRITES"))
    s.write_faults = std::strcmp(w, "chop") == 0   ? settings::writes::chop
                     : std::strcmp(w, "full") == 0 ? settings::writes::full
                                                   : settings::writes::untouched;
  s.on = true;
  return s;
}

settings& config() {
  static settings s = read_settings();
  return s;
}

std::atomic<long> counted{0};
std::atomic<unsigned long> sequence{0};
std::mutex committed_mu;
std::unordered_map<std::string, unsigned long> committed; // shadow name -> sequence of its copy

template <typename F> F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

bool under_root(const std::string& p) {
  const auto& r = config().root;
  return p == r || (p.size() > r.size() && p.compare(0, r.size(), r) == 0 && p[r.size()] == '/');
}

void append_log(const std::string& line) {
  std::string p = config().shadow + "/log";
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
  ::close(fd);
}

bool copy_fd(int from, int to) {
  char buf[1 << 16];
  off_t at = 0;
  for (;;) {
    ssize_t n = ::pread(from, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      return true;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(to, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return false;
      done += w;
    }
    at += n;
  }
}

/// A copy in the making: written to SHADOW/tmp-SEQ, put in place by commit() once the sync it
/// stands for succeeded, unless a copy taken later is there already.
struct pending {
  std::string name; ///< files/ID or dirs/ID; empty: nothing to commit
  std::string tmp;
  unsigned long seq = 0;
};

pending begin_copy(const std::string& name) {
  pending p;
  p.seq = ++sequence;
  p.tmp = config().shadow + "/tmp-" + std::to_string(::getpid()) + "-" + std::to_string(p.seq);
  p.name = name;
  return p;
}

void commit(const pending& p, bool ok) {
  if (p.name.empty())
    return;
  if (!ok) {
    ::unlink(p.tmp.c_str());
    return;
  }
  std::lock_guard lk(committed_mu);
  auto& last = committed[p.name];
  if (last > p.seq) {
    ::unlink(p.tmp.c_str());
    return;
  }
  last = p.seq;
  std::string to = config().shadow + "/" + p.name;
  ::rename(p.tmp.c_str(), to.c_str());
}

/// A pending copy named `name` whose bytes `fill` writes to the descriptor it is given; nothing
/// (an empty name) when that fails.
pending fill_copy(const std::string& name, const std::function<bool(int)>& fill) {
  pending p = begin_copy(name);
  int to = ::open(p.tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = to >= 0 && fill(to);
  if (to >= 0)
    ::close(to);
  if (!ok) {
    ::unlink(p.tmp.c_str());
    p.name.clear();
  }
  return p;
}

/// The contents of the open file `path` (its identity `id`), copied to a pending shadow copy.
pending copy_file(const std::string& path, const std::string& id) {
  return fill_copy("files/" + id, [&](int to) {
    int from = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    bool ok = from >= 0 && copy_fd(from, to);
    if (from >= 0)
      ::close(from);
    return ok;
  });
}

/// `text` as a pending copy named `name`.
pending write_copy(const std::string& name, const std::string& text) {
  return fill_copy(name, [&](int to) {
    return ::write(to, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  });
}

/// The listing of directory `path` as lines "TYPE\tID\tNAME" (regular files, directories and
/// symlinks, whose targets go to files/ID).
pending copy_listing(const std::string& path, const std::string& id) {
  unsigned long seq = ++sequence; // the listing is as of now
  std::string text;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == ".." || n.find_first_of("\t\n") != std::string::npos)
        continue;
      char type = '?';
      std::string eid = identity(::dirfd(d), e->d_name, &type);
      if (eid.empty() || type == '?')
        continue;
      if (type == 'l') { // a symlink's target never changes: kept with the listing
        char target[PATH_MAX];
        ssize_t len = ::readlinkat(::dirfd(d), e->d_name, target, sizeof target);
        if (len <= 0)
          continue;
        commit(write_copy("files/" + eid, std::string(target, static_cast<std::size_t>(len))),
               true);
      }
      text += std::string(1, type) + "\t" + eid + "\t" + n + "\n";
    }
    ::closedir(d);
  } else {
    return {};
  }
  pending p = write_copy("dirs/" + id, text);
  p.seq = seq;
  return p;
}

pending copy_path(const std::string& path) {
  char type = '?';
  std::string id = identity(AT_FDCWD, path.c_str(), &type);
  if (id.empty())
    return {};
  return type == 'd' ? copy_listing(path, id) : type == 'f' ? copy_file(path, id) : pending{};
}

/// Copies of everything under `dir` (syncfs, sync, and the first load of a run), to commit.
void copy_tree(const std::string& dir, std::vector<pending>& out) {
  out.push_back(copy_path(dir));
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    return;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..")
      continue;
    std::string p = dir + "/" + n;
    char type = '?';
    if (identity(AT_FDCWD, p.c_str(), &type).empty())
      continue;
    if (type == 'd')
      copy_tree(p, out);
    else if (type == 'f')
      out.push_back(copy_path(p));
  }
  ::closedir(d);
}

/// Everything under the root, copied before `sync_fn` runs and kept if it succeeded.
int tracked_tree_sync(const std::function<int()>& sync_fn) {
  std::vector<pending> copies;
  copy_tree(config().root, copies);
  int rc = sync_fn();
  int saved = errno;
  for (const auto& p : copies)
    commit(p, rc == 0);
  errno = saved;
  return rc;
}

std::string fd_path(int fd) {
  char link[64], buf[PATH_MAX];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, buf, sizeof buf - 1);
  if (n <= 0)
    return {};
  std::string p(buf, static_cast<std::size_t>(n));
  constexpr std::string_view deleted = " (deleted)";
  if (p.size() > deleted.size() &&
      p.compare(p.size() - deleted.size(), deleted.size(), deleted) == 0)
    p.resize(p.size() - deleted.size());
  return p;
}

/// A call number a test set while the process runs (SHADOW/kill_at or SHADOW/fail_at, see
/// power_cut::arm), 0: none.
long armed(const char* name) {
  std::string p = config().shadow + "/" + name;
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n > 0 ? std::strtol(buf, nullptr, 10) : 0;
}

enum class verdict { go_on, fail };

/// Counts the call, logs it, and cuts the power or fails it when its number says so.
verdict decide(const char* kind, const std::string& path) {
  const auto& s = config();
  std::string what = std::string(kind) + " " + path;
  long n = 0;
  if (s.match.empty() || what.find(s.match) != std::string::npos)
    n = ++counted;
  append_log(std::to_string(n) + " " + what);
  if (n != 0 && n == (s.kill_at != 0 ? s.kill_at : armed("kill_at"))) {
    append_log("kill " + std::to_string(n));
    ::raise(SIGKILL);
  }
  long fail_at = s.fail_at != 0 ? s.fail_at : armed("fail_at");
  if (n != 0 && fail_at != 0 && n >= fail_at && n < fail_at + s.fails) {
    append_log("fail " + std::to_string(n));
    return verdict::fail;
  }
  return verdict::go_on;
}

/// fsync or fdatasync of `fd` through `sync_fn`, recorded when the file is under the root.
int tracked_sync(const char* kind, int fd, int (*sync_fn)(int)) {
  if (!config().on)
    return sync_fn(fd);
  std::string path = fd_path(fd);
  if (path.empty() || !under_root(path))
    return sync_fn(fd);
  struct stat st {};
  bool dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  if (decide(dir ? "dirsync" : kind, path) == verdict::fail) {
    errno = config().fail_errno;
    return -1;
  }
  // The copy is taken first: a sync covers what was written before it began.
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  std::string id = identity(fd, "", nullptr, AT_EMPTY_PATH);
  pending p = id.empty() ? pending{} : dir ? copy_listing(path, id) : copy_file(self, id);
  int rc = sync_fn(fd);
  int saved = errno;
  commit(p, rc == 0);
  errno = saved;
  return rc;
}

/// The file mapped at `addr` (from /proc/self/maps); empty when none.
std::string mapped_file(const void* addr) {
  std::FILE* f = std::fopen("/proc/self/maps", "re");
  if (!f)
    return {};
  auto a = reinterpret_cast<unsigned long>(addr);
  char line[PATH_MAX + 128];
  std::string found;
  while (std::fgets(line, sizeof line, f)) {
    unsigned long lo = 0, hi = 0;
    int at = 0;
    if (std::sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) < 2 || a < lo || a >= hi)
      continue;
    found = line + at;
    while (!found.empty() && (found.back() == '\n' || found.back() == ' '))
      found.pop_back();
    break;
  }
  std::fclose(f);
  return found;
}

/// What a write of `size` bytes to `fd` does under SLUICE_POWERCUT_WRITES: -1 with errno set
/// (fail it), else how many bytes to pass on (`size`, or fewer for a short write).
ssize_t write_fault(int fd, std::size_t size) {
  using writes = settings::writes;
  static std::atomic<unsigned long> calls{0};
  static std::atomic<bool> chopped{false}, was_full{false};
  const auto& s = config();
  if (!s.on || s.write_faults == writes::untouched || size == 0)
    return static_cast<ssize_t>(size);
  std::string path = fd_path(fd);
  if (path.empty() || !under_root(path))
    return static_cast<ssize_t>(size);
  if (s.write_faults == writes::full) {
    struct stat st {};
    bool full = ::stat((s.shadow + "/full").c_str(), &st) == 0;
    if (full && !was_full.exchange(true))
      append_log("full");
    if (!full)
      was_full.store(false);
    if (!full)
      return static_cast<ssize_t>(size);
    // As a filling disk does: part of a write goes in, the rest fails.
    if (calls.fetch_add(1) % 2 == 0 && size > 1)
      return static_cast<ssize_t>(size / 2);
    errno = ENOSPC;
    return -1;
  }
  if (!chopped.exchange(true))
    append_log("chopped");
  if (calls.fetch_add(1) % 2 == 0) {
    errno = EINTR;
    return -1;
  }
  return static_cast<ssize_t>(std::max<std::size_t>(1, size / 2));
}

struct load_time {
  load_time() {
    const auto& s = config();
    if (!s.on)
      return;
    ::mkdir(s.shadow.c_str(), 0755);
    ::mkdir((s.shadow + "/files").c_str(), 0755);
    ::mkdir((s.shadow + "/dirs").c_str(), 0755);
    // The first process of a run takes the baseline; a child it starts must not.
    std::string marker = s.shadow + "/root";
    int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
      return;
    tracked_tree_sync([] { return 0; });
    std::string id = identity(AT_FDCWD, s.root.c_str()) + "\n";
    (void)!::write(fd, id.data(), id.size());
    ::close(fd);
  }
} at_load;

} // namespace

extern "C" {

int fsync(int fd) {
  static auto next = real<int (*)(int)>("fsync");
  return tracked_sync("fsync", fd, next);
}

int fdatasync(int fd) {
  static auto next = real<int (*)(int)>("fdatasync");
  return tracked_sync("fdatasync", fd, next);
}

int msync(void* addr, size_t len, int flags) {
  static auto next = real<int (*)(void*, size_t, int)>("msync");
  if (!config().on || (flags & MS_SYNC) == 0)
    return next(addr, len, flags);
  std::string path = mapped_file(addr);
  if (path.empty() || !under_root(path))
    return next(addr, len, flags);
  if (decide("msync", path) == verdict::fail) {
    errno = config().fail_errno;
    return -1;
  }
  pending p = copy_path(path); // the whole file: what the mapping wrote is in it
  int rc = next(addr, len, flags);
  int saved = errno;
  commit(p, rc == 0);
  errno = saved;
  return rc;
}

int syncfs(int fd) {
  static auto next = real<int (*)(int)>("syncfs");
  if (!config().on)
    return next(fd);
  if (decide("syncfs", config().root) == verdict::fail) {
    errno = config().fail_errno;
    return -1;
  }
  return tracked_tree_sync([fd] { return next(fd); });
}

// A rename under the root is a counted call too (kind "rename", the new name's path): a test
// can cut the power or fail it there. Nothing is copied: the directory's next fsync covers it.
int rename(const char* from, const char* to) {
  static auto next = real<int (*)(const char*, const char*)>("rename");
  if (config().on && to) {
    char dir[PATH_MAX];
    std::string target = to;
    auto slash = target.rfind('/');
    std::string parent = slash == std::string::npos ? "." : target.substr(0, slash);
    if (::realpath(parent.c_str(), dir) != nullptr) {
      std::string path = std::string(dir) + target.substr(slash == std::string::npos ? 0 : slash);
      if (under_root(path) && decide("rename", path) == verdict::fail) {
        errno = config().fail_errno;
        return -1;
      }
    }
  }
  return next(from, to);
}

ssize_t write(int fd, const void* buf, size_t size) {
  static auto next = real<ssize_t (*)(int, const void*, size_t)>("write");
  ssize_t n = write_fault(fd, size);
  return n < 0 ? -1 : next(fd, buf, static_cast<size_t>(n));
}

ssize_t pwrite(int fd, const void* buf, size_t size, off_t offset) {
  static auto next = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  ssize_t n = write_fault(fd, size);
  return n < 0 ? -1 : next(fd, buf, static_cast<size_t>(n), offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t size, off64_t offset) {
  static auto next = real<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  ssize_t n = write_fault(fd, size);
  return n < 0 ? -1 : next(fd, buf, static_cast<size_t>(n), offset);
}

// An ftruncate under the root is a counted call (kind "ftruncate"): a test can fail it, as when
// the queue puts a segment back after a failed write.
int ftruncate(int fd, off_t length) {
  static auto next = real<int (*)(int, off_t)>("ftruncate");
  if (config().on) {
    std::string path = fd_path(fd);
    if (!path.empty() && under_root(path) && decide("ftruncate", path) == verdict::fail) {
      errno = config().fail_errno;
      return -1;
    }
  }
  return next(fd, length);
}

void sync() {
  static auto next = real<void (*)()>("sync");
  if (config().on && decide("sync", config().root) == verdict::go_on) {
    tracked_tree_sync([] {
      next();
      return 0;
    });
    return;
  }
  next();
}

} // extern "C"
