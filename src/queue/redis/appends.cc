#include "queue/redis/appends.h"

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "queue/errc.h"
#include "queue/redis/entries.h"
#include "queue/redis/groups.h"
#include "queue/redis/readers.h"
#include "queue/redis/stream_id.h"

namespace sluice::queue::redis {
namespace {

/// How often an idle writer refreshes what it knows of the stream.
constexpr std::chrono::milliseconds k_refresh{200};
/// How often it trims what every group is done with.
constexpr std::chrono::seconds k_trim_every{1};
/// The most records one pipeline carries (whole appends: one larger append goes alone).
constexpr std::size_t k_pipeline_records = 4096;

} // namespace

append_writer::append_writer(const options& opts, queue_stats& stats, std::atomic<position>& seen)
    : opts_(opts), stats_(stats), seen_(seen),
      // A WAIT for replicas may take replica_timeout: the connection must not give up first.
      link_(opts.at,
            opts.replicas > 0 ? std::max(opts.timeout, opts.replica_timeout + opts.timeout)
                              : opts.timeout,
            "queue " + opts.stream + " writer", &stats.reconnects.value) {}

append_writer::~append_writer() {
  stop();
}

void append_writer::start() {
  thread_ = std::thread([this] { run(); });
}

void append_writer::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void append_writer::refuse_blocked() {
  std::lock_guard lk(mu_);
  refuse_blocked_ = true;
}

result<append_result> append_writer::append(std::span<const record_in> records) {
  if (records.empty())
    return append_result{};
  for (const auto& r : records)
    if (r.payload.size() > opts_.max_record_bytes)
      return fail(errc::record_too_large);
  request req{records};
  std::unique_lock lk(mu_);
  if (stopping_)
    return fail(errc::closed);
  waiting_.push_back(&req);
  work_cv_.notify_one();
  done_cv_.wait(lk, [&] { return req.done; });
  return std::move(req.res);
}

void append_writer::run() {
  std::vector<request*> batch;
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait_for(lk, k_refresh, [&] { return !waiting_.empty() || stopping_; });
    if (waiting_.empty()) {
      if (stopping_)
        break;
      lk.unlock();
      if (auto c = link_.get())
        refresh(**c);
      lk.lock();
      continue;
    }
    batch.clear();
    std::size_t n = 0;
    while (!waiting_.empty() &&
           (batch.empty() || n + waiting_.front()->records.size() <= k_pipeline_records)) {
      n += waiting_.front()->records.size();
      batch.push_back(waiting_.front());
      waiting_.pop_front();
    }
    lk.unlock();
    write(batch);
    lk.lock();
    for (auto* r : batch)
      r->done = true;
    done_cv_.notify_all();
  }
  // Stopping: what still waits is refused.
  for (auto* r : waiting_) {
    r->res = fail(errc::closed);
    r->done = true;
  }
  waiting_.clear();
  done_cv_.notify_all();
}

void append_writer::fail_all(std::span<request*> batch, std::error_code e) {
  for (auto* r : batch)
    r->res = fail(e);
  stats_.write_errors.add(1);
  std::size_t records = 0;
  for (auto* r : batch)
    records += r->records.size();
  stats_.lost_records.add(records);
}

void append_writer::write(std::span<request*> batch) {
  auto got = link_.get();
  if (!got) {
    fail_all(batch, got.error());
    return;
  }
  io::redis::connection* c = *got;
  if (opts_.max_len != 0 && length_ >= opts_.max_len) {
    if (opts_.when_full == config::when_full_mode::drop_newest) {
      for (auto* r : batch) {
        r->res = append_result{0, 0, 0, r->records.size()};
        stats_.dropped_records.add(r->records.size());
      }
      refresh(*c);
      return;
    }
    if (!wait_below_cap(c)) {
      fail_all(batch, c == nullptr ? std::error_code(errc::write_failed) : errc::closed);
      return;
    }
  }
  std::int64_t now = wall_clock::real().now_ns();
  resp_.clear();
  std::size_t commands = 0;
  for (auto* r : batch)
    for (const auto& rec : r->records) {
      xadd_words(words_, scratch_, opts_.stream, rec.received_ns ? rec.received_ns : now, rec);
      io::redis::resp_command(resp_, words_);
      ++commands;
    }
  c->append_formatted(resp_, commands); // one buffer for the pipeline, copied once
  std::string replicas = std::to_string(opts_.replicas);
  std::string timeout = std::to_string(opts_.replica_timeout.count());
  if (opts_.replicas > 0)
    c->append({"WAIT", replicas, timeout});
  c->append({"XLEN", opts_.stream});
  auto replies = c->flush();
  if (!replies) {
    link_.lost(replies.error());
    fail_all(batch, replies.error());
    return;
  }
  if (replies->back().type == io::redis::reply::kind::integer)
    length_ = static_cast<std::uint64_t>(replies->back().integer);
  if (opts_.replicas > 0) {
    const auto& w = (*replies)[replies->size() - 2];
    if (w.type != io::redis::reply::kind::integer ||
        w.integer < static_cast<std::int64_t>(opts_.replicas)) {
      stats_.replica_shortfalls.add(1);
      SLUICE_WARN_LIMITED("queue {}: only {} of {} replicas confirmed within {} ms; the appends "
                          "are retried (entries may appear twice)",
                          opts_.stream, w.type == io::redis::reply::kind::integer ? w.integer : 0,
                          opts_.replicas, opts_.replica_timeout.count());
      fail_all(batch, errc::write_failed);
      return;
    }
  }
  std::size_t i = 0;
  bool lost = false; // a READONLY answer dropped the connection `c` pointed to
  for (auto* r : batch) {
    append_result res;
    std::uint64_t bytes = 0;
    const io::redis::reply* error = nullptr;
    for (const auto& rec : r->records) {
      const auto& reply = (*replies)[i++];
      auto p = reply.is_error() ? std::nullopt : parse_stream_id(reply.text);
      if (!p) {
        error = &reply;
        continue;
      }
      res.first = res.first == 0 ? *p : res.first;
      res.last = *p;
      ++res.appended;
      bytes += rec.payload.size();
    }
    if (error != nullptr) {
      // Some of this append may be in the stream; its appender retries the whole: at least once.
      SLUICE_WARN_LIMITED("queue {}: Redis refused an XADD: {}; {} of {} records of the append "
                          "were kept and are appended again",
                          opts_.stream, error->is_error() ? error->text : "a malformed id",
                          res.appended, r->records.size());
      stats_.write_errors.add(1);
      r->res = fail(error->is_error() ? error_of(*error) : std::error_code(errc::write_failed));
      if (r->res.error() == errc::not_primary && !lost) {
        link_.lost(r->res.error()); // after a failover: ask the sentinels again
        lost = true;
      }
      continue;
    }
    r->res = res;
    stats_.appended_records.add(res.appended);
    stats_.appended_bytes.add(bytes);
    stats_.append_calls.add(1);
    raise_seen(seen_, res.last);
    auto received = r->records.front().received_ns;
    if (received > 0 && now > received)
      stats_.receipt_to_durable_ns.record(static_cast<std::uint64_t>(now - received),
                                          r->records.size());
  }
  stats_.last_position.set(static_cast<std::int64_t>(seen_.load()));
  stats_.durable_watermark.set(static_cast<std::int64_t>(seen_.load()));
  if (!lost && std::chrono::steady_clock::now() >= next_trim_)
    refresh(*c);
}

bool append_writer::wait_below_cap(io::redis::connection*& c) {
  stats_.blocked_appenders.add(1);
  auto started = std::chrono::steady_clock::now();
  SLUICE_WARN_LIMITED("queue {}: the stream holds {} entries (max_len {}); intake waits for the "
                      "subscriptions",
                      opts_.stream, length_, opts_.max_len);
  bool ok = true;
  while (length_ >= opts_.max_len) {
    {
      std::unique_lock lk(mu_);
      if (refuse_blocked_ || stopping_) {
        ok = false;
        break;
      }
      work_cv_.wait_for(lk, std::chrono::milliseconds(100));
    }
    next_trim_ = {};
    auto got = link_.get();
    if (!got) {
      c = nullptr;
      ok = false;
      break;
    }
    c = *got;
    refresh(*c);
  }
  stats_.blocked_appenders.add(-1);
  stats_.blocked_ns.add(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now() - started)
                                     .count()));
  return ok;
}

void append_writer::refresh(io::redis::connection& c) {
  auto s = stream_info(c, opts_.stream);
  if (!s) {
    if (c.broken())
      link_.lost(s.error());
    return;
  }
  raise_seen(seen_, s->last);
  length_ = s->length;
  stats_.durable_watermark.set(static_cast<std::int64_t>(seen_.load()));
  if (std::chrono::steady_clock::now() < next_trim_)
    return;
  next_trim_ = std::chrono::steady_clock::now() + k_trim_every;
  auto groups = list_groups(c, opts_.stream);
  if (!groups || groups->empty())
    return;
  position done = groups->front().committed();
  for (const auto& g : *groups)
    done = std::min(done, g.committed());
  if (opts_.retain_age.count() > 0) {
    auto now_ms = wall_clock::real().now_ns() / 1000000;
    auto keep_from =
        now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(opts_.retain_age).count();
    done = std::min(done,
                    keep_from <= 0 ? position{0} : static_cast<position>(keep_from) << k_seq_bits);
  }
  if (done == 0 || done < s->first)
    return;
  // MINID removes every entry below the id: the first one not done is done + 1.
  auto r = c.command({"XTRIM", opts_.stream, "MINID", "~", stream_id_of(done + 1)});
  if (r && r->type == io::redis::reply::kind::integer && r->integer > 0) {
    stats_.trimmed_records.add(static_cast<std::uint64_t>(r->integer));
    length_ -= std::min<std::uint64_t>(length_, static_cast<std::uint64_t>(r->integer));
  }
}

} // namespace sluice::queue::redis
