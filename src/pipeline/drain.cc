#include "pipeline/drain.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "pipeline/delivery.h"
#include "pipeline/runner.h"
#include "queue/open.h"

namespace sluice::pipeline {
namespace {

const config::subscription_config* find_subscription(const config::pipeline_config& cfg,
                                                     std::string_view name) {
  for (const auto& s : cfg.subscriptions)
    if (s.name == name)
      return &s;
  return nullptr;
}

std::string known_names(const config::pipeline_config& cfg) {
  if (cfg.subscriptions.empty())
    return "it has none";
  std::string names;
  for (const auto& s : cfg.subscriptions)
    names +=
        fmt::format("{}{}{}", names.empty() ? "" : ", ", s.name, s.continuous ? "" : " (drain)");
  return "it has " + names;
}

} // namespace

result<drain_report> drain_subscription(const config::pipeline_config& cfg, std::string_view name,
                                        const drain_options& o, std::string& error) {
  const auto began = std::chrono::steady_clock::now();
  const auto* s = find_subscription(cfg, name);
  if (!s) {
    error =
        fmt::format("no subscription named '{}' in the configuration; {}", name, known_names(cfg));
    return fail(queue::errc::invalid_argument);
  }
  std::string why;
  auto attached = queue::attach(cfg, s->name, start_of(*s), why);
  if (!attached) {
    error = fmt::format("subscription {}: {}", s->name, why);
    return fail(attached.error());
  }
  auto& sub = attached->sub;
  // The target: what was durable once the subscription was held.
  const queue::position until = attached->durable;
  auto sink = open_sink(*s);
  if (!sink) {
    error = fmt::format("subscription {} (line {}): cannot open its {} sink {}: {}", s->name,
                        s->line, s->sink_type(), sink_target(*s), sink.error().message());
    return fail(sink.error());
  }
  drain_report rep;
  rep.from = sub->committed();
  const std::uint64_t max = o.max.value_or(std::numeric_limits<std::uint64_t>::max());
  const std::uint64_t total = std::min(until > rep.from ? until - rep.from : 0, max);
  delivery d(delivery_options_of(cfg, *s), std::move(sub), std::move(*sink));
  std::function<void(std::uint64_t)> progress;
  if (o.progress)
    progress = [&](std::uint64_t done) { o.progress(done, total); };
  auto to = d.drain_until(until, max, o.cancel, progress);
  const auto& c = d.counters();
  rep.delivered = c.delivered.load();
  rep.filtered = c.filtered.load();
  rep.dead_lettered = c.dead_lettered.load();
  rep.to = static_cast<queue::position>(c.committed.load());
  rep.cancelled = o.cancel && o.cancel->load();
  rep.took = std::chrono::steady_clock::now() - began;
  if (!to) {
    error = fmt::format("subscription {}: the drain failed at position {}: {}", s->name, rep.to,
                        to.error().message());
    return fail(to.error());
  }
  return rep;
}

} // namespace sluice::pipeline
