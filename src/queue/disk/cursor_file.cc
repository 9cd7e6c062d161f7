#include "queue/disk/cursor_file.h"

#include <cstring>
#include <fcntl.h>

#include "base/crc32c.h"
#include "base/log.h"
#include "base/name.h"
#include "queue/disk/files.h"
#include "queue/disk/format.h"

namespace sluice::queue::disk::cursor_file {

namespace {
constexpr std::string_view k_suffix = ".cursor";
}

std::filesystem::path dir_of(const std::filesystem::path& queue_dir) {
  return queue_dir / "cursors";
}

std::filesystem::path path_of(const std::filesystem::path& queue_dir, std::string_view name) {
  return dir_of(queue_dir) / (std::string(name) + std::string(k_suffix));
}

namespace {

result<position> read_path(const std::filesystem::path& p) {
  auto f = open_file(p, O_RDONLY);
  if (!f)
    return fail(f.error());
  char buf[format::k_cursor_file_bytes];
  auto n = pread_full(f->get(), buf, sizeof buf, 0);
  if (!n)
    return fail(n.error());
  if (*n != sizeof buf || std::memcmp(buf, format::k_cursor_magic, 8) != 0)
    return fail(errc::corrupt);
  if (format::get_u32(buf + 8) != format::k_version)
    return fail(errc::bad_format_version);
  if (format::get_u32(buf + 12) != crc32c(buf + 16, 8))
    return fail(errc::corrupt);
  return format::get_u64(buf + 16);
}

} // namespace

result<std::optional<position>> read(const std::filesystem::path& queue_dir,
                                     std::string_view name) {
  auto r = read_path(path_of(queue_dir, name));
  if (!r) {
    if (r.error() == std::errc::no_such_file_or_directory)
      return std::optional<position>{};
    return fail(r.error());
  }
  return std::optional<position>(*r);
}

result<void> write(const std::filesystem::path& queue_dir, std::string_view name, position p) {
  char buf[format::k_cursor_file_bytes];
  std::memcpy(buf, format::k_cursor_magic, 8);
  format::put_u32(buf + 8, format::k_version);
  format::put_u64(buf + 16, p);
  format::put_u32(buf + 12, crc32c(buf + 16, 8));
  return replace_file(path_of(queue_dir, name), buf, sizeof buf);
}

result<file> hold(const std::filesystem::path& queue_dir, std::string_view name,
                  std::string* error_detail) {
  if (!valid_name(name)) {
    if (error_detail)
      *error_detail = "invalid subscription name '" + std::string(name) + "'";
    return fail(errc::invalid_argument);
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_of(queue_dir), ec);
  if (ec)
    return fail(ec);
  int holder = 0;
  auto lock = lock_file(dir_of(queue_dir) / (std::string(name) + ".lock"), &holder);
  if (!lock && lock.error() == errc::locked) {
    if (error_detail)
      *error_detail =
          "subscription '" + std::string(name) + "' is held by pid " + std::to_string(holder);
    return fail(errc::subscription_busy);
  }
  return lock;
}

result<std::vector<cursor_info>> list(const std::filesystem::path& queue_dir) {
  std::vector<cursor_info> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_of(queue_dir), ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory)
      return out;
    return fail(ec);
  }
  for (const auto& e : it) {
    auto file_name = e.path().filename().string();
    if (file_name.size() <= k_suffix.size() ||
        file_name.compare(file_name.size() - k_suffix.size(), k_suffix.size(), k_suffix) != 0)
      continue;
    auto name = file_name.substr(0, file_name.size() - k_suffix.size());
    auto p = read_path(e.path());
    if (!p && p.error() == std::errc::no_such_file_or_directory)
      continue; // forgotten since the directory was listed
    if (!p) {
      // An unreadable cursor holds everything: its subscription's place is unknown, and
      // retention must not delete what it may still have to read.
      SLUICE_WARN_LIMITED("queue {}: cursor file {} is unreadable ({}): retention keeps every "
                          "segment until it is fixed (sluice ctl sub rewind, or remove the file)",
                          queue_dir.string(), e.path().filename().string(), p.error().message());
      out.push_back({name, 0, 0, true});
      continue;
    }
    out.push_back({name, *p, 0});
  }
  std::sort(out.begin(), out.end(),
            [](const cursor_info& a, const cursor_info& b) { return a.name < b.name; });
  return out;
}

} // namespace sluice::queue::disk::cursor_file
