#include "sinks/eventlog.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "base/log.h"
#include "config/tables.h"
#include "sinks/sink_type.h"
#include "queue/errc.h"

namespace sluice::sinks {
namespace {

constexpr const char* k_lock_file = ".eventlog.lock";
constexpr const char* k_current = "current";

} // namespace

eventlog_sink::eventlog_sink(eventlog_options options) : options_(std::move(options)) {}

result<std::unique_ptr<eventlog_sink>> eventlog_sink::open(eventlog_options options) {
  if (options.dir.empty())
    return fail(errc::invalid_config);
  if (options.clock == nullptr)
    options.clock = &wall_clock::real();
  if (auto made = create_directories_durably(options.dir); !made)
    return fail(made.error());
  std::error_code ec;
  std::unique_ptr<eventlog_sink> s(new eventlog_sink(std::move(options)));
  int holder = 0;
  auto lock = lock_file(s->options_.dir / k_lock_file, &holder);
  if (!lock) {
    if (lock.error() == std::errc::operation_would_block) {
      spdlog::error("eventlog {}: in use by process {}", s->options_.dir.string(), holder);
      return fail(errc::in_use);
    }
    return fail(lock.error());
  }
  s->lock_ = std::move(*lock);
  auto st = eventlog_state::open(s->options_.dir);
  if (!st)
    return fail(st.error());
  s->state_ = std::move(*st);
  if (s->state_->damaged()) {
    spdlog::error("eventlog {}: {} is damaged (neither slot readable): keeping every event file "
                  "as it is; redelivered events may appear twice",
                  s->options_.dir.string(), eventlog_state::k_file_name);
    s->counters_.add(s->counters_.recoveries);
  }
  if (!s->state_->saved() && !s->state_->never_saved()) {
    // A new directory, or one whose state file was lost or damaged: nothing tells which ids the
    // existing files hold, so they stay as they are and a redelivered batch may be written again.
    // (A state file that never had a save is different: its files are all unconfirmed.)
    for (const auto& e : std::filesystem::directory_iterator(s->options_.dir, ec))
      if (auto seq = parse_eventlog_file_seq(e.path().filename().string()))
        s->unknown_max_seq_ = std::max(s->unknown_max_seq_, *seq);
    if (s->unknown_max_seq_ > 0)
      spdlog::warn("eventlog {}: event files without a saved position in {}; starting a new "
                   "file, redelivered events may appear twice",
                   s->options_.dir.string(), eventlog_state::k_file_name);
  }
  if (auto r = s->recover(); !r)
    return fail(r.error());
  return s;
}

std::filesystem::path eventlog_sink::current_file() const {
  if (pos_.file_seq == 0)
    return {};
  return options_.dir / eventlog_file_name(pos_.file_opened_ns, pos_.file_seq);
}

result<void> eventlog_sink::recover() {
  file_.reset();
  pos_ = state_->saved().value_or(eventlog_position{});
  // After a failed write the state file may hold a save that did not report success: put the
  // confirmed position back before cutting the data down to it.
  if (needs_recover_ && state_->saved())
    if (auto r = state_->save(pos_); !r)
      return r;
  if (auto r = remove_unconfirmed_files(); !r)
    return r;
  if (auto r = open_confirmed_file(); !r)
    return r;
  needs_recover_ = false;
  return {};
}

// Files numbered above the confirmed one were created by a batch that was never confirmed; with
// no position saved yet, that is every file but those found without a saved position at open.
result<void> eventlog_sink::remove_unconfirmed_files() {
  std::error_code ec;
  std::uint64_t max_seq = pos_.file_seq;
  const std::uint64_t keep_up_to = std::max(pos_.file_seq, unknown_max_seq_);
  bool removed = false;
  for (const auto& e : std::filesystem::directory_iterator(options_.dir, ec)) {
    auto seq = parse_eventlog_file_seq(e.path().filename().string());
    if (!seq)
      continue;
    max_seq = std::max(max_seq, *seq);
    if (*seq > keep_up_to) {
      SLUICE_WARN_LIMITED("eventlog {}: removing {}, written by a batch that was not confirmed",
                          options_.dir.string(), e.path().filename().string());
      counters_.add(counters_.recoveries);
      if (::unlink(e.path().c_str()) != 0)
        return fail_errno(errno);
      removed = true;
    }
  }
  if (ec)
    return fail(ec);
  next_seq_ = max_seq + 1;
  if (removed)
    return sync_dir(options_.dir);
  return {};
}

result<void> eventlog_sink::open_confirmed_file() {
  if (pos_.file_seq == 0)
    return {};
  auto name = eventlog_file_name(pos_.file_opened_ns, pos_.file_seq);
  auto f = open_file(options_.dir / name, O_WRONLY | O_APPEND);
  if (!f && f.error() == std::errc::no_such_file_or_directory) {
    SLUICE_WARN_LIMITED("eventlog {}: {} is gone; continuing in a new file", options_.dir.string(),
                        name);
    counters_.add(counters_.recoveries);
    pos_.file_seq = 0;
    return {};
  }
  if (!f)
    return fail(f.error());
  auto size = file_size(f->get());
  if (!size)
    return fail(size.error());
  if (*size > pos_.file_bytes) {
    // The tail of a batch that was not confirmed (maybe a torn line): its events come again.
    SLUICE_WARN_LIMITED("eventlog {}: cutting {} unconfirmed bytes off {}", options_.dir.string(),
                        *size - pos_.file_bytes, name);
    counters_.add(counters_.recoveries);
    if (::ftruncate(f->get(), static_cast<off_t>(pos_.file_bytes)) != 0 ||
        ::fdatasync(f->get()) != 0)
      return fail_errno(errno);
  } else if (*size < pos_.file_bytes) {
    SLUICE_WARN_LIMITED("eventlog {}: {} is {} bytes shorter than confirmed; was it edited?",
                        options_.dir.string(), name, pos_.file_bytes - *size);
    counters_.add(counters_.recoveries);
    pos_.file_bytes = *size;
  }
  file_ = std::move(*f);
  return point_current_at(name);
}

result<void> eventlog_sink::point_current_at(const std::string& name) {
  auto current = options_.dir / k_current;
  char target[256];
  auto n = ::readlink(current.c_str(), target, sizeof target);
  if (n >= 0 && std::string_view(target, static_cast<std::size_t>(n)) == name)
    return {};
  auto tmp = options_.dir / "current.tmp";
  ::unlink(tmp.c_str());
  if (::symlink(name.c_str(), tmp.c_str()) != 0)
    return fail_errno(errno);
  if (::rename(tmp.c_str(), current.c_str()) != 0)
    return fail_errno(errno);
  return {};
}

// Creates the next file and points `current` at it; one directory fsync makes both durable.
result<void> eventlog_sink::create_file(eventlog_position& pos, std::int64_t now_ns) {
  auto seq = next_seq_++;
  auto name = eventlog_file_name(now_ns, seq);
  auto f =
      open_file(options_.dir / name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0644);
  if (!f)
    return fail(f.error());
  if (auto r = point_current_at(name); !r)
    return r;
  if (auto r = sync_dir(options_.dir); !r)
    return r;
  if (pos.file_seq != 0)
    counters_.add(counters_.files_rotated);
  file_ = std::move(*f);
  pos.file_seq = seq;
  pos.file_opened_ns = now_ns;
  pos.file_bytes = 0;
  pos.file_events = 0;
  return {};
}

bool eventlog_sink::rotation_due(const eventlog_position& pos, std::size_t next_line_bytes,
                                 std::int64_t now_ns) const noexcept {
  if (pos.file_seq == 0 || !file_.valid())
    return true;
  if (pos.file_events == 0)
    return false;
  if (options_.rotate_events > 0 && pos.file_events >= options_.rotate_events)
    return true;
  if (options_.rotate_bytes > 0 && pos.file_bytes + next_line_bytes > options_.rotate_bytes)
    return true;
  return options_.rotate_interval.count() > 0 &&
         now_ns - pos.file_opened_ns >= options_.rotate_interval.count();
}

// How many lines from `first` on go into the current file: at least one, so a line longer than
// rotate_bytes gets a file of its own.
std::size_t eventlog_sink::lines_that_fit(const eventlog_position& pos,
                                          std::size_t first) const noexcept {
  std::size_t start = first == 0 ? 0 : line_ends_[first - 1];
  std::size_t last = first + 1;
  for (; last < line_ends_.size(); ++last) {
    std::uint64_t events = pos.file_events + (last + 1 - first);
    std::uint64_t bytes = pos.file_bytes + (line_ends_[last] - start);
    if (options_.rotate_events > 0 && events > options_.rotate_events)
      break;
    if (options_.rotate_bytes > 0 && bytes > options_.rotate_bytes)
      break;
  }
  return last - first;
}

void eventlog_sink::format_lines(std::span<const queue::event_view> batch) {
  buf_.clear();
  line_ends_.clear();
  batch_last_id_ = pos_.last_id;
  std::uint64_t duplicates = 0;
  for (const auto& e : batch) {
    if (e.id <= batch_last_id_ && !e.unordered) {
      ++duplicates;
      continue;
    }
    auto line_start = buf_.size();
    if (options_.envelope)
      envelope::append_envelope(buf_, e, times_);
    else
      buf_.append(e.payload);
    // A raw newline would split the event in two lines; outside JSON strings it is whitespace.
    char* p = buf_.data() + line_start;
    char* end = buf_.data() + buf_.size();
    if (std::memchr(p, '\n', static_cast<std::size_t>(end - p)) != nullptr) {
      std::replace(p, end, '\n', ' ');
      counters_.add(counters_.payloads_altered);
      SLUICE_WARN_LIMITED("eventlog {}: event {} has newlines in its payload; written as spaces",
                          options_.dir.string(), e.id);
    }
    buf_.push_back('\n');
    line_ends_.push_back(buf_.size());
    batch_last_id_ = std::max(batch_last_id_, e.id);
  }
  if (duplicates > 0)
    counters_.add(counters_.duplicates_skipped, duplicates);
}

result<void> eventlog_sink::write(std::span<const queue::event_view> batch) {
  if (needs_recover_)
    if (auto r = recover(); !r)
      return fail_write(r.error(), "recovering");
  format_lines(batch);
  if (line_ends_.empty()) {
    counters_.add(counters_.batches);
    return {};
  }
  auto now_ns = options_.clock->now_ns();
  eventlog_position next = pos_;
  for (std::size_t i = 0; i < line_ends_.size();) {
    std::size_t start = i == 0 ? 0 : line_ends_[i - 1];
    if (rotation_due(next, line_ends_[i] - start, now_ns))
      if (auto r = create_file(next, now_ns); !r)
        return fail_write(r.error(), "creating a file");
    auto count = lines_that_fit(next, i);
    auto bytes = line_ends_[i + count - 1] - start;
    if (auto r = write_all(file_.get(), buf_.data() + start, bytes); !r)
      return fail_write(r.error(), "writing");
    if (::fdatasync(file_.get()) != 0)
      return fail_write(std::error_code(errno, std::system_category()), "syncing");
    next.file_bytes += bytes;
    next.file_events += count;
    i += count;
  }
  next.last_id = batch_last_id_;
  if (auto r = state_->save(next); !r)
    return fail_write(r.error(), "saving the state");
  pos_ = next;
  counters_.add(counters_.events_written, line_ends_.size());
  counters_.add(counters_.bytes_written, buf_.size());
  counters_.add(counters_.batches);
  return {};
}

result<void> eventlog_sink::fail_write(std::error_code ec, const char* what) {
  SLUICE_WARN_LIMITED("eventlog {}: {} failed: {}; the batch will be retried",
                      options_.dir.string(), what, ec.message());
  counters_.add(counters_.failures);
  needs_recover_ = true;
  file_.reset();
  if (ec == std::errc::no_space_on_device)
    return fail(errc::disk_full);
  return fail(ec);
}

// The eventlog type: options in config/tables_sinks.cc (eventlog_sink_options).
namespace {

result<std::unique_ptr<sink>> open_eventlog(const config::option_values& v, const sink_context&) {
  eventlog_options o;
  o.dir = v.string("dir");
  o.envelope = v.boolean("envelope");
  o.rotate_bytes = v.size("rotate_bytes");
  if (v.has("rotate_interval"))
    o.rotate_interval = v.duration("rotate_interval");
  if (v.has("rotate_events"))
    o.rotate_events = static_cast<std::uint64_t>(v.integer("rotate_events"));
  auto r = eventlog_sink::open(std::move(o));
  if (!r)
    return fail(r.error());
  return std::unique_ptr<sink>(std::move(*r));
}

} // namespace

extern const sink_type eventlog_type{
    .name = "eventlog",
    .options = &config::eventlog_sink_options,
    .open = open_eventlog,
    .target = [](const config::option_values& v) { return v.string("dir"); },
};

} // namespace sluice::sinks
