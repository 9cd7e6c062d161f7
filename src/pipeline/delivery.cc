#include "pipeline/delivery.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json_string.h"
#include "base/log.h"

namespace sluice::pipeline {

namespace {
/// The most payload bytes one read returns.
constexpr std::size_t k_read_bytes = 16u << 20;
} // namespace

delivery::delivery(delivery_options opts, std::unique_ptr<queue::subscription> sub,
                   std::unique_ptr<sinks::sink> sink)
    : opts_(std::move(opts)), sub_(std::move(sub)), sink_(std::move(sink)) {
  if (opts_.filter)
    filter_ = std::make_unique<event_filter>(*opts_.filter);
  counters_.committed.store(static_cast<std::int64_t>(sub_->committed()));
}

delivery::~delivery() {
  stop(std::chrono::steady_clock::now() + std::chrono::seconds(10));
}

void delivery::start() {
  thread_ = std::thread([this] { run(); });
}

void delivery::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && !thread_.joinable())
      return;
    stopping_ = true;
    deadline_ = deadline;
  }
  stop_cv_.notify_all();
  sub_->interrupt();
  if (thread_.joinable())
    thread_.join();
}

std::string delivery::last_error() const {
  std::lock_guard lk(mu_);
  return last_error_;
}

void delivery::run() {
  queue::batch b;
  std::vector<queue::event_view> events;
  events.reserve(opts_.batch);
  last_commit_ = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::lock_guard lk(mu_);
      if (stopping_)
        break;
    }
    auto r = sub_->read(b, {opts_.batch, k_read_bytes}, read_wait());
    if (!r) {
      if (r.error() == queue::errc::timed_out) {
        commit_if_due();
        continue;
      }
      if (r.error() == queue::errc::closed)
        break;
      SLUICE_WARN_LIMITED("subscription {}: reading the queue failed: {}; retrying", opts_.name,
                          r.error().message());
      commit_pending();
      std::unique_lock lk(mu_);
      stop_cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stopping_; });
      continue;
    }
    if (b.damaged_records > 0)
      counters_.damaged.fetch_add(b.damaged_records);
    if (b.empty())
      continue;
    if (!deliver(b, events))
      break; // stopping: this batch is not committed, it is redelivered
    commit_if_due();
    if (b.size() < opts_.batch && b.bytes < k_read_bytes)
      sink_->idle(); // caught up: nothing more was readable
  }
  commit_pending();
}

bool delivery::deliver(const queue::batch& b, std::vector<queue::event_view>& events) {
  events.clear();
  std::uint64_t filtered = 0;
  for (const auto& rec : b.records) {
    auto e = queue::decode_event(rec);
    if (!e) {
      counters_.damaged.fetch_add(1);
      SLUICE_WARN_LIMITED("subscription {}: record {} has a damaged event envelope; skipped",
                          opts_.name, rec.pos);
      continue;
    }
    if (filter_ && !filter_->pass(*e)) {
      ++filtered;
      continue;
    }
    events.push_back(*e);
  }
  if (!events.empty() && !write_with_retry(events))
    return false;
  counters_.filtered.fetch_add(filtered);
  // On a shared queue a batch taken over from another consumer is older than the last one: the
  // commit covers both.
  pending_ = std::max(pending_, b.last());
  ++pending_batches_;
  return true;
}

bool delivery::stopping_now() const {
  if (const auto* c = cancel_.load(); c && c->load())
    return true;
  std::lock_guard lk(mu_);
  return stopping_;
}

result<queue::position>
delivery::drain_until(queue::position until, std::uint64_t max_records,
                      const std::atomic<bool>* cancel,
                      const std::function<void(std::uint64_t done)>& progress) {
  SLUICE_ASSERT(!thread_.joinable(), "drain_until on a delivery whose thread runs");
  cancel_.store(cancel);
  queue::batch b;
  std::vector<queue::event_view> events;
  events.reserve(opts_.batch);
  std::uint64_t done = 0;
  std::error_code read_error;
  last_commit_ = std::chrono::steady_clock::now();
  while (done < max_records && sub_->next_position() <= until && !stopping_now()) {
    // No more records than could lie at or before `until`, nor than `max_records` allows.
    std::uint64_t room = std::min<std::uint64_t>(
        {opts_.batch, max_records - done, until - sub_->next_position() + 1});
    // The records up to `until` are durable: a read returns them at once. The short wait only
    // bounds a read that finds none (damage or retention took them).
    auto r = sub_->read(b, {static_cast<std::size_t>(room), k_read_bytes},
                        std::chrono::milliseconds(100));
    if (!r) {
      // timed_out: nothing readable up to the watermark, so nothing at or before `until`
      // (the watermark was at least `until` when the drain began). closed: stop() was called.
      if (r.error() != queue::errc::timed_out && r.error() != queue::errc::closed)
        read_error = r.error();
      break;
    }
    if (b.damaged_records > 0)
      counters_.damaged.fetch_add(b.damaged_records);
    // A batch may reach past `until` only across a gap in positions: those records wait.
    while (!b.records.empty() && b.records.back().pos > until)
      b.records.pop_back();
    if (b.empty())
      continue;
    if (!deliver(b, events))
      break; // cancelled during retries: this batch is not committed
    done += b.size();
    commit_if_due();
    if (progress)
      progress(done);
  }
  commit_pending();
  cancel_.store(nullptr);
  if (read_error) {
    SLUICE_WARN_LIMITED("subscription {}: reading the queue failed: {}", opts_.name,
                        read_error.message());
    return fail(read_error);
  }
  if (pending_ != 0)
    return fail(std::make_error_code(std::errc::io_error));
  return sub_->committed();
}

// How long a read may wait for events: 200 ms, or until a pending commit is due.
std::chrono::milliseconds delivery::read_wait() const {
  constexpr std::chrono::milliseconds k_idle_wait{200};
  if (pending_ == 0)
    return k_idle_wait;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(last_commit_ + opts_.commit_interval -
                                                           std::chrono::steady_clock::now());
  return std::clamp(left, std::chrono::milliseconds(0), k_idle_wait);
}

void delivery::commit_if_due() {
  if (pending_ != 0 && std::chrono::steady_clock::now() - last_commit_ >= opts_.commit_interval)
    commit_pending();
}

void delivery::commit_pending() {
  if (pending_ == 0)
    return;
  last_commit_ = std::chrono::steady_clock::now();
  auto c = sub_->commit(pending_);
  if (!c) {
    // The sink has these batches; a failed commit only means redelivery, which the sink
    // absorbs. The next commit tries again.
    SLUICE_WARN_LIMITED("subscription {}: committing the cursor at {} failed: {}", opts_.name,
                        pending_, c.error().message());
    return;
  }
  counters_.committed.store(static_cast<std::int64_t>(pending_));
  counters_.batches.fetch_add(pending_batches_);
  pending_ = 0;
  pending_batches_ = 0;
}

bool delivery::write_with_retry(std::span<const queue::event_view> events) {
  auto delay = opts_.retry.initial;
  for (std::uint64_t attempt = 1;; ++attempt) {
    auto r = sink_->write(events);
    if (r) {
      record_latency(events);
      counters_.delivered.fetch_add(events.size());
      std::lock_guard lk(mu_);
      last_error_.clear();
      return true;
    }
    {
      std::lock_guard lk(mu_);
      last_error_ = r.error().message();
    }
    bool retryable = sinks::is_retryable(r.error());
    bool exhausted = opts_.retry.max_attempts && attempt >= *opts_.retry.max_attempts;
    if (!retryable || exhausted) {
      SLUICE_WARN_LIMITED("subscription {}: {} sink gave up on {} events (ids {}..{}) after {} "
                          "attempt(s): {}; written to the dead-letter file",
                          opts_.name, sink_->type(), events.size(), events.front().id,
                          events.back().id, attempt, r.error().message());
      if (retryable || opts_.retry.max_attempts) {
        auto dl = dead_letter(events, r.error());
        if (dl)
          return true;
        // The cursor passes a batch only once its dead-letter copy is durable: until then the
        // batch is tried again, the sink first.
        counters_.dead_letter_failures.fetch_add(1);
        SLUICE_WARN_LIMITED("subscription {}: cannot write the dead-letter file {}: {}; the "
                            "batch is kept and tried again",
                            opts_.name, opts_.dead_letter_file.string(), dl.error().message());
      }
      // A permanent error without max_attempts: keep retrying slowly rather than lose events.
    }
    counters_.retries.fetch_add(1);
    commit_pending(); // what the sink confirmed before this batch is not held back by it
    SLUICE_WARN_LIMITED("subscription {}: {} sink failed: {}; retrying in {} ms", opts_.name,
                        sink_->type(), r.error().message(),
                        std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    if (!wait_before_retry(delay))
      return false;
    delay = std::min(opts_.retry.max, delay * 2);
  }
}

bool delivery::wait_before_retry(std::chrono::nanoseconds delay) {
  // A drain's cancel flag is an atomic nobody notifies: it is looked at every 100 ms.
  constexpr std::chrono::milliseconds k_cancel_poll{100};
  const auto wake = std::chrono::steady_clock::now() + delay;
  std::unique_lock lk(mu_);
  for (;;) {
    const auto* cancel = cancel_.load();
    if (cancel && cancel->load())
      return false;
    auto now = std::chrono::steady_clock::now();
    if (stopping_ && now >= deadline_)
      return false;
    if (now >= wake)
      return true;
    auto until = wake;
    if (stopping_)
      until = std::min(until, deadline_);
    if (cancel)
      until = std::min(until, now + k_cancel_poll);
    stop_cv_.wait_until(lk, until);
  }
}

// Events of one source read share their receive time: one histogram record per run of them.
void delivery::record_latency(std::span<const queue::event_view> events) noexcept {
  const std::int64_t now = now_unix_ns();
  std::size_t i = 0;
  while (i < events.size()) {
    const std::int64_t received = events[i].received_ns;
    std::size_t j = i + 1;
    while (j < events.size() && events[j].received_ns == received)
      ++j;
    const auto ns = now > received ? static_cast<std::uint64_t>(now - received) : 0;
    counters_.receipt_to_delivered_ns.record(ns, j - i);
    i = j;
  }
}

result<void> delivery::dead_letter(std::span<const queue::event_view> events,
                                   const std::error_code& ec) {
  if (opts_.dead_letter_file.empty()) {
    counters_.dead_lettered.fetch_add(events.size());
    return {};
  }
  std::string text;
  for (const auto& e : events) {
    text += fmt::format("{{\"id\":{},\"source\":", e.id);
    append_json_string(text, e.source);
    text += ",\"type\":";
    append_json_string(text, e.type);
    text += ",\"reason\":";
    append_json_string(text, ec.message());
    text += ",\"event\":";
    append_json_string(text, e.payload);
    text += "}\n";
  }
  // Durable before the cursor passes the batch: the data fdatasynced, and a new file's name (and
  // a new directory's) synced into its parent.
  const auto dir = opts_.dead_letter_file.parent_path();
  if (auto made = create_directories_durably(dir); !made)
    return made;
  bool existed = std::filesystem::exists(opts_.dead_letter_file);
  auto f = open_file(opts_.dead_letter_file, O_WRONLY | O_APPEND | O_CREAT, 0640);
  if (!f)
    return fail(f.error());
  if (auto w = write_all(f->get(), text.data(), text.size()); !w)
    return w;
  if (::fdatasync(f->get()) != 0)
    return fail_errno(errno);
  if (!existed)
    if (auto d = sync_dir(dir); !d)
      return d;
  counters_.dead_lettered.fetch_add(events.size());
  return {};
}

} // namespace sluice::pipeline
