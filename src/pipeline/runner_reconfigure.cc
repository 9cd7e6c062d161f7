// runner::reconfigure and runner::reconnect_sources: a running pipeline takes a new configuration
// (HUP) or reconnects its sources (USR1) without stopping what did not change.

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pipeline/runner.h"
#include "sources/http_source.h"

namespace sluice::pipeline {
namespace {

template <class T> const T* by_name(const std::vector<T>& items, const std::string& name) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& i) { return i.name == name; });
  return it == items.end() ? nullptr : &*it;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : ", ") + p;
  return out;
}

} // namespace

void runner::retire_source(std::size_t i) {
  sources_[i]->stop();
  // Handlers of a stopped source may still be queued on the I/O threads: it is destroyed with
  // the runner, after they ended.
  retired_sources_.push_back(std::move(sources_[i]));
  sources_.erase(sources_.begin() + static_cast<std::ptrdiff_t>(i));
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
    const auto& name = deliveries_[i]->name();
    const auto* now = by_name(next.subscriptions, name);
    const auto* before = by_name(cfg_.subscriptions, name);
    if (now != nullptr && before != nullptr && *now == *before && now->continuous) {
      ++i;
      continue;
    }
    deliveries_[i]->stop(deadline);
    deliveries_.erase(deliveries_.begin() + static_cast<std::ptrdiff_t>(i));
    if (now == nullptr || !now->continuous)
      done.push_back(fmt::format("subscription {} stopped", name));
  }
  for (const auto& s : next.subscriptions) {
    const auto* before = by_name(cfg_.subscriptions, s.name);
    bool running = std::any_of(deliveries_.begin(), deliveries_.end(),
                               [&](const auto& d) { return d->name() == s.name; });
    if (running)
      continue;
    if (!s.continuous) {
      if (before == nullptr) {
        // A new drain subscription: its cursor, created and let go, holds retention.
        (void)queue_->subscribe(s.name, start_of(s));
        done.push_back(fmt::format("subscription {} added (deliver = \"drain\")", s.name));
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
                               before == nullptr ? "added" : "restarted with its new settings"));
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
    auto* http = dynamic_cast<sources::http_source*>(sources_[i].get());
    if (now != nullptr && before != nullptr && http != nullptr &&
        http->state() != sources::source_state::failed &&
        sources::request_change_only(*before, *now)) {
      http->change_request(std::get<config::http_source>(now->settings));
      done.push_back(fmt::format("source {} switches to its new request settings", name));
      ++i;
      continue;
    }
    retire_source(i);
    if (now == nullptr)
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
    if (auto r = (*src)->start(io_); !r) {
      failed.push_back(fmt::format("source {}: cannot start: {}", s.name, r.error().message()));
      continue;
    }
    sources_.push_back(std::move(*src));
    done.push_back(fmt::format("source {} {}", s.name,
                               before == nullptr ? "added" : "restarted with its new settings"));
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

std::size_t runner::reconnect_sources() {
  if (!started_ || stopped_)
    return 0;
  std::size_t n = 0;
  auto configs = cfg_.sources;
  for (const auto& s : configs) {
    auto it = std::find_if(sources_.begin(), sources_.end(),
                           [&](const auto& src) { return src->name() == s.name; });
    if (it == sources_.end())
      continue;
    // An http source opens a second connection and switches once it delivers: no gap.
    if (auto* http = dynamic_cast<sources::http_source*>(it->get());
        http != nullptr && http->state() != sources::source_state::failed) {
      http->change_request(std::get<config::http_source>(s.settings));
      ++n;
      continue;
    }
    retire_source(static_cast<std::size_t>(it - sources_.begin()));
    auto src = sources::make_source(s, *queue_, cfg_.data_dir);
    if (!src) {
      spdlog::warn("source {}: cannot reconnect: {}", s.name, src.error().message());
      continue;
    }
    if (auto r = (*src)->start(io_); !r) {
      spdlog::warn("source {}: cannot reconnect: {}", s.name, r.error().message());
      continue;
    }
    sources_.push_back(std::move(*src));
    ++n;
  }
  return n;
}

} // namespace sluice::pipeline
