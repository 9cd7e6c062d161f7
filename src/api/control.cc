#include "api/control.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/render.h"
#include "base/name.h"
#include "config/config_error.h"
#include "config/tables.h"

namespace sluice::api {
namespace {

using config::by_name;

using nlohmann::json;

// A sink path from a request: relative, inside the data directory, made absolute.
std::optional<std::string> inside_data_dir(const std::filesystem::path& data_dir,
                                           const std::string& given, std::string& error) {
  std::filesystem::path p(given);
  if (given.empty() || p.is_absolute()) {
    error = fmt::format("\"{}\": a sink path must be relative to the data directory", given);
    return std::nullopt;
  }
  for (const auto& part : p)
    if (part == "..") {
      error = fmt::format("\"{}\": a sink path may not leave the data directory", given);
      return std::nullopt;
    }
  return (std::filesystem::absolute(data_dir) / p).lexically_normal().string();
}

} // namespace

outcome error_outcome(http::status status, std::string message, json detail) {
  json j = {{"error", std::move(message)}};
  if (!detail.is_null())
    j["detail"] = std::move(detail);
  return {status, std::move(j)};
}

control::control(pipeline::runner& r, config::document file, overlay o, board& b)
    : runner_(r), file_(std::move(file)), overlay_(std::move(o)),
      overlay_file_(overlay_path(r.config().data_dir)), board_(b) {}

void control::publish() {
  std::set<std::string> api_subs;
  for (const auto& [name, _] : overlay_.subscriptions)
    api_subs.insert(name);
  std::set<std::string> api_streams;
  for (const auto& [name, _] : overlay_.streams)
    api_streams.insert(name);
  board_.publish(views_.make(runner_, std::move(api_subs), std::move(api_streams)));
}

bool control::apply(overlay next, std::string& error) {
  std::vector<std::string> dropped;
  config::pipeline_config eff;
  try {
    eff = effective_config(file_, next, dropped);
  } catch (const config::config_exception& e) {
    error = config::format_errors(e.errors(), e.name());
    return false;
  }
  for (const auto& d : dropped)
    spdlog::warn("api: leaving out {}", d);
  auto before = runner_.config();
  std::string what;
  if (!runner_.reconfigure(eff, what)) {
    error = what;
    return false;
  }
  if (what.starts_with("applied with errors")) {
    // Something of the change could not start (a sink that cannot open): back to before.
    std::string back;
    runner_.reconfigure(before, back);
    error = what;
    return false;
  }
  if (auto s = save_overlay(overlay_file_, next, error); !s) {
    std::string back;
    runner_.reconfigure(before, back);
    return false;
  }
  overlay_ = std::move(next);
  spdlog::info("api: {}", what);
  publish();
  return true;
}

outcome control::stream_outcome(const std::string& stream) {
  const auto* s = by_name(runner_.config().sources, stream);
  auto v = board_.current();
  return {http::status::ok, stream_json(*v, *s, v->api_streams.contains(stream))};
}

outcome control::subscription_outcome(const std::string& name, http::status status) {
  const auto* s = by_name(runner_.config().subscriptions, name);
  auto v = board_.current();
  return {status, subscription_json(*v, *s)};
}

outcome control::set_stream_params(const std::string& stream,
                                   const std::map<std::string, std::vector<std::string>>& params) {
  const auto* s = by_name(runner_.config().sources, stream);
  if (s == nullptr)
    return error_outcome(http::status::not_found, fmt::format("no stream {}", stream));
  if (!s->has_params())
    return error_outcome(http::status::conflict,
                         fmt::format("stream {} is a {} source: only http streams have parameters",
                                     stream, s->type()));
  auto next = overlay_;
  for (const auto& [k, values] : params)
    next.streams[stream].params[k] = values;
  std::string error;
  if (!apply(std::move(next), error))
    return error_outcome(http::status::bad_request, "the change was not applied", error);
  return stream_outcome(stream);
}

outcome control::set_stream_enabled(const std::string& stream, bool enabled) {
  const auto* s = by_name(runner_.config().sources, stream);
  if (s == nullptr)
    return error_outcome(http::status::not_found, fmt::format("no stream {}", stream));
  auto next = overlay_;
  next.streams[stream].enabled = enabled;
  std::string error;
  if (!apply(std::move(next), error))
    return error_outcome(
        http::status::internal_server_error,
        fmt::format("stream {} could not be {}", stream, enabled ? "started" : "stopped"), error);
  return stream_outcome(stream);
}

outcome control::restart_stream(const std::string& stream) {
  const auto* s = by_name(runner_.config().sources, stream);
  if (s == nullptr)
    return error_outcome(http::status::not_found, fmt::format("no stream {}", stream));
  if (!s->enabled)
    return error_outcome(http::status::conflict,
                         fmt::format("stream {} is stopped: start it instead", stream));
  if (!runner_.restart_source(stream))
    return error_outcome(http::status::internal_server_error,
                         fmt::format("stream {} could not be restarted (see the log)", stream));
  spdlog::info("api: stream {} restarted", stream);
  publish();
  return stream_outcome(stream);
}

outcome control::add_subscription(const json& body) {
  static const std::set<std::string> known = {"name", "sink", "filter", "start", "batch", "retry"};
  if (!body.is_object())
    return error_outcome(http::status::bad_request, "expected a JSON object");
  for (const auto& [k, _] : body.items())
    if (!known.contains(k))
      return error_outcome(http::status::bad_request, fmt::format("unknown key \"{}\"", k),
                           json{{"known", known}});
  if (!body.contains("name") || !body["name"].is_string())
    return error_outcome(http::status::bad_request, "\"name\" (a string) is required");
  auto name = body["name"].get<std::string>();
  if (!valid_name(name))
    return error_outcome(http::status::bad_request,
                         fmt::format("\"{}\": a name is {}", name, k_name_rule));
  if (by_name(runner_.config().subscriptions, name) != nullptr)
    return error_outcome(http::status::conflict, fmt::format("subscription {} exists", name));
  if (!body.contains("sink") || !body["sink"].is_object())
    return error_outcome(http::status::bad_request,
                         "\"sink\" (an object such as {\"type\":\"eventlog\",\"dir\":\"x\"}) is "
                         "required");
  json table = body;
  table.erase("name");
  const auto& data_dir = runner_.config().data_dir;
  // The sink type's file and directory options stay inside data_dir (the validation of the
  // whole subscription, below, reports an unknown type).
  const auto* kind = table["sink"].contains("type") && table["sink"]["type"].is_string()
                         ? config::sink_types.find(table["sink"]["type"].get<std::string>())
                         : nullptr;
  for (const auto& option : kind == nullptr ? std::span<const config::option>() : kind->options) {
    const std::string key(option.name);
    if (!option.path || !table["sink"].contains(key))
      continue;
    if (!table["sink"][key].is_string())
      return error_outcome(http::status::bad_request,
                           fmt::format("sink.{}: expected a string", key));
    std::string error;
    auto p = inside_data_dir(data_dir, table["sink"][key].get<std::string>(), error);
    if (!p)
      return error_outcome(http::status::bad_request, error);
    table["sink"][key] = *p;
  }
  // start: "beginning" and "end" are the configuration's; a position or a time becomes a
  // cursor written before the delivery first opens it.
  std::optional<queue::position> start_at;
  if (table.contains("start") &&
      !(table["start"].is_string() && (table["start"] == "beginning" || table["start"] == "end"))) {
    auto to = table["start"];
    table.erase("start");
    auto v = board_.current();
    if (to.is_number_unsigned()) {
      start_at = to.get<queue::position>();
    } else if (to.is_string()) {
      auto t = parse_time(to.get<std::string>());
      if (!t)
        return error_outcome(http::status::bad_request,
                             "\"start\": expected \"beginning\", \"end\", a position or an RFC "
                             "3339 time");
      auto p = pipeline::position_at_time(runner_.queue(), *t);
      start_at = p && *p ? **p : runner_.queue().durable_watermark() + 1;
    } else {
      return error_outcome(http::status::bad_request,
                           "\"start\": expected \"beginning\", \"end\", a position or a time");
    }
  }
  std::string error;
  auto as_toml = to_toml_table(table, error);
  if (!as_toml)
    return error_outcome(http::status::bad_request, error);
  auto next = overlay_;
  next.subscriptions[name] = table;
  {
    std::vector<std::string> dropped;
    try {
      (void)effective_config(file_, next, dropped);
    } catch (const config::config_exception& e) {
      return error_outcome(http::status::internal_server_error, "the configuration is invalid",
                           config::format_errors(e.errors(), e.name()));
    }
    for (const auto& d : dropped)
      if (d.starts_with("subscription " + name + " ")) {
        auto colon = d.find(": ");
        return error_outcome(http::status::bad_request, "invalid subscription",
                             colon == std::string::npos ? d : d.substr(colon + 2));
      }
  }
  if (start_at) {
    // The subscription is new (no cursor of that name may exist once it was deleted, see
    // delete_subscription), so this cursor is where it starts.
    auto w = runner_.queue().set_cursor(name, *start_at == 0 ? 0 : *start_at - 1);
    if (!w)
      return error_outcome(
          http::status::internal_server_error,
          fmt::format("cannot write the cursor of {}: {}", name, w.error().message()));
  }
  if (!apply(std::move(next), error))
    return error_outcome(http::status::bad_request, "the subscription was not created", error);
  return subscription_outcome(name, http::status::created);
}

outcome control::delete_subscription(const std::string& name) {
  if (by_name(runner_.config().subscriptions, name) == nullptr)
    return error_outcome(http::status::not_found, fmt::format("no subscription {}", name));
  if (!overlay_.subscriptions.contains(name))
    return error_outcome(http::status::conflict,
                         fmt::format("subscription {} is defined in the configuration file: "
                                     "remove it there and reload (HUP)",
                                     name));
  auto next = overlay_;
  next.subscriptions.erase(name);
  next.paused.erase(name);
  std::string error;
  if (!apply(std::move(next), error))
    return error_outcome(http::status::internal_server_error, "the subscription was not deleted",
                         error);
  if (auto f = runner_.forget_cursor(name, error); !f)
    spdlog::warn("api: subscription {} deleted, its cursor stays: {}", name, error);
  publish();
  return {http::status::ok, json{{"deleted", name}}};
}

outcome control::set_paused(const std::string& name, bool paused) {
  const auto* s = by_name(runner_.config().subscriptions, name);
  if (s == nullptr)
    return error_outcome(http::status::not_found, fmt::format("no subscription {}", name));
  if (!s->continuous)
    return error_outcome(http::status::conflict,
                         fmt::format("subscription {} has deliver = \"drain\": nothing runs to "
                                     "pause or resume",
                                     name));
  auto next = overlay_;
  if (paused)
    next.paused.insert(name);
  else
    next.paused.erase(name);
  std::string error;
  if (!apply(std::move(next), error))
    return error_outcome(
        http::status::internal_server_error,
        fmt::format("subscription {} was not {}", name, paused ? "paused" : "resumed"), error);
  return subscription_outcome(name);
}

outcome control::rewind(const std::string& name, const json& to) {
  if (by_name(runner_.config().subscriptions, name) == nullptr)
    return error_outcome(http::status::not_found, fmt::format("no subscription {}", name));
  auto& q = runner_.queue();
  queue::position first = 1;
  if (auto oldest = q.first_position())
    first = *oldest;
  auto end = q.durable_watermark() + 1;
  queue::position target = 0;
  if (to == "beginning") {
    target = first;
  } else if (to == "end") {
    target = end;
  } else if (to.is_number_unsigned()) {
    target = to.get<queue::position>();
    if (target < first || target > end)
      return error_outcome(http::status::bad_request,
                           fmt::format("position {} is not in the queue", target),
                           json{{"first_position", first}, {"end", end}});
  } else if (to.is_string()) {
    auto t = parse_time(to.get<std::string>());
    if (!t)
      return error_outcome(http::status::bad_request,
                           "\"to\": expected \"beginning\", \"end\", a position or an RFC 3339 "
                           "time");
    auto p = pipeline::position_at_time(q, *t);
    if (!p)
      return error_outcome(http::status::internal_server_error, "cannot read the queue",
                           p.error().message());
    if (!*p)
      return error_outcome(
          http::status::bad_request,
          fmt::format("no event in the queue at or after {}", to.get<std::string>()));
    target = **p;
  } else {
    return error_outcome(http::status::bad_request,
                         "\"to\": expected \"beginning\", \"end\", a position or an RFC 3339 time");
  }
  std::string error;
  if (auto r = runner_.rewind(name, target, error); !r)
    return error_outcome(r.error() == queue::errc::subscription_busy
                             ? http::status::conflict
                             : http::status::internal_server_error,
                         "the subscription was not rewound", error);
  publish();
  return subscription_outcome(name);
}

bool control::reload(config::document file, std::string& what) {
  auto previous = std::move(file_);
  file_ = std::move(file);
  std::vector<std::string> dropped;
  config::pipeline_config eff;
  try {
    eff = effective_config(file_, overlay_, dropped);
  } catch (...) {
    file_ = std::move(previous);
    throw;
  }
  for (const auto& d : dropped)
    spdlog::warn("HUP: leaving out {}", d);
  if (!runner_.reconfigure(eff, what)) {
    file_ = std::move(previous);
    return false;
  }
  publish();
  return true;
}

void command_queue::post(std::function<void(control&)> run, std::function<void()> refuse) {
  {
    std::lock_guard lock(mutex_);
    if (!closed_) {
      commands_.push_back({std::move(run), std::move(refuse)});
      wake_();
      return;
    }
  }
  refuse();
}

void command_queue::run_pending(control& c) {
  for (;;) {
    command next;
    {
      std::lock_guard lock(mutex_);
      if (commands_.empty() || closed_)
        return;
      next = std::move(commands_.front());
      commands_.pop_front();
    }
    next.run(c);
  }
}

void command_queue::close() {
  std::deque<command> waiting;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    waiting.swap(commands_);
  }
  for (auto& c : waiting)
    c.refuse();
}

} // namespace sluice::api
