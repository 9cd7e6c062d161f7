// `sluice queue stats|verify|repair`: a queue's state and health as its files show them.

#include <algorithm>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/units.h"
#include "cli/queue_verbs.h"
#include "queue/disk/disk_queue.h"
#include "queue/open.h"

namespace sluice::cli {
namespace {

namespace disk = queue::disk;
using json = nlohmann::ordered_json;

void print_cursors(const std::vector<queue::cursor_info>& cursors) {
  if (cursors.empty()) {
    fmt::print("subscriptions  none\n");
    return;
  }
  std::size_t width = 12;
  for (const auto& c : cursors)
    width = std::max(width, c.name.size());
  fmt::print("subscriptions\n  {:<{}}  {:>20}  {:>12}\n", "NAME", width, "COMMITTED", "LAG");
  for (const auto& c : cursors)
    fmt::print("  {:<{}}  {:>20}  {:>12}\n", c.name, width, c.committed, c.lag);
}

json cursors_json(const std::vector<queue::cursor_info>& cursors) {
  json subscriptions = json::array();
  for (const auto& c : cursors)
    subscriptions.push_back({{"name", c.name}, {"committed", c.committed}, {"lag", c.lag}});
  return subscriptions;
}

void print_stats_human(const std::string& dir, const disk::queue_info& info) {
  fmt::print("queue          {}\n", dir);
  fmt::print("segments       {} ({})\n", info.segments.size(), format_size(info.bytes));
  fmt::print("first          {}\n", info.first);
  fmt::print("last           {}\n", info.last);
  fmt::print("watermark      {}\n", info.watermark);
  if (info.writer_pid != 0)
    fmt::print("writer         pid {}\n", info.writer_pid);
  else
    fmt::print("writer         no writer\n");
  print_cursors(info.cursors);
}

json stats_json(const disk::queue_info& info) {
  json segments = json::array();
  for (const auto& s : info.segments)
    segments.push_back({{"file", s.file}, {"first", s.first}, {"bytes", s.bytes}});
  return {{"segments", std::move(segments)},
          {"bytes", info.bytes},
          {"first", info.first},
          {"last", info.last},
          {"watermark", info.watermark},
          {"writer_pid", info.writer_pid},
          {"subscriptions", cursors_json(info.cursors)}};
}

json verify_json(const disk::verify_report& report) {
  json damages = json::array();
  for (const auto& d : report.damages)
    damages.push_back({{"segment", d.segment},
                       {"offset", d.offset},
                       {"bytes", d.bytes},
                       {"after", d.after},
                       {"before", d.before},
                       {"torn_tail", d.torn_tail},
                       {"reason", d.reason}});
  return {{"segments", report.segments},
          {"records", report.records},
          {"bytes", report.bytes},
          {"clean", report.clean()},
          {"damages", std::move(damages)}};
}

std::string describe_place(const disk::damage& d) {
  if (d.after != 0 && d.before != 0)
    return fmt::format("between positions {} and {}", d.after, d.before);
  if (d.after != 0)
    return fmt::format("after position {}", d.after);
  if (d.before != 0)
    return fmt::format("before position {}", d.before);
  return "with no valid record around it";
}

void print_verify_human(const disk::verify_report& report) {
  fmt::print("checked {} records ({}) in {} segment{}\n", report.records, format_size(report.bytes),
             report.segments, report.segments == 1 ? "" : "s");
  for (const auto& d : report.damages)
    fmt::print("damaged: {} offset {}, {} bytes, {}: {}{}\n", d.segment, d.offset, d.bytes,
               describe_place(d), d.reason,
               d.torn_tail ? " (torn tail: recovery truncates it)" : "");
  if (report.clean())
    fmt::print("clean\n");
  else
    fmt::print("{} damaged range{}\n", report.damages.size(),
               report.damages.size() == 1 ? "" : "s");
}

void print_repair_human(const disk::repair_report& report) {
  print_verify_human(report.before);
  if (report.truncated_bytes > 0)
    fmt::print("truncated {} of torn tail\n", format_size(report.truncated_bytes));
  if (report.quarantined_bytes > 0 || !report.quarantine_files.empty()) {
    fmt::print("quarantined {} in {} under quarantine/:\n", format_size(report.quarantined_bytes),
               report.quarantine_files.size() == 1
                   ? "1 file"
                   : fmt::format("{} files", report.quarantine_files.size()));
    for (const auto& f : report.quarantine_files)
      fmt::print("  {}\n", f);
  }
  fmt::print("{}\n", report.before.clean() ? "nothing to repair" : "repaired");
}

} // namespace

/// A queue that is not a directory (a redis:// location): what the queue interface tells.
int run_shared_stats(const std::string& location, bool as_json) {
  std::string detail;
  auto q = queue::open_at(location, config::queue_config{}, config::k_max_record_bytes, &detail);
  if (!q)
    return fail_with(fmt::format("open {}", location), q.error(), detail);
  auto first = (*q)->first_position();
  if (!first)
    return fail_with(fmt::format("stats {}", location), first.error(), "");
  auto cursors = (*q)->cursors();
  auto watermark = (*q)->durable_watermark();
  if (as_json) {
    json out = {{"location", (*q)->location()},
                {"first", *first},
                {"watermark", watermark},
                {"subscriptions", cursors_json(cursors)}};
    fmt::print("{}\n", out.dump());
  } else {
    fmt::print("queue          {}\n", (*q)->location());
    fmt::print("first          {}\n", *first);
    fmt::print("watermark      {}\n", watermark);
    print_cursors(cursors);
  }
  return 0;
}

int run_stats(const std::string& dir, bool as_json) {
  if (is_shared_location(dir))
    return run_shared_stats(dir, as_json);
  if (!queue_exists(dir))
    return no_queue("stats", dir);
  auto info = disk::inspect(dir);
  if (!info)
    return fail_with(fmt::format("inspect {}", dir), info.error());
  if (as_json)
    fmt::print("{}\n", stats_json(*info).dump());
  else
    print_stats_human(dir, *info);
  return 0;
}

int run_verify(const std::string& dir, bool as_json) {
  if (is_shared_location(dir))
    return fail_with("queue verify", "works on a disk queue's directory; a Redis stream has no "
                                     "segment files (see `sluice queue stats`)");
  if (!queue_exists(dir))
    return no_queue("verify", dir);
  auto report = disk::verify(dir);
  if (!report)
    return fail_with(fmt::format("verify {}", dir), report.error());
  if (as_json)
    fmt::print("{}\n", verify_json(*report).dump());
  else
    print_verify_human(*report);
  return report->clean() ? 0 : 1;
}

int run_repair(const std::string& dir, bool as_json) {
  if (is_shared_location(dir))
    return fail_with("queue repair", "works on a disk queue's directory; a Redis stream has no "
                                     "segment files (see `sluice queue stats`)");
  if (!queue_exists(dir))
    return no_queue("repair", dir);
  std::string detail;
  auto report = disk::repair(dir, &detail);
  if (!report) {
    if (report.error() == queue::errc::locked)
      detail = lock_detail(dir, detail);
    return fail_with(fmt::format("repair {}", dir), report.error(), detail);
  }
  if (as_json) {
    json out = {{"truncated_bytes", report->truncated_bytes},
                {"quarantined_bytes", report->quarantined_bytes},
                {"quarantine_files", report->quarantine_files},
                {"before", verify_json(report->before)}};
    fmt::print("{}\n", out.dump());
  } else {
    print_repair_human(*report);
  }
  return 0;
}

// stats, verify and repair take the same arguments: DIR [--json].

} // namespace sluice::cli
