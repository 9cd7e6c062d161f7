// The metric families of GET /metrics and of Graphite, from a view.

#include <algorithm>

#include <fmt/format.h>

#include "api/render.h"
#include "sinks/sink.h"

namespace sluice::api {
namespace {

using metrics::family;
using metrics::kind;
using metrics::label_set;
using metrics::sample;

family make(std::string name, std::string help, kind type) {
  return family{std::move(name), std::move(help), type, {}};
}

void add(family& f, label_set labels, double value) {
  sample s;
  s.labels = std::move(labels);
  s.value = value;
  f.samples.push_back(std::move(s));
}

sample latency_sample(const latency& l, label_set labels) {
  sample s;
  s.labels = std::move(labels);
  auto bounds = metrics::latency_bounds();
  for (std::size_t i = 0; i < bounds.size() && i < l.cumulative.size(); ++i)
    s.buckets.push_back({bounds[i], l.cumulative[i]});
  s.count = l.count;
  s.sum = static_cast<double>(l.sum_ns) / 1e9;
  return s;
}

/// A family of one sample without labels.
void one(std::vector<family>& out, std::string name, std::string help, kind type, double value) {
  auto f = make(std::move(name), std::move(help), type);
  add(f, {}, value);
  out.push_back(std::move(f));
}

void source_families(const view& v, std::vector<family>& out) {
  // A family per metric of sources::source_count_fields() (the rejections and the
  // disconnects by reason), a sample per source; then the figures of the moment.
  std::vector<family> counted;
  for (const auto& field : sources::source_count_fields()) {
    auto name = fmt::format("sluice_source_{}_total", field.metric);
    auto fam = std::find_if(counted.begin(), counted.end(),
                            [&](const family& f) { return f.name == name; });
    if (fam == counted.end())
      fam = counted.insert(counted.end(), make(name, field.help, kind::counter));
    for (const auto& s : v.status.sources) {
      label_set l{{"source", s.name}};
      if (*field.reason != '\0')
        l.emplace_back("reason", field.reason);
      add(*fam, std::move(l), static_cast<double>(s.counts.*field.member));
    }
  }
  for (auto& fam : counted)
    out.push_back(std::move(fam));
  auto by_type = make("sluice_source_events_by_type_total",
                      "Events a source accepted, by event type.", kind::counter);
  auto up = make("sluice_source_up", "1 while a source is connected (or listening).", kind::gauge);
  auto open = make("sluice_source_open_connections", "Pushers connected to a listen source now.",
                   kind::gauge);
  auto backoff = make("sluice_source_backoff_seconds",
                      "The delay a source waits before its next connection attempt.", kind::gauge);
  auto coverage = make("sluice_source_coverage_ratio",
                       "Events received over events received and skipped (limit notices), on "
                       "the current connection.",
                       kind::gauge);
  auto rate = make("sluice_source_rate_events_per_second",
                   "Events per second a source appended over the last minute.", kind::gauge);
  for (std::size_t i = 0; i < v.status.sources.size(); ++i) {
    const auto& s = v.status.sources[i];
    label_set l{{"source", s.name}};
    for (const auto& [type, n] : s.types)
      add(by_type, {{"source", s.name}, {"type", type}}, static_cast<double>(n));
    add(up, l, s.state == sources::source_state::connected ? 1 : 0);
    add(open, l, static_cast<double>(s.open_connections));
    add(backoff, l, static_cast<double>(s.backoff_ns) / 1e9);
    add(coverage, l, s.coverage / 100);
    add(rate, l, v.source_rates[i].m1);
  }
  for (auto* fam : {&by_type, &up, &open, &backoff, &coverage, &rate})
    out.push_back(std::move(*fam));
}

void queue_families(const view& v, std::vector<family>& out) {
  auto gauge = [&](std::string name, std::string help, double value) {
    one(out, std::move(name), std::move(help), kind::gauge, value);
  };
  auto counter = [&](std::string name, std::string help, double value) {
    one(out, std::move(name), std::move(help), kind::counter, value);
  };
  gauge("sluice_queue_last_position", "The last position assigned.",
        static_cast<double>(v.status.last));
  gauge("sluice_queue_durable_watermark", "The last durable position.",
        static_cast<double>(v.status.durable));
  gauge("sluice_queue_first_position", "The oldest position the queue still holds.",
        static_cast<double>(v.first_position));
  gauge("sluice_queue_disk_bytes", "Bytes of the queue's segment files.",
        static_cast<double>(v.status.disk_bytes));
  gauge("sluice_queue_segments", "Segment files of the queue.", static_cast<double>(v.segments));
  gauge("sluice_queue_blocked_appenders", "Appenders waiting at the queue's disk cap now.",
        static_cast<double>(v.status.blocked_appenders));
  gauge("sluice_queue_failed",
        "1 while the queue cannot put its files back after a failed write (appends fail).",
        v.status.queue_failed ? 1 : 0);
  gauge("sluice_queue_disk_full",
        "1 while a write of the queue waits for space on a full disk (records held, intake waits).",
        v.disk_full ? 1 : 0);
  counter("sluice_queue_disk_full_waits_total",
          "Retries of a queue write that found the disk full.",
          static_cast<double>(v.disk_full_waits));
  gauge("sluice_queue_unreadable_cursors",
        "Cursor files that cannot be read (each holds every segment from retention).",
        static_cast<double>(v.unreadable_cursors));
  counter("sluice_queue_fsyncs_total", "fsync calls of the queue that succeeded.",
          static_cast<double>(v.fsyncs));
  counter("sluice_queue_fsync_errors_total", "fsync calls of the queue that failed.",
          static_cast<double>(v.fsync_errors));
  counter("sluice_queue_write_errors_total", "Writes of the queue that failed.",
          static_cast<double>(v.write_errors));
  counter("sluice_queue_dropped_records_total",
          "Records dropped at the disk cap (when_full = \"drop_newest\").",
          static_cast<double>(v.dropped_records));
  counter("sluice_queue_damaged_records_total", "Damaged records found and skipped.",
          static_cast<double>(v.damaged_records));
  counter("sluice_queue_gap_records_total",
          "Positions a reader found missing between two segments (lost by a failed write before "
          "they were acknowledged, or removed by hand), counted by each reader passing them.",
          static_cast<double>(v.gap_records));
  for (std::size_t i = 0; i < v.shared_counts.size(); ++i)
    counter(fmt::format("sluice_queue_{}_total", queue::k_shared_counters[i].name),
            std::string(queue::k_shared_counters[i].help), static_cast<double>(v.shared_counts[i]));
  auto h =
      make("sluice_queue_fsync_seconds", "Duration of each fsync of the queue.", kind::histogram);
  h.samples.push_back(latency_sample(v.fsync, {}));
  out.push_back(std::move(h));
  h = make("sluice_receipt_to_durable_seconds",
           "From an event's receipt by its source to the queue's durable watermark passing it.",
           kind::histogram);
  h.samples.push_back(latency_sample(v.receipt_to_durable, {}));
  out.push_back(std::move(h));
}

void subscription_families(const view& v, std::vector<family>& out) {
  auto delivered = make("sluice_subscription_delivered_total",
                        "Events a subscription's sink confirmed.", kind::counter);
  auto filtered = make("sluice_subscription_filtered_total",
                       "Events a subscription's filter passed over.", kind::counter);
  auto retries = make("sluice_subscription_retries_total",
                      "Failed sink writes a subscription retried.", kind::counter);
  auto dead = make("sluice_subscription_dead_lettered_total",
                   "Events a subscription gave up on (after max_attempts).", kind::counter);
  auto dead_failures =
      make("sluice_subscription_dead_letter_failures_total",
           "Dead-letter writes that failed (the batch is kept and tried again).", kind::counter);
  auto lag = make("sluice_subscription_lag_events", "Durable events past the cursor.", kind::gauge);
  auto cursor = make("sluice_subscription_cursor_position", "The committed cursor.", kind::gauge);
  auto paused =
      make("sluice_subscription_paused", "1 while a subscription is paused.", kind::gauge);
  auto failing = make("sluice_subscription_failing",
                      "1 while a subscription's sink fails (it retries).", kind::gauge);
  auto to_delivered =
      make("sluice_receipt_to_delivered_seconds",
           "From an event's receipt by its source to its sink's confirmation.", kind::histogram);
  for (const auto& s : v.status.subscriptions) {
    label_set l{{"subscription", s.name}};
    add(delivered, l, static_cast<double>(s.delivered));
    add(filtered, l, static_cast<double>(s.filtered));
    add(retries, l, static_cast<double>(s.retries));
    add(dead, l, static_cast<double>(s.dead_lettered));
    add(dead_failures, l, static_cast<double>(s.dead_letter_failures));
    add(lag, l, static_cast<double>(s.lag));
    add(cursor, l, static_cast<double>(s.committed));
    add(paused, l, s.paused ? 1 : 0);
    add(failing, l, s.last_error.empty() ? 0 : 1);
    if (auto it = v.receipt_to_delivered.find(s.name); it != v.receipt_to_delivered.end())
      to_delivered.samples.push_back(latency_sample(it->second, l));
  }
  for (auto* fam : {&delivered, &filtered, &retries, &dead, &dead_failures, &lag, &cursor, &paused,
                    &failing, &to_delivered})
    out.push_back(std::move(*fam));
}

void sink_families(const view& v, std::vector<family>& out) {
  // One family per count of sinks::sink_counts, a sample per subscription with a delivery.
  for (const auto& field : sinks::sink_count_fields()) {
    auto fam = make(fmt::format("sluice_sink_{}_total", field.name), field.help, kind::counter);
    for (const auto& s : v.status.subscriptions)
      if (s.continuous)
        add(fam, {{"subscription", s.name}, {"sink", s.sink}},
            static_cast<double>(s.sink_counts.*field.member));
    out.push_back(std::move(fam));
  }
}

void api_families(const server_stats& api, std::vector<family>& out) {
  one(out, "sluice_api_connections_total", "Connections the API accepted.", kind::counter,
      static_cast<double>(api.connections.load()));
  one(out, "sluice_api_open_connections", "Connections the API holds now.", kind::gauge,
      static_cast<double>(api.open_connections.load()));
  one(out, "sluice_api_requests_total", "Requests the API handled.", kind::counter,
      static_cast<double>(api.requests.load()));
  auto refused = make("sluice_api_refused_total",
                      "Connections and requests the API refused, by reason.", kind::counter);
  for (std::size_t i = 0; i < k_refusal_count; ++i) {
    auto r = static_cast<refusal>(i);
    add(refused, {{"reason", std::string(refusal_name(r))}},
        static_cast<double>(api.refused_by(r)));
  }
  out.push_back(std::move(refused));
}

} // namespace

std::vector<family> families(const view& v, const board& b, const server_stats* api) {
  std::vector<family> out;
  one(out, "sluice_up", "1 while the pipeline runs (0 while it starts or drains).", kind::gauge,
      b.ready() && !b.draining() ? 1 : 0);
  one(out, "sluice_start_time_seconds", "When the daemon started, in unix seconds.", kind::gauge,
      static_cast<double>(b.start_ns()) / 1e9);
  source_families(v, out);
  queue_families(v, out);
  subscription_families(v, out);
  sink_families(v, out);
  if (api != nullptr)
    api_families(*api, out);
  return out;
}

} // namespace sluice::api
