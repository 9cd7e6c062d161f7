#include "pipeline/runner.h"

#include <algorithm>
#include <atomic>

#include <fmt/format.h>

#include "base/log.h"
#include "queue/errc.h"
#include "queue/open.h"
#include "sinks/sink_type.h"

namespace sluice::pipeline {
namespace {

namespace asio = boost::asio;

} // namespace

source_status status_of(const sources::source& src) {
  const auto& c = src.stats();
  source_status ss;
  ss.name = src.name();
  ss.type = std::string(src.type());
  ss.state = src.state();
  ss.counts = c.snapshot();
  ss.types = c.types.snapshot();
  ss.last_event_ns = c.last_event_ns.load(std::memory_order_relaxed);
  ss.connected_at_ns = c.connected_at_ns.load(std::memory_order_relaxed);
  ss.open_connections = c.open_connections.load(std::memory_order_relaxed);
  ss.limit_skipped = c.limit_skipped.load(std::memory_order_relaxed);
  ss.limit_last_ns = c.limit_last_ns.load(std::memory_order_relaxed);
  ss.coverage = c.coverage();
  ss.backoff_ns = c.backoff_ns.load(std::memory_order_relaxed);
  ss.last_error = c.last_error();
  return ss;
}

subscription_status counts_of(const delivery& d) {
  const auto& c = d.counters();
  subscription_status s;
  s.delivered = c.delivered.load();
  s.filtered = c.filtered.load();
  s.retries = c.retries.load();
  s.dead_lettered = c.dead_lettered.load();
  s.dead_letter_failures = c.dead_letter_failures.load();
  s.sink_counts = d.sink().counters().snapshot();
  return s;
}

void add_counts(subscription_status& into, const subscription_status& from) {
  into.delivered += from.delivered;
  into.filtered += from.filtered;
  into.retries += from.retries;
  into.dead_lettered += from.dead_lettered;
  into.dead_letter_failures += from.dead_letter_failures;
  into.sink_counts += from.sink_counts;
}

void add_counts(source_status& into, const source_status& from) {
  into.counts += from.counts;
  into.last_event_ns = std::max(into.last_event_ns, from.last_event_ns);
  into.limit_last_ns = std::max(into.limit_last_ns, from.limit_last_ns);
  for (const auto& [type, n] : from.types) {
    auto it = std::find_if(into.types.begin(), into.types.end(),
                           [&](const auto& t) { return t.first == type; });
    if (it == into.types.end())
      into.types.emplace_back(type, n);
    else
      it->second += n;
  }
}

result<std::unique_ptr<sinks::sink>> open_sink(const config::subscription_config& s) {
  return sinks::open_sink(s.sink, sinks::sink_context{s.name});
}

std::string sink_target(const config::subscription_config& s) {
  return sinks::sink_target(s.sink);
}

delivery_options delivery_options_of(const config::pipeline_config& cfg,
                                     const config::subscription_config& s) {
  delivery_options d;
  d.name = s.name;
  d.batch = s.batch;
  d.filter = s.filter;
  d.retry = s.retry;
  d.dead_letter_file = cfg.data_dir / "dead-letter" / ("sub-" + s.name + ".ndjson");
  return d;
}

queue::start_at start_of(const config::subscription_config& s) {
  return s.start == config::start_position::beginning ? queue::start_at::beginning()
                                                      : queue::start_at::end();
}

result<std::optional<queue::position>> position_at_time(queue::queue& q, std::int64_t unix_ns) {
  auto reader = q.open_reader(queue::start_at::beginning());
  if (!reader)
    return fail(reader.error());
  queue::batch b;
  auto last = q.durable_watermark();
  while ((*reader)->next_position() <= last) {
    auto r = (*reader)->read(b, queue::read_limits{4096, 16u << 20}, std::chrono::milliseconds(0));
    if (!r && r.error() == queue::errc::timed_out)
      break;
    if (!r)
      return fail(r.error());
    for (const auto& rec : b.records)
      if (rec.received_ns >= unix_ns)
        return std::optional(rec.pos);
  }
  return std::optional<queue::position>();
}

runner::runner(config::pipeline_config cfg) : cfg_(std::move(cfg)) {}

bool runner::enabled(const std::string& source) const {
  const auto* s = config::by_name(cfg_.sources, source);
  return s == nullptr || s->enabled;
}

result<std::unique_ptr<runner>> runner::open(const config::pipeline_config& cfg,
                                             std::string& error) {
  std::unique_ptr<runner> r(new runner(cfg));
  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) {
    error = fmt::format("cannot create data_dir {}: {}", cfg.data_dir.string(), ec.message());
    return fail(ec);
  }
  auto q = queue::open(cfg, error);
  if (!q)
    return fail(q.error());
  r->queue_ = std::move(*q);
  for (const auto& s : cfg.subscriptions) {
    if (!s.continuous || s.paused) {
      // Created if new and let go at once: the cursor holds retention, `sluice drain` takes it.
      // A drain running now holds it; it created the cursor when it took the lock.
      auto sub = r->queue_->subscribe(s.name, start_of(s));
      if (!sub && sub.error() == queue::errc::subscription_busy) {
        spdlog::info("subscription {}: a drain is delivering it now", s.name);
        continue;
      }
      if (!sub) {
        error = fmt::format("subscription {} (line {}): cannot open its cursor: {}", s.name, s.line,
                            sub.error().message());
        return fail(sub.error());
      }
      continue;
    }
    auto d = r->make_delivery(cfg, s, error);
    if (!d)
      return fail(d.error());
    r->deliveries_.push_back(std::move(*d));
  }
  for (const auto& s : cfg.sources) {
    auto src = sources::make_source(s, *r->queue_, cfg.data_dir);
    if (!src) {
      error = fmt::format("source {} (line {}): {}", s.name, s.line, src.error().message());
      return fail(src.error());
    }
    r->sources_.push_back(std::move(*src));
  }
  return r;
}

result<std::unique_ptr<delivery>> runner::make_delivery(const config::pipeline_config& cfg,
                                                        const config::subscription_config& s,
                                                        std::string& error) {
  auto sink = open_sink(s);
  if (!sink) {
    error = fmt::format("subscription {} (line {}): cannot open its {} sink {}: {}", s.name, s.line,
                        s.sink_type(), sink_target(s), sink.error().message());
    return fail(sink.error());
  }
  auto sub = queue_->subscribe(s.name, start_of(s));
  if (!sub) {
    error = fmt::format("subscription {} (line {}): cannot open its cursor: {}", s.name, s.line,
                        sub.error().message());
    return fail(sub.error());
  }
  return std::make_unique<delivery>(delivery_options_of(cfg, s), std::move(*sub), std::move(*sink));
}

runner::~runner() {
  (void)stop(std::chrono::steady_clock::now() + cfg_.shutdown_timeout);
}

result<void> runner::start(std::string& error) {
  if (started_)
    return {};
  started_ = true;
  guard_.emplace(asio::make_work_guard(io_));
  for (int i = 0; i < 2; ++i)
    io_threads_.emplace_back([this] { io_.run(); });
  for (auto& d : deliveries_)
    d->start();
  for (auto& s : sources_) {
    if (!enabled(s->name())) {
      spdlog::info("source {}: not started (enabled = false)", s->name());
      continue;
    }
    auto r = s->start(io_);
    if (!r) {
      error = fmt::format("source {}: cannot start: {}", s->name(), r.error().message());
      (void)stop(std::chrono::steady_clock::now() + cfg_.shutdown_timeout);
      return fail(r.error());
    }
    spdlog::info("source {}: started ({})", s->name(), state_name(s->state()));
  }
  return {};
}

result<void> runner::stop(std::chrono::steady_clock::time_point deadline) {
  if (stopped_ || !queue_)
    return {};
  stopped_ = true;
  if (started_) {
    // Sources first, on a thread of their own: an append waiting at the queue's cap gets until
    // half the time left before it is refused, so stop() always ends.
    std::atomic<bool> sources_done{false};
    std::thread stopper([&] {
      for (auto& s : sources_)
        s->stop();
      sources_done.store(true);
    });
    auto half =
        std::chrono::steady_clock::now() + (deadline - std::chrono::steady_clock::now()) / 2;
    while (!sources_done.load() && std::chrono::steady_clock::now() < half)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!sources_done.load()) {
      SLUICE_WARN_LIMITED("stopping: a source is waiting at the queue's cap; refusing its append "
                          "(those records were not acknowledged to anyone)");
      queue_->refuse_blocked_appends();
    }
    stopper.join();
    guard_.reset();
    io_.stop();
    for (auto& t : io_threads_)
      t.join();
    io_threads_.clear();
    for (auto& d : deliveries_)
      d->stop(deadline);
  }
  final_status_ = status();
  deliveries_.clear(); // their subscriptions go before the queue closes
  sources_.clear();
  retired_sources_.clear();
  auto r = queue_->close();
  if (!r)
    spdlog::error("closing the queue failed: {}", r.error().message());
  return r;
}

pipeline_status runner::status() const {
  if (final_status_)
    return *final_status_;
  pipeline_status st;
  if (!queue_)
    return st;
  for (const auto& s : sources_) {
    auto ss = status_of(*s);
    ss.enabled = enabled(s->name());
    if (auto it = carried_.find(ss.name); it != carried_.end())
      add_counts(ss, it->second);
    st.sources.push_back(std::move(ss));
  }
  const auto& qs = queue_->stats();
  st.last = queue_->last_position();
  st.durable = queue_->durable_watermark();
  st.disk_bytes = static_cast<std::uint64_t>(qs.disk_bytes.get());
  st.blocked_appenders = static_cast<std::uint64_t>(qs.blocked_appenders.get());
  st.queue_failed = qs.failed.get() != 0;
  std::map<std::string, std::uint64_t> sparse_lags; // positions with holes: the queue counts
  if (!queue_->dense_positions())
    for (const auto& c : queue_->cursors())
      sparse_lags[c.name] = c.lag;
  // In the configuration's order; a drain subscription's cursor is read without its lock.
  for (const auto& s : cfg_.subscriptions) {
    subscription_status ss;
    ss.name = s.name;
    ss.sink = std::string(s.sink_type());
    ss.continuous = s.continuous;
    ss.paused = s.paused;
    auto dp = std::find_if(deliveries_.begin(), deliveries_.end(),
                           [&](const auto& d) { return d->name() == s.name; });
    if (dp != deliveries_.end()) {
      const auto& d = **dp;
      const auto& c = d.counters();
      ss.sink = std::string(d.sink().type());
      add_counts(ss, counts_of(d));
      ss.committed = static_cast<queue::position>(c.committed.load());
      ss.receipt_to_delivered_p50_ns = c.receipt_to_delivered_ns.quantile(0.50);
      ss.receipt_to_delivered_p99_ns = c.receipt_to_delivered_ns.quantile(0.99);
      ss.last_error = d.last_error();
    } else {
      auto c = queue_->cursor(s.name);
      if (c && *c)
        ss.committed = **c;
    }
    if (auto it = carried_subscriptions_.find(s.name); it != carried_subscriptions_.end())
      add_counts(ss, it->second);
    ss.lag = st.durable > ss.committed ? st.durable - ss.committed : 0;
    if (!queue_->dense_positions())
      ss.lag = sparse_lags[s.name];
    st.subscriptions.push_back(std::move(ss));
  }
  return st;
}

} // namespace sluice::pipeline
