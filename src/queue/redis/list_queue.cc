#include "queue/redis/list_queue.h"

#include <deque>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/log.h"
#include "io/redis_link.h"
#include "queue/errc.h"
#include "queue/redis/groups.h"
#include "queue/redis/readers.h"

namespace sluice::queue::redis {

std::string busy_key(const options& opts, std::string_view consumer) {
  return fmt::format("{}:busy:{}", opts.stream, consumer);
}

std::string alive_key(const options& opts, std::string_view consumer) {
  return fmt::format("{}:alive:{}", opts.stream, consumer);
}

namespace {

using io::redis::reply;

/// A consumer's heartbeat lives this long; it is renewed every third of it while it reads.
constexpr std::chrono::milliseconds k_alive_ttl{10000};
/// How often a consumer looks for dead consumers' busy lists.
constexpr std::chrono::seconds k_reap_every{5};

/// This instance's consumer of the work list.
class list_subscription final : public subscription {
public:
  list_subscription(reader_context ctx, std::string name, std::vector<std::string> left_busy)
      : ctx_(std::move(ctx)), name_(std::move(name)),
        link_(ctx_->opts.at, ctx_->opts.timeout, "work list " + ctx_->opts.stream,
              &ctx_->stats.reconnects.value),
        busy_(busy_key(ctx_->opts, ctx_->opts.consumer)),
        alive_(alive_key(ctx_->opts, ctx_->opts.consumer)), replay_(std::move(left_busy)) {}

  const std::string& name() const noexcept override { return name_; }
  position committed() const noexcept override { return committed_; }
  position next_position() const noexcept override { return next_; }
  void interrupt() noexcept override { interrupted_.store(true); }

  result<void> read(batch& out, read_limits limits, std::chrono::milliseconds wait) override {
    auto c = start_read(out, link_, interrupted_, wait);
    if (!c)
      return fail(c.error());
    auto got = take(**c, std::max<std::size_t>(1, limits.max_records), wait);
    if (!got) {
      if ((*c)->broken() || got.error() == errc::not_primary)
        link_.lost(got.error());
      return fail(got.error());
    }
    if (*got == 0)
      return fail(errc::timed_out);
    // Number what was taken: unique and increasing across every consumer of the list.
    auto seq = ask(**c, {"INCRBY", ctx_->opts.stream + ":seq", std::to_string(*got)});
    if (!seq)
      return fail(seq.error());
    position first = static_cast<position>(seq->integer) - *got + 1;
    std::int64_t now = wall_clock::real().now_ns();
    for (std::size_t i = 0; i < *got; ++i) {
      auto& taken = outstanding_[outstanding_.size() - *got + i];
      taken.pos = first + i;
      out.records.push_back(record{taken.pos, now, taken.payload, true});
      out.bytes += taken.payload.size();
    }
    next_ = first + *got;
    raise_seen(ctx_->seen, next_ - 1);
    return {};
  }

  result<void> commit(position p) override {
    auto c = link_.get();
    if (!c)
      return fail(c.error());
    std::size_t n = 0;
    while (n < outstanding_.size() && outstanding_[n].pos != 0 && outstanding_[n].pos <= p)
      (*c)->append({"LREM", busy_, "1", outstanding_[n++].payload});
    if (n > 0) {
      auto r = (*c)->flush();
      if (!r) {
        link_.lost(r.error());
        return fail(r.error());
      }
      for (const auto& x : *r)
        if (x.is_error())
          return fail(error_of(x));
      outstanding_.erase(outstanding_.begin(), outstanding_.begin() + static_cast<long>(n));
    }
    committed_ = std::max(committed_, p);
    return {};
  }

private:
  struct item {
    position pos = 0; // 0 until numbered
    std::string payload;
  };

  /// Up to `n` items into outstanding_: first what this consumer's busy list held at the start,
  /// then items moved from the work list (waiting up to `wait` for the first). How many.
  result<std::size_t> take(io::redis::connection& c, std::size_t n,
                           std::chrono::milliseconds wait) {
    if (auto h = heartbeat(c); !h)
      return fail(h.error());
    if (auto r = reap(c); !r)
      return fail(r.error());
    std::size_t got = 0;
    while (got < n && !replay_.empty()) {
      outstanding_.push_back({0, std::move(replay_.back())}); // the busy list's oldest is last
      replay_.pop_back();
      ++got;
    }
    if (got > 0) {
      ctx_->stats.redelivered_records.add(got);
      return got;
    }
    auto waiting = ask(c, {"LLEN", ctx_->opts.stream});
    if (!waiting)
      return fail(waiting.error());
    n = std::min<std::size_t>(
        n, static_cast<std::size_t>(std::max<std::int64_t>(0, waiting->integer)));
    for (std::size_t i = 0; i < n; ++i)
      c.append({"LMOVE", ctx_->opts.stream, busy_, "RIGHT", "LEFT"});
    auto moved = n > 0 ? c.flush() : result<std::vector<reply>>(std::vector<reply>{});
    if (!moved)
      return fail(moved.error());
    for (auto& m : *moved) {
      if (m.is_error())
        return fail(error_of(m));
      if (m.type == reply::kind::string) {
        outstanding_.push_back({0, std::move(m.text)});
        ++got;
      }
    }
    if (got > 0 || wait.count() == 0)
      return got;
    auto most = std::min(wait, ctx_->opts.timeout / 2);
    auto b = ask(c, {"BLMOVE", ctx_->opts.stream, busy_, "RIGHT", "LEFT",
                     fmt::format("{:.3f}", static_cast<double>(most.count()) / 1000.0)});
    if (!b)
      return fail(b.error());
    if (b->type != reply::kind::string)
      return std::size_t{0};
    outstanding_.push_back({0, std::move(b->text)});
    return std::size_t{1};
  }

  result<void> heartbeat(io::redis::connection& c) {
    auto now = std::chrono::steady_clock::now();
    if (now < next_beat_)
      return {};
    next_beat_ = now + k_alive_ttl / 3;
    auto r = ask(c, {"SET", alive_, "1", "PX", std::to_string(k_alive_ttl.count())});
    if (!r)
      return fail(r.error());
    return {};
  }

  /// Busy lists of consumers whose heartbeat expired: their items go back to the work list's
  /// consuming end, oldest first.
  result<void> reap(io::redis::connection& c) {
    auto now = std::chrono::steady_clock::now();
    if (now < next_reap_)
      return {};
    next_reap_ = now + k_reap_every;
    std::string cursor = "0";
    const std::string pattern = busy_key(ctx_->opts, "*");
    const std::string prefix = busy_key(ctx_->opts, "");
    do {
      auto r = ask(c, {"SCAN", cursor, "MATCH", pattern, "COUNT", "100"});
      if (!r)
        return fail(r.error());
      if (r->elements.size() != 2)
        return fail(errc::write_failed);
      cursor = r->elements[0].text;
      for (const auto& key : r->elements[1].elements) {
        std::string consumer = key.text.substr(prefix.size());
        if (consumer == ctx_->opts.consumer)
          continue;
        auto alive = ask(c, {"EXISTS", alive_key(ctx_->opts, consumer)});
        if (!alive)
          return fail(alive.error());
        if (alive->integer != 0)
          continue;
        std::uint64_t n = 0;
        for (;;) { // the newest first to the tail, so the oldest ends up popped first
          auto m = ask(c, {"LMOVE", key.text, ctx_->opts.stream, "LEFT", "RIGHT"});
          if (!m)
            return fail(m.error());
          if (m->type != reply::kind::string)
            break;
          ++n;
        }
        if (n > 0) {
          ctx_->stats.claimed_records.add(n);
          SLUICE_WARN_LIMITED("work list {}: consumer {} stopped (no heartbeat); its {} busy "
                              "items are back on the work list",
                              ctx_->opts.stream, consumer, n);
        }
      }
    } while (cursor != "0");
    return {};
  }

  reader_context ctx_;
  std::string name_;
  io::redis::link link_;
  std::string busy_;
  std::string alive_;
  std::vector<std::string> replay_; ///< this consumer's busy items from before, newest first
  std::deque<item> outstanding_;    ///< taken, not yet confirmed (LREM at commit), in order
  position committed_ = 0;
  position next_ = 1;
  std::atomic<bool> interrupted_{false};
  std::chrono::steady_clock::time_point next_beat_{};
  std::chrono::steady_clock::time_point next_reap_{};
};

class list_queue final : public queue {
public:
  explicit list_queue(options opts)
      : state_(std::make_shared<queue_state>(std::move(opts), 0)),
        link_(state_->opts.at, state_->opts.timeout, "work list " + state_->opts.stream,
              &state_->stats.reconnects.value) {}

  result<append_result> append(std::span<const record_in> records) override {
    if (records.empty())
      return append_result{};
    std::vector<std::string_view> words{"LPUSH", state_->opts.stream};
    for (const auto& r : records) {
      if (r.payload.size() > state_->opts.max_record_bytes)
        return fail(errc::record_too_large);
      words.push_back(r.payload);
    }
    std::lock_guard lk(mu_);
    auto c = link_.get();
    if (!c) {
      state_->stats.write_errors.add(1);
      return fail(c.error());
    }
    auto r = (*c)->command(words);
    if (!r)
      link_.lost(r.error());
    if (!r || r->is_error()) {
      state_->stats.write_errors.add(1);
      if (r)
        SLUICE_WARN_LIMITED("work list {}: Redis refused LPUSH: {}", state_->opts.stream, r->text);
      return fail(r ? error_of(*r) : r.error());
    }
    std::uint64_t bytes = 0;
    for (const auto& rec : records)
      bytes += rec.payload.size();
    state_->stats.appended_records.add(records.size());
    state_->stats.appended_bytes.add(bytes);
    state_->stats.append_calls.add(1);
    // Items have no positions until a consumer takes them.
    return append_result{0, 0, records.size(), 0};
  }

  result<void> wait_durable(position, std::chrono::milliseconds) override { return {}; }
  result<void> sync() override { return {}; }

  result<std::unique_ptr<subscription>> subscribe(std::string_view name, start_at) override {
    {
      std::lock_guard lk(mu_);
      names_.insert(std::string(name));
    }
    io::redis::link l(state_->opts.at, state_->opts.timeout, "work list " + state_->opts.stream);
    auto c = l.get();
    if (!c)
      return fail(c.error());
    auto left = ask(**c, {"LRANGE", busy_key(state_->opts, state_->opts.consumer), "0", "-1"});
    if (!left)
      return fail(left.error());
    std::vector<std::string> busy;
    for (auto& e : left->elements)
      busy.push_back(std::move(e.text));
    return std::unique_ptr<subscription>(
        std::make_unique<list_subscription>(state_, std::string(name), std::move(busy)));
  }

  result<std::unique_ptr<reader>> open_reader(start_at) override {
    return fail(errc::invalid_argument); // a work list is consumed: there is nothing to tail
  }

  position durable_watermark() const noexcept override { return state_->seen.load(); }
  position last_position() const noexcept override { return durable_watermark(); }
  result<position> first_position() const override { return durable_watermark() + 1; }

  std::vector<cursor_info> cursors() const override {
    std::lock_guard lk(mu_);
    std::vector<cursor_info> out;
    auto c = link_.get();
    if (!c)
      return out;
    auto waiting = (*c)->command({"LLEN", state_->opts.stream});
    std::uint64_t lag = waiting && waiting->type == reply::kind::integer
                            ? static_cast<std::uint64_t>(waiting->integer)
                            : 0;
    for (const auto& n : names_)
      out.push_back({n, durable_watermark(), lag, false});
    return out;
  }

  result<std::optional<position>> cursor(std::string_view) const override {
    return std::optional<position>();
  }
  result<void> set_cursor(std::string_view, position) override {
    return fail(errc::invalid_argument); // items leave the list as they are taken
  }
  result<void> forget_subscription(std::string_view) override { return {}; }

  std::string location() const override {
    return fmt::format("{} list {}", io::redis::describe(state_->opts.at), state_->opts.stream);
  }
  const queue_stats& stats() const noexcept override { return state_->stats; }
  bool dense_positions() const noexcept override { return false; }
  void refuse_blocked_appends() override {}
  result<void> close() override { return {}; }

private:
  std::shared_ptr<queue_state> state_;
  mutable std::mutex mu_; ///< appends, and the status calls, share one connection
  mutable io::redis::link link_;
  std::set<std::string> names_; ///< the subscriptions opened here, for cursors()
};

} // namespace

result<std::unique_ptr<queue>> open_list(const options& opts, std::string* error_detail) {
  auto c = io::redis::connection::open(opts.at, opts.timeout);
  if (!c) {
    if (error_detail)
      *error_detail = "Redis at " + io::redis::describe(opts.at);
    return fail(c.error());
  }
  return std::unique_ptr<queue>(std::make_unique<list_queue>(opts));
}

} // namespace sluice::queue::redis
