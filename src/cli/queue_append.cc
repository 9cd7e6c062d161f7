// `sluice queue append`: each line of stdin becomes one record.

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <poll.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/units.h"
#include "cli/queue_verbs.h"
#include "queue/open.h"

namespace sluice::cli {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_batch_lines = 1000;
constexpr std::size_t k_batch_bytes = 1u << 20;
constexpr std::size_t k_stdin_buffer = 4u << 20;
/// A line longer than this is an error (the queue's largest record).
constexpr std::size_t k_max_line = 64u << 20;

// What every append call of one run added up to.
struct append_totals {
  std::uint64_t appended = 0;
  std::uint64_t dropped = 0;
  queue::position first = 0; // 0 while nothing was appended
  queue::position last = 0;
};

// Appends stdin's lines in batches. The records of the pending batch point into `buf_`, so the
// buffer is compacted or grown only once they are appended. With --ack, appending goes on while
// earlier calls await their fsync; each call's ack is printed once its records are durable, and
// all are before stdin is waited on, so a producer waiting for its ack is never kept waiting.
class line_appender {
public:
  line_appender(queue::queue& q, const append_args& args)
      : queue_(q), args_(args), buf_(k_stdin_buffer) {}

  /// Reads stdin to its end (or until SIGINT/SIGTERM) and appends every line. Returns the exit
  /// status, having printed any error.
  int run(std::size_t max_line);

  const append_totals& totals() const noexcept { return totals_; }

private:
  void take_lines();
  int flush();
  int make_room(std::size_t max_line);
  int wait_for_input(bool& ready);
  int finish_at_eof();
  int ack_durable(bool block);

  bool batch_full() const {
    return records_.size() >= k_batch_lines || batch_bytes_ >= k_batch_bytes;
  }
  void add_line(std::size_t from, std::size_t to) {
    if (to > from && buf_[to - 1] == '\r')
      --to;
    records_.push_back({read_ns_, std::string_view(buf_.data() + from, to - from)});
    batch_bytes_ += to - from;
  }

  queue::queue& queue_;
  const append_args& args_;
  std::vector<char> buf_;
  std::size_t begin_ = 0; // first byte not yet appended
  std::size_t scan_ = 0;  // start of the first line not yet in the batch
  std::size_t end_ = 0;   // end of the bytes read
  std::int64_t read_ns_ = 0;
  std::vector<queue::record_in> records_;
  std::size_t batch_bytes_ = 0;
  std::deque<queue::position> unacked_; // last position of each append call not yet acked
  append_totals totals_;
};

void line_appender::take_lines() {
  while (!batch_full()) {
    const char* base = buf_.data();
    const void* nl = std::memchr(base + scan_, '\n', end_ - scan_);
    if (nl == nullptr)
      return;
    auto at = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
    add_line(scan_, at);
    scan_ = at + 1;
  }
}

int line_appender::flush() {
  if (records_.empty())
    return 0;
  auto res = queue_.append(records_);
  records_.clear();
  batch_bytes_ = 0;
  begin_ = scan_;
  if (!res)
    return fail_with(fmt::format("append to {}", args_.dir), res.error());
  totals_.appended += res->appended;
  totals_.dropped += res->dropped;
  if (res->appended == 0)
    return 0;
  if (totals_.first == 0)
    totals_.first = res->first;
  totals_.last = res->last;
  if (!args_.ack)
    return 0;
  unacked_.push_back(res->last);
  return ack_durable(false);
}

// Prints `ack P` for each append call whose records are durable, in order; with `block`, waits
// until every call's are.
int line_appender::ack_durable(bool block) {
  bool printed = false;
  while (!unacked_.empty()) {
    auto p = unacked_.front();
    auto durable = queue_.wait_durable(p, block ? 60s : 0ms);
    if (!block && !durable && durable.error() == queue::errc::timed_out)
      break;
    if (!durable)
      return fail_with(fmt::format("wait for position {} to be durable", p), durable.error());
    fmt::print(stdout, "ack {}\n", p);
    printed = true;
    unacked_.pop_front();
  }
  if (printed)
    std::fflush(stdout);
  return 0;
}

// Makes space after end_ for the next read: compacts, or grows for a line longer than the buffer.
int line_appender::make_room(std::size_t max_line) {
  if (end_ < buf_.size())
    return 0;
  if (int rc = flush(); rc != 0)
    return rc;
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    scan_ -= begin_;
    begin_ = 0;
    return 0;
  }
  if (buf_.size() >= max_line)
    return fail_with(
        fmt::format("append to {}", args_.dir),
        fmt::format("a line is longer than the largest record ({})", format_size(max_line)));
  buf_.resize(buf_.size() * 2);
  return 0;
}

// Waits until stdin is readable, in slices so that a stop signal taken by another thread is seen.
int line_appender::wait_for_input(bool& ready) {
  ready = false;
  while (!stop_requested()) {
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    int n = ::poll(&pfd, 1, 200);
    if (n > 0) {
      ready = true;
      return 0;
    }
    if (n < 0 && errno != EINTR)
      return fail_with("poll stdin", std::strerror(errno));
  }
  return 0;
}

int line_appender::run(std::size_t max_line) {
  for (;;) {
    take_lines();
    if (batch_full()) {
      if (int rc = flush(); rc != 0)
        return rc;
      continue;
    }
    // Lines are appended (and acked) as soon as stdin has nothing more for now: a producer
    // waiting for its ack must not wait for a full batch.
    pollfd now{STDIN_FILENO, POLLIN, 0};
    if (::poll(&now, 1, 0) == 0) {
      if (int rc = flush(); rc != 0)
        return rc;
      if (int rc = ack_durable(true); rc != 0)
        return rc;
    }
    if (int rc = make_room(max_line); rc != 0)
      return rc;
    bool ready = false;
    if (int rc = wait_for_input(ready); rc != 0)
      return rc;
    if (!ready)
      break; // stop requested: a partial last line is left out
    ssize_t n = ::read(STDIN_FILENO, buf_.data() + end_, buf_.size() - end_);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail_with("read stdin", std::strerror(errno));
    read_ns_ = now_unix_ns();
    if (n == 0)
      return finish_at_eof();
    end_ += static_cast<std::size_t>(n);
  }
  if (int rc = flush(); rc != 0)
    return rc;
  return ack_durable(true);
}

int line_appender::finish_at_eof() {
  for (;;) {
    take_lines();
    if (!batch_full())
      break;
    if (int rc = flush(); rc != 0)
      return rc;
  }
  if (scan_ < end_) { // the last line had no newline
    add_line(scan_, end_);
    scan_ = end_;
  }
  if (int rc = flush(); rc != 0)
    return rc;
  return ack_durable(true);
}

void print_summary(const append_totals& t, bool as_json) {
  if (as_json) {
    nlohmann::ordered_json out = {
        {"appended", t.appended}, {"first", t.first}, {"last", t.last}, {"dropped", t.dropped}};
    fmt::print(stdout, "{}\n", out.dump());
    return;
  }
  fmt::print(stderr, "appended {} records, positions {}..{}", t.appended, t.first, t.last);
  if (t.dropped > 0)
    fmt::print(stderr, ", {} dropped at the disk cap", t.dropped);
  fmt::print(stderr, "\n");
}

} // namespace

int run_append(const append_args& args) {
  config::queue_config settings;
  auto fsync = config::fsync_setting::parse(args.fsync);
  if (!fsync)
    return fail_with("--fsync " + args.fsync, "expected always, never or a duration");
  settings.fsync = *fsync;
  if (!args.segment_bytes.empty())
    settings.segment_bytes = *parse_size(args.segment_bytes);

  std::string detail;
  auto opened = queue::open_at(args.dir, settings, k_max_line, &detail);
  if (!opened) {
    if (opened.error() == queue::errc::locked)
      detail = lock_detail(args.dir, detail);
    return fail_with(fmt::format("open queue {}", args.dir), opened.error(), detail);
  }
  auto& q = **opened;
  install_stop_handlers();
  line_appender appender(q, args);
  int rc = appender.run(k_max_line);
  if (auto closed = q.close(); !closed && rc == 0)
    rc = fail_with(fmt::format("close queue {}", args.dir), closed.error());

  print_summary(appender.totals(), args.json);
  return rc;
}

} // namespace sluice::cli
