#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "queue/disk/disk_queue.h"
#include "queue/disk/files.h"
#include "queue/disk/format.h"
#include "queue/disk/segment_scan.h"
#include "queue/disk/watermark_file.h"

namespace sluice::queue::disk {

namespace {

// Copies [offset, offset + bytes) of `fd` to `to`.
result<void> copy_range(int fd, std::uint64_t offset, std::uint64_t bytes,
                        const std::filesystem::path& to) {
  auto out = open_file(to, O_WRONLY | O_CREAT | O_TRUNC, 0640);
  if (!out)
    return fail(out.error());
  std::vector<char> buf(1u << 20);
  while (bytes > 0) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), bytes));
    auto n = pread_full(fd, buf.data(), want, offset);
    if (!n)
      return fail(n.error());
    if (*n == 0)
      break;
    if (auto w = write_all(out->get(), buf.data(), *n); !w)
      return w;
    offset += *n;
    bytes -= *n;
  }
  if (::fdatasync(out->get()) != 0)
    return fail_errno(errno);
  return {};
}

} // namespace

result<repair_report> repair(const std::filesystem::path& dir, std::string* error_detail) {
  repair_report rep;
  auto before = verify(dir);
  if (!before)
    return fail(before.error());
  int holder = 0;
  auto lock = dir_lock::acquire(dir, &holder);
  if (!lock) {
    if (error_detail && lock.error() == errc::locked)
      *error_detail = "queue " + dir.string() + " is locked by pid " + std::to_string(holder) +
                      "; stop it before repairing";
    return fail(lock.error());
  }
  // Verify again under the lock: the first pass may have stopped at a live writer's watermark.
  before = verify(dir);
  if (!before)
    return fail(before.error());
  rep.before = *before;
  if (before->clean())
    return rep;

  auto qdir = dir / "quarantine";
  std::error_code ec;
  std::filesystem::create_directories(qdir, ec);
  if (ec)
    return fail(ec);

  watermark published;
  if (auto wm = watermark_file::open_for_reader(dir))
    published = wm->load();
  bool watermark_moved = false;

  // Group the damage by segment and rewrite each damaged segment with its valid records only.
  std::vector<std::string> names;
  for (const auto& d : before->damages)
    if (names.empty() || names.back() != d.segment)
      names.push_back(d.segment);
  for (const auto& name : names) {
    auto path = dir / name;
    auto first = format::parse_segment_file_name(name);
    if (!first)
      continue;
    auto in = open_file(path, O_RDONLY);
    if (!in)
      return fail(in.error());
    auto size = file_size(in->get());
    if (!size)
      return fail(size.error());
    for (const auto& d : before->damages) {
      if (d.segment != name)
        continue;
      auto qfile = qdir / fmt::format("{}.{}.damaged", name, d.offset);
      if (auto c = copy_range(in->get(), d.offset, d.bytes, qfile); !c)
        return fail(c.error());
      rep.quarantine_files.push_back(qfile.filename().string());
      rep.quarantined_bytes += d.bytes;
      if (d.torn_tail)
        rep.truncated_bytes += d.bytes;
    }
    // Rewrite: header + every valid record, to name.tmp, then rename over.
    auto tmp = path;
    tmp += ".repair";
    auto out = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (!out)
      return fail(out.error());
    char header[format::k_segment_header_bytes];
    format::encode_segment_header(header, *first);
    if (auto w = write_all(out->get(), header, sizeof header); !w)
      return fail(w.error());
    std::vector<char> rec;
    std::error_code write_error;
    auto scan = scan_segment(in->get(), format::k_segment_header_bytes, *size, *first - 1,
                             [&](const record& r, std::uint64_t) {
                               if (write_error)
                                 return;
                               rec.resize(format::k_record_header_bytes + r.payload.size());
                               format::encode_record(rec.data(), r.pos, r.received_ns, r.payload);
                               if (auto w = write_all(out->get(), rec.data(), rec.size()); !w)
                                 write_error = w.error();
                             });
    if (!scan)
      return fail(scan.error());
    if (write_error)
      return fail(write_error);
    if (::fdatasync(out->get()) != 0)
      return fail_errno(errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      return fail_errno(errno);
    if (*first == published.segment) {
      // The watermark points into this segment: its offset must follow the shorter file, or
      // readers would take the missing bytes for damage. Its position stays (never reused).
      auto size_now = file_size(out->get());
      if (!size_now)
        return fail(size_now.error());
      published.offset = *size_now;
      published.pos = std::max(published.pos, scan->last);
      watermark_moved = true;
    }
  }
  if (watermark_moved) {
    auto wm = watermark_file::open_for_writer(dir, published);
    if (!wm)
      return fail(wm.error());
  }
  if (auto d = sync_dir(dir); !d)
    return fail(d.error());
  if (auto d = sync_dir(qdir); !d)
    return fail(d.error());
  return rep;
}

} // namespace sluice::queue::disk
