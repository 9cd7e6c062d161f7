#pragma once

// The power-loss simulator. A sluice child started with power_cut::env() runs with the shim
// (support/powercut/shim.cc) preloaded, which keeps, for every file and directory under the
// root, what its last completed fdatasync / fsync / msync / syncfs covered. After the child was
// killed (at a chosen sync, or by the test), cut() puts back only that: a file cut back to its
// synced contents, a create, rename or unlink not followed by a directory fsync undone,
// optionally the first unsynced change of each file torn. Then sluice restarts on what remains,
// as after a power cut. A kill -9 alone keeps the page cache; this is the case it does not.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "powercut/identity.h"

namespace sluice::testing {

/// When the shim cuts the power or fails a call (see shim.cc for the environment it reads).
struct power_plan {
  long kill_at = 0;     ///< SIGKILL at the start of the Nth counted sync call (0: never)
  long fail_at = 0;     ///< the Nth counted call fails, syncing nothing (0: none)
  long fails = 1;       ///< that many counted calls in a row fail
  int fail_errno = EIO; ///< with this errno
  std::string match;    ///< count only calls whose "KIND PATH" contains this (empty: every call)
  /// Faults of the writes under the root: "chop" (EINTR and short writes, alternately) or
  /// "full" (ENOSPC while set_full(true)); empty: none.
  std::string writes;
};

class power_cut {
public:
  /// Tracks `root` (which must exist) with its shadow in `shadow` (outside `root`).
  power_cut(std::filesystem::path root, std::filesystem::path shadow)
      : root_(std::filesystem::canonical(root)), shadow_(std::move(shadow)) {
    reset();
  }

  const std::filesystem::path& root() const { return root_; }

  /// The environment entries for a child under the simulator (child_stdio::env).
  std::vector<std::string> env(const power_plan& p = {}) const {
    std::vector<std::string> e{"LD_PRELOAD=" SLUICE_POWERCUT_LIB,
                               "SLUICE_POWERCUT_ROOT=" + root_.string(),
                               "SLUICE_POWERCUT_SHADOW=" + shadow_.string()};
    if (p.kill_at)
      e.push_back("SLUICE_POWERCUT_KILL_AT=" + std::to_string(p.kill_at));
    if (p.fail_at) {
      e.push_back("SLUICE_POWERCUT_FAIL_AT=" + std::to_string(p.fail_at));
      e.push_back("SLUICE_POWERCUT_FAILS=" + std::to_string(p.fails));
      e.push_back("SLUICE_POWERCUT_ERRNO=" + std::to_string(p.fail_errno));
    }
    if (!p.match.empty())
      e.push_back("SLUICE_POWERCUT_MATCH=" + p.match);
    if (!p.writes.empty())
      e.push_back("SLUICE_POWERCUT_WRITES=" + p.writes);
    // Under the sanitizers the shim comes before their runtime in the preload list.
    const char* asan = std::getenv("ASAN_OPTIONS");
    e.push_back(std::string("ASAN_OPTIONS=") + (asan ? asan : "") + ":verify_asan_link_order=0");
    return e;
  }

  /// Sets the cut point of the running child (started without power_plan::kill_at): the shim
  /// cuts at the start of its `n`th counted call. With counted(), a test cuts at a call counted
  /// from a moment of its choosing (after the start, say).
  void arm_cut(long n) const { arm("kill_at", n); }

  /// Likewise the first failing call (power_plan::fails calls in a row, power_plan::fail_errno).
  void arm_failure(long n) const { arm("fail_at", n); }

  /// A child started with power_plan::writes = "full": while `full`, its writes under the root
  /// fail with ENOSPC, as on a full disk; then they succeed again.
  void set_full(bool full) const {
    if (full)
      write_text(shadow_ / "full", "");
    else
      std::filesystem::remove(shadow_ / "full");
  }

  /// Whether the shim logged `line` (as "chopped" or "full") in this run.
  bool logged(const std::string& line) const {
    auto l = log();
    return std::find(l.begin(), l.end(), line) != l.end();
  }

  /// Empties the shadow: the next child started with env() takes what is under the root now as
  /// durable. cut() ends with it.
  void reset() const {
    std::filesystem::remove_all(shadow_);
    std::filesystem::create_directories(shadow_);
  }

  /// The shim's log of this run: one "N KIND PATH" line per tracked call (N > 0 when counted),
  /// "kill N" and "fail N" lines where it cut or failed.
  std::vector<std::string> log() const {
    std::ifstream in(shadow_ / "log");
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);)
      lines.push_back(l);
    return lines;
  }

  /// How many calls this run counted (the cut points a plan can choose from).
  long counted() const {
    long n = 0;
    for (const auto& l : log())
      if (!l.empty() && l[0] >= '0' && l[0] <= '9')
        n = std::max(n, std::stol(l));
    return n;
  }

  /// Whether the shim cut the power in this run.
  bool killed() const {
    for (const auto& l : log())
      if (l.rfind("kill ", 0) == 0)
        return true;
    return false;
  }

  /// The power cut, once the child has ended: everything under the root is replaced by what the
  /// completed syncs covered. With `torn_bytes`, the first unsynced change of each file that is
  /// still there partly survives: up to that many bytes (whole 512-byte sectors) from its first
  /// differing sector, as a torn write leaves it. Then reset().
  void cut(std::size_t torn_bytes = 0) const {
    std::string root_id = read_text(shadow_ / "root");
    while (!root_id.empty() && root_id.back() == '\n')
      root_id.pop_back();
    if (root_id.empty())
      throw std::runtime_error("power_cut: no run was recorded under " + root_.string());
    auto staging = shadow_ / "restored";
    std::filesystem::create_directories(staging);
    rebuild(root_id, staging, root_, torn_bytes);
    for (const auto& e : std::filesystem::directory_iterator(root_))
      std::filesystem::remove_all(e.path());
    for (const auto& e : std::filesystem::directory_iterator(staging))
      std::filesystem::rename(e.path(), root_ / e.path().filename());
    reset();
  }

private:
  /// The whole file; "" when it does not exist.
  static std::string read_text(const std::filesystem::path& p) {
    std::string out;
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return out;
    char buf[1 << 16];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
      out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
  }

  static void write_text(const std::filesystem::path& p, const std::string& s) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
    if (!out)
      throw std::runtime_error("power_cut: cannot write " + p.string());
  }

  void arm(const char* name, long n) const {
    write_text(shadow_ / (std::string(name) + ".tmp"), std::to_string(n));
    std::filesystem::rename(shadow_ / (std::string(name) + ".tmp"), shadow_ / name);
  }

  /// Directory `id` as its last synced listing says, built at `into`; `now` is where it is in
  /// the killed run's tree (for torn writes).
  void rebuild(const std::string& id, const std::filesystem::path& into,
               const std::filesystem::path& now, std::size_t torn_bytes) const {
    std::istringstream listing(read_text(shadow_ / "dirs" / id));
    for (std::string line; std::getline(listing, line);) {
      auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
      if (t1 != 1 || t2 == std::string::npos)
        continue;
      std::string eid = line.substr(2, t2 - 2), name = line.substr(t2 + 1);
      if (line[0] == 'l') {
        std::filesystem::create_symlink(read_text(shadow_ / "files" / eid), into / name);
        continue;
      }
      if (line[0] == 'd') {
        std::filesystem::create_directory(into / name);
        rebuild(eid, into / name, now / name, torn_bytes);
        continue;
      }
      std::string synced = read_text(shadow_ / "files" / eid); // never synced: empty
      if (torn_bytes > 0 && powercut::identity(AT_FDCWD, (now / name).c_str()) == eid)
        synced = torn(synced, read_text(now / name), torn_bytes);
      write_text(into / name, synced);
    }
  }

  static std::string torn(std::string synced, const std::string& current, std::size_t bytes) {
    constexpr std::size_t sector = 512;
    std::size_t first = 0;
    while (first < synced.size() && first < current.size() && synced[first] == current[first])
      ++first;
    if (first == synced.size() && first == current.size())
      return synced;
    first -= first % sector;
    std::size_t end = std::min(current.size(), first + (bytes + sector - 1) / sector * sector);
    if (end <= first) // the file only shrank: the truncation did not reach the disk
      return synced;
    if (synced.size() < end)
      synced.resize(end);
    synced.replace(first, end - first, current, first, end - first);
    return synced;
  }

  std::filesystem::path root_;
  std::filesystem::path shadow_;
};

} // namespace sluice::testing
