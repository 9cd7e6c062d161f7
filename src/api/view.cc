#include "api/view.h"

#include "base/clock.h"
#include "metrics/family.h"

namespace sluice::api {
namespace {

rates rates_of(const metrics::rate_window& w) {
  return {w.per_second(std::chrono::seconds(1)), w.per_second(std::chrono::seconds(60)),
          w.per_second(std::chrono::seconds(300))};
}

} // namespace

latency latency_of(const histogram& h) {
  latency l;
  for (double bound : metrics::latency_bounds())
    l.cumulative.push_back(h.count_at_most(static_cast<std::uint64_t>(bound * 1e9)));
  l.count = h.count();
  l.sum_ns = h.sum();
  return l;
}

board::board() : start_ns_(now_unix_ns()) {}

std::shared_ptr<const view> board::current() const {
  std::lock_guard lock(mutex_);
  return view_;
}

void board::publish(std::shared_ptr<const view> v) {
  std::lock_guard lock(mutex_);
  view_ = std::move(v);
}

std::shared_ptr<const view> view_maker::make(pipeline::runner& r,
                                             std::set<std::string> api_subscriptions,
                                             std::set<std::string> api_streams) {
  auto v = std::make_shared<view>();
  auto now = std::chrono::steady_clock::now();
  v->at_ns = now_unix_ns();
  v->status = r.status();
  v->cfg = r.config();
  v->api_subscriptions = std::move(api_subscriptions);
  v->api_streams = std::move(api_streams);
  std::uint64_t all = 0;
  for (const auto& s : v->status.sources) {
    auto& w = sources_[s.name];
    w.observe(now, s.counts.records);
    v->source_rates.push_back(rates_of(w));
    all += s.counts.records;
  }
  all_.observe(now, all);
  v->all_events = rates_of(all_);
  for (const auto& s : v->status.subscriptions) {
    auto& w = subscriptions_[s.name];
    w.observe(now, s.delivered + s.filtered);
    v->subscription_rates.push_back(rates_of(w));
  }
  auto& q = r.queue();
  const auto& qs = q.stats();
  v->segments = qs.segments.get();
  v->fsyncs = qs.fsyncs.get();
  v->fsync_errors = qs.fsync_errors.get();
  v->write_errors = qs.write_errors.get();
  v->dropped_records = qs.dropped_records.get();
  v->damaged_records = qs.damaged_records.get();
  v->gap_records = qs.gap_records.get();
  for (const auto& c : queue::k_shared_counters)
    v->shared_counts.push_back((qs.*c.member).get());
  v->unreadable_cursors = qs.unreadable_cursors.get();
  v->disk_full = qs.disk_full.get() != 0;
  v->disk_full_waits = qs.disk_full_waits.get();
  v->fsync = latency_of(qs.fsync_ns);
  v->receipt_to_durable = latency_of(qs.receipt_to_durable_ns);
  if (auto first = q.first_position())
    v->first_position = *first <= v->status.durable ? *first : 0;
  r.each_delivery([&](const std::string& name, const pipeline::delivery_counters& c) {
    v->receipt_to_delivered[name] = latency_of(c.receipt_to_delivered_ns);
  });
  return v;
}

} // namespace sluice::api
