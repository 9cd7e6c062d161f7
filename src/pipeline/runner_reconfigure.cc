// runner::reconfigure and runner::reconnect_sources: a running pipeline takes a new configuration
// (HUP) or reconnects its sources (USR1) without stopping what did not change.

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pipeline/runner.h"
#include "queue/errc.h"

namespace sluice::pipeline {
namespace {

using config::by_name;

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : ", ") + p;
  return out;
}

} // namespace

void runner::retire_source(std::size_t i) {
  sources_[i]->stop();
  auto counted = status_of(*sources_[i]);
  auto& carried = carried_[counted.name];
  carried.name = counted.name;
  add_counts(carried, counted);
  // Handlers of a stopped source may still be queued on the I/O threads: it is destroyed with
  // the runner, after they ended.
  retired_sources_.push_back(std::move(sources_[i]));
  sources_.erase(sources_.begin() + static_cast<std::ptrdiff_t>(i));
}

void runner::retire_delivery(std::size_t i, std::chrono::steady_clock::time_point deadline) {
  auto& d = *deliveries_[i];
  d.stop(deadline);
  add_counts(carried_subscriptions_[d.name()], counts_of(d));
  deliveries_.erase(deliveries_.begin() + static_cast<std::ptrdiff_t>(i));
}

bool runner::reconfigure(const config::pipeline_config& next, std::string& what) {
  if (!started_ || stopped_) {
    what = "the pipeline is not running";
    return false;
  }
  if (next.data_dir != cfg_.data_dir || !(next.queue == cfg_.queue)) {
    what = "data_dir or [queue] changed, which takes a restart (sluice restart)";
    return false;
  }
  std::vector<std::string> done;
  std::vector<std::string> failed;
  auto deadline = std::chrono::steady_clock::now() + cfg_.shutdown_timeout;

  // Subscriptions: stop those removed or changed, then start those added or changed.
  for (std::size_t i = 0; i < deliveries_.size();) {
    const std::string name = deliveries_[i]->name();
    const auto* now = by_name(next.subscriptions, name);
    const auto* before = by_name(cfg_.subscriptions, name);
    if (now != nullptr && before != nullptr && *now == *before && now->continuous && !now->paused) {
      ++i;
      continue;
    }
    retire_delivery(i, deadline);
    if (now == nullptr || !now->continuous)
      done.push_back(fmt::format("subscription {} stopped", name));
    else if (now->paused)
      done.push_back(fmt::format("subscription {} paused", name));
  }
  for (const auto& s : cfg_.subscriptions)
    if (by_name(next.subscriptions, s.name) == nullptr)
      carried_subscriptions_.erase(s.name); // removed: its counts start over if it comes back
  for (const auto& s : next.subscriptions) {
    const auto* before = by_name(cfg_.subscriptions, s.name);
    bool running = std::any_of(deliveries_.begin(), deliveries_.end(),
                               [&](const auto& d) { return d->name() == s.name; });
    if (running)
      continue;
    if (!s.continuous || s.paused) {
      if (before == nullptr) {
        // A new drain or paused subscription: its cursor, created and let go, holds retention.
        (void)queue_->subscribe(s.name, start_of(s));
        done.push_back(fmt::format("subscription {} added ({})", s.name,
                                   s.paused ? "paused" : "deliver = \"drain\""));
      }
      continue;
    }
    std::string error;
    auto d = make_delivery(next, s, error);
    if (!d) {
      failed.push_back(error);
      continue;
    }
    (*d)->start();
    deliveries_.push_back(std::move(*d));
    done.push_back(fmt::format("subscription {} {}", s.name,
                               before == nullptr             ? "added"
                               : before->paused && !s.paused ? "resumed"
                                                             : "restarted with its new settings"));
  }

  // Sources, the same way.
  for (std::size_t i = 0; i < sources_.size();) {
    const auto& name = sources_[i]->name();
    const auto* now = by_name(next.sources, name);
    const auto* before = by_name(cfg_.sources, name);
    if (now != nullptr && before != nullptr && *now == *before) {
      ++i;
      continue;
    }
    // An http source takes a change of its request alone without a gap.
    if (now != nullptr && before != nullptr && sources_[i]->take_change(*before, *now)) {
      done.push_back(fmt::format("source {} switches to its new request settings", name));
      ++i;
      continue;
    }
    retire_source(i);
    if (now == nullptr || !now->enabled)
      done.push_back(fmt::format("source {} stopped", name));
  }
  for (const auto& s : next.sources) {
    bool running = std::any_of(sources_.begin(), sources_.end(),
                               [&](const auto& src) { return src->name() == s.name; });
    if (running)
      continue;
    const auto* before = by_name(cfg_.sources, s.name);
    auto src = sources::make_source(s, *queue_, next.data_dir);
    if (!src) {
      failed.push_back(
          fmt::format("source {} (line {}): {}", s.name, s.line, src.error().message()));
      continue;
    }
    if (s.enabled) {
      if (auto r = (*src)->start(io_); !r) {
        failed.push_back(fmt::format("source {}: cannot start: {}", s.name, r.error().message()));
        continue;
      }
    }
    sources_.push_back(std::move(*src));
    if (s.enabled)
      done.push_back(fmt::format("source {} {}", s.name,
                                 before == nullptr  ? "added"
                                 : !before->enabled ? "started"
                                                    : "restarted with its new settings"));
    else if (before == nullptr)
      done.push_back(fmt::format("source {} added (enabled = false)", s.name));
  }

  if (!(next.shutdown_timeout == cfg_.shutdown_timeout))
    done.push_back("shutdown_timeout changed");
  if (!(next.daemon == cfg_.daemon) || !(next.hooks == cfg_.hooks) || !(next.tasks == cfg_.tasks))
    done.push_back("[daemon], [hooks] or [tasks] changed");
  cfg_ = next;
  if (!failed.empty()) {
    what = fmt::format("applied with errors: {}; {}", join(failed),
                       done.empty() ? "nothing else changed" : join(done));
    return true;
  }
  what = done.empty() ? "the configuration did not change" : join(done);
  return true;
}

bool runner::restart_source(const std::string& name) {
  if (!started_ || stopped_)
    return false;
  const auto* cfg = by_name(cfg_.sources, name);
  auto it = std::find_if(sources_.begin(), sources_.end(),
                         [&](const auto& src) { return src->name() == name; });
  if (cfg == nullptr || !cfg->enabled || it == sources_.end())
    return false;
  // An http source opens a second connection and switches once it delivers: no gap.
  if ((*it)->reconnect_in_place())
    return true;
  retire_source(static_cast<std::size_t>(it - sources_.begin()));
  auto src = sources::make_source(*cfg, *queue_, cfg_.data_dir);
  if (!src) {
    spdlog::warn("source {}: cannot reconnect: {}", name, src.error().message());
    return false;
  }
  if (auto r = (*src)->start(io_); !r) {
    spdlog::warn("source {}: cannot reconnect: {}", name, r.error().message());
    return false;
  }
  sources_.push_back(std::move(*src));
  return true;
}

std::size_t runner::reconnect_sources() {
  std::size_t n = 0;
  auto configs = cfg_.sources;
  for (const auto& s : configs)
    if (restart_source(s.name))
      ++n;
  return n;
}

result<void> runner::rewind(const std::string& name, queue::position first, std::string& error) {
  const auto* cfg = by_name(cfg_.subscriptions, name);
  if (cfg == nullptr) {
    error = fmt::format("no subscription {}", name);
    return fail(queue::errc::invalid_argument);
  }
  auto deadline = std::chrono::steady_clock::now() + cfg_.shutdown_timeout;
  auto it = std::find_if(deliveries_.begin(), deliveries_.end(),
                         [&](const auto& d) { return d->name() == name; });
  bool was_running = it != deliveries_.end();
  if (was_running)
    retire_delivery(static_cast<std::size_t>(it - deliveries_.begin()), deadline);
  auto restart = [&]() -> result<void> {
    if (!was_running)
      return {};
    std::string why;
    auto d = make_delivery(cfg_, *cfg, why);
    if (!d) {
      error = error.empty() ? why : error + "; " + why;
      return fail(d.error());
    }
    (*d)->start();
    deliveries_.push_back(std::move(*d));
    return {};
  };
  // The queue refuses while a drain holds the subscription: its cursor moves under no reader.
  auto target = first == 0 ? 0 : first - 1;
  if (auto w = queue_->set_cursor(name, target); !w) {
    error = fmt::format("subscription {}: cannot move its cursor: {}", name, w.error().message());
    (void)restart();
    return fail(w.error());
  }
  spdlog::info("subscription {}: rewound to position {}", name, first);
  return restart();
}

result<void> runner::forget_cursor(const std::string& name, std::string& error) {
  if (by_name(cfg_.subscriptions, name) != nullptr) {
    error = fmt::format("subscription {} is still configured", name);
    return fail(queue::errc::invalid_argument);
  }
  if (auto f = queue_->forget_subscription(name); !f) {
    error = fmt::format("subscription {}: cannot delete its cursor: {}", name, f.error().message());
    return fail(f.error());
  }
  return {};
}

} // namespace sluice::pipeline
