// `sluice queue tail`: records' payloads become lines on stdout.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <poll.h>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/units.h"
#include "cli/queue_verbs.h"
#include "queue/open.h"
#include "queue/event.h"

namespace sluice::cli {
namespace {

using json = nlohmann::json;

bool write_stdout(std::string_view bytes) {
  return std::fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size();
}

constexpr std::size_t k_out_chunk = 1u << 20;

// Collects output lines and writes them to stdout in large chunks.
class tail_output {
public:
  explicit tail_output(bool as_json) : json_(as_json) { buf_.reserve(2 * k_out_chunk); }

  /// False when stdout failed.
  bool add(const queue::record& r) {
    // Records written by sources carry an event envelope: print the event as received.
    auto e = queue::decode_event(r);
    std::string_view payload = e ? e->payload : r.payload;
    if (json_) {
      fmt::format_to(std::back_inserter(buf_), "{{\"pos\":{},\"time_ns\":{},", r.pos,
                     r.received_ns);
      if (e && !e->source.empty())
        fmt::format_to(std::back_inserter(buf_), "\"source\":{},\"type\":{},",
                       json(std::string(e->source)).dump(), json(std::string(e->type)).dump());
      buf_ += "\"payload\":";
      buf_ += json(std::string(payload)).dump(-1, ' ', false, json::error_handler_t::replace);
      buf_ += "}\n";
    } else {
      buf_.append(payload);
      buf_ += '\n';
    }
    return buf_.size() < k_out_chunk || write_out();
  }

  /// Writes everything collected and flushes stdout. False when stdout failed.
  bool flush() { return write_out() && std::fflush(stdout) == 0; }

private:
  bool write_out() {
    bool ok = write_stdout(buf_);
    buf_.clear();
    return ok;
  }

  bool json_;
  std::string buf_;
};

constexpr std::size_t k_tail_batch_records = 8192;
constexpr std::size_t k_tail_batch_bytes = 4u << 20;
constexpr std::chrono::milliseconds k_wait_slice{200}; // how soon a waiting tail sees a signal

// Waits for records in slices, so that SIGINT/SIGTERM (which may go to any thread) is seen soon:
// while following, without end; otherwise until --wait-ms passed without a record.
class idle_wait {
public:
  explicit idle_wait(const tail_args& args)
      : follow_(args.follow), limit_(std::chrono::milliseconds(args.wait_ms)) {}

  std::chrono::milliseconds next_slice() const {
    if (follow_)
      return k_wait_slice;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        limit_ - (std::chrono::steady_clock::now() - since_));
    return std::clamp(left, std::chrono::milliseconds(0), k_wait_slice);
  }
  bool expired() const { return !follow_ && std::chrono::steady_clock::now() - since_ >= limit_; }
  void record_arrived() { since_ = std::chrono::steady_clock::now(); }

private:
  bool follow_;
  std::chrono::milliseconds limit_;
  std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();
};

// Reads and prints until the queue has no more (or, following, until --count or a signal).
// Commits each printed batch when `sub` is set.
int tail_loop(const tail_args& args, queue::reader& reader, queue::subscription* sub) {
  tail_output out(args.json);
  idle_wait idle(args);
  queue::batch b;
  std::uint64_t printed = 0;
  while (!stop_requested() && (args.count == 0 || printed < args.count)) {
    queue::read_limits limits{k_tail_batch_records, k_tail_batch_bytes};
    if (args.count != 0)
      limits.max_records = std::min(limits.max_records, args.count - printed);
    auto got = reader.read(b, limits, idle.next_slice());
    if (!got && got.error() == queue::errc::timed_out && !idle.expired())
      continue;
    if (!got && (got.error() == queue::errc::timed_out || got.error() == queue::errc::closed))
      break;
    if (!got)
      return fail_with(fmt::format("read {}", args.dir), got.error());
    idle.record_arrived();
    if (b.damaged_records > 0)
      spdlog::warn("{}: skipped {} damaged records ({})", args.dir, b.damaged_records,
                   format_size(b.damaged_bytes));
    for (const auto& r : b.records)
      if (!out.add(r))
        return fail_with("write stdout", std::strerror(errno));
    if (!out.flush())
      return fail_with("write stdout", std::strerror(errno));
    printed += b.size();
    if (sub != nullptr && !b.empty()) {
      if (auto committed = sub->commit(b.last()); !committed)
        return fail_with(fmt::format("commit subscription '{}' at {}", sub->name(), b.last()),
                         committed.error());
    }
  }
  return 0;
}

bool is_missing(std::error_code ec) {
  return ec == queue::errc::not_found || ec == std::errc::no_such_file_or_directory;
}

// Opens with `open`; with --follow, a tail started before its writer waits for the queue to appear
// (until SIGINT/SIGTERM).
template <class Open> auto open_when_there(const tail_args& args, Open open) -> decltype(open()) {
  for (bool logged = false;; logged = true) {
    if (queue_exists(args.dir)) {
      auto opened = open();
      if (opened || !args.follow || !is_missing(opened.error()))
        return opened;
    }
    if (!args.follow || stop_requested())
      return fail(queue::errc::not_found);
    if (!logged)
      spdlog::info("waiting for a queue at {}", args.dir);
    ::poll(nullptr, 0, static_cast<int>(k_wait_slice.count()));
  }
}

} // namespace

int run_tail(const tail_args& args) {
  auto start = queue::start_at::parse(args.from);
  if (!start)
    return fail_with("--from " + args.from, start.error());
  install_stop_handlers();
  auto missing = [&] { return stop_requested() ? 0 : no_queue("tail", args.dir); };
  if (args.subscription.empty()) {
    auto reader = open_when_there(args, [&] { return queue::open_reader_at(args.dir, *start); });
    if (!reader && is_missing(reader.error()))
      return missing();
    if (!reader)
      return fail_with(fmt::format("open {}", args.dir), reader.error());
    return tail_loop(args, **reader, nullptr);
  }
  std::string detail;
  auto sub = open_when_there(
      args, [&] { return queue::subscribe_at(args.dir, args.subscription, *start, &detail); });
  if (!sub && is_missing(sub.error()))
    return missing();
  if (!sub) {
    auto what = fmt::format("subscribe '{}' on {}", args.subscription, args.dir);
    if (sub.error() == queue::errc::subscription_busy && detail.empty())
      detail = fmt::format("subscription '{}' is held by another reader", args.subscription);
    return fail_with(what, sub.error(), detail);
  }
  return tail_loop(args, **sub, sub->get());
}

} // namespace sluice::cli
