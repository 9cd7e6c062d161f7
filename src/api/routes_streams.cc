// The stream routes: /streams/NAME.json, /streams/NAME/KEY.json (Flamingo's), restart, stop and
// start.

#include <algorithm>

#include "api/render.h"
#include "api/route.h"

namespace sluice::api::detail {

void route::streams(std::string_view rest) {
  // NAME.json | NAME/KEY.json | NAME/restart|stop|start
  auto slash = rest.find('/');
  std::string name(rest.substr(0, slash));
  std::string tail = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  if (slash == std::string_view::npos) {
    if (!name.ends_with(".json"))
      return fail(http::status::not_found, fmt::format("no route {}", std::string(path_)));
    name.resize(name.size() - 5);
  }
  auto v = current();
  if (!v)
    return;
  const auto* cfg = config::by_name(v->cfg.sources, name);
  if (cfg == nullptr)
    return fail(http::status::not_found, fmt::format("no stream {}", name));
  if (slash == std::string_view::npos) {
    if (!method_is({http::verb::get, http::verb::put}, "GET, PUT"))
      return;
    if (method_ == http::verb::get)
      return ok(stream_json(*v, *cfg, v->api_streams.contains(name)));
    // PUT: parameters from a JSON object body {"track": [...]} or from the query/form.
    std::map<std::string, std::vector<std::string>> set;
    if (ex_.req[http::field::content_type].starts_with("application/json")) {
      auto body = body_json();
      if (!body)
        return;
      auto object = body->contains("params") ? (*body)["params"] : *body;
      if (!object.is_object())
        return fail(http::status::bad_request, "expected an object of parameters");
      for (const auto& [k, val] : object.items()) {
        if (val.is_string())
          set[k] = split_values(val.get<std::string>());
        else if (val.is_array() &&
                 std::all_of(val.begin(), val.end(), [](const json& e) { return e.is_string(); }))
          set[k] = val.get<std::vector<std::string>>();
        else
          return fail(http::status::bad_request,
                      fmt::format("parameter \"{}\": expected a string or a list of strings", k));
      }
    } else {
      auto p = params();
      if (!p)
        return;
      for (const auto& [k, val] : *p)
        for (auto& one : split_values(val))
          set[k].push_back(one);
    }
    const auto& known = known_stream_params();
    const auto current = cfg->settings.entries("params");
    for (const auto& [k, _] : set) {
      bool has = std::any_of(current.begin(), current.end(),
                             [&](const auto& p) { return p.first == k; });
      if (!has && !known.contains(k))
        return fail(http::status::bad_request, fmt::format("unknown stream parameter \"{}\"", k),
                    json{{"known", known}});
    }
    return change([name, set](control& c) { return c.set_stream_params(name, set); });
  }
  if (tail == "restart" || tail == "stop" || tail == "start") {
    if (!method_is({http::verb::post}, "POST"))
      return;
    if (tail == "restart")
      return change([name](control& c) { return c.restart_stream(name); });
    bool enable = tail == "start";
    return change([name, enable](control& c) { return c.set_stream_enabled(name, enable); });
  }
  if (!tail.ends_with(".json") || tail.size() <= 5 || tail.find('/') != std::string::npos)
    return fail(http::status::not_found, fmt::format("no route {}", std::string(path_)));
  stream_key(name, tail.substr(0, tail.size() - 5));
}

void route::stream_key(const std::string& name, const std::string& key) {
  if (!method_is({http::verb::get, http::verb::post, http::verb::put, http::verb::delete_},
                 "GET, POST, PUT, DELETE"))
    return;
  auto v = current();
  if (!v)
    return;
  const auto* s = config::by_name(v->cfg.sources, name);
  if (s == nullptr || !s->has_params())
    return fail(http::status::conflict,
                fmt::format("stream {} is not an http stream: it has no parameters", name));
  std::vector<std::string> current_values;
  bool exists = false;
  for (const auto& [k, values] : s->settings.entries("params"))
    if (k == key) {
      current_values = values;
      exists = true;
    }
  auto p = params();
  if (!p)
    return;
  if (method_ == http::verb::get) {
    if (!only_params(*p, {}))
      return;
    if (!exists)
      return fail(http::status::not_found, fmt::format("stream {} has no parameter {}", name, key));
    return ok(json{{"name", name}, {"key", key}, {"values", current_values}});
  }
  if (!only_params(*p, {"values", "add", "remove"}))
    return;
  auto gather = [&](const char* k) {
    std::vector<std::string> out;
    auto [a, b] = p->equal_range(k);
    for (auto it = a; it != b; ++it)
      for (auto& one : split_values(it->second))
        out.push_back(one);
    return out;
  };
  auto values = gather("values");
  auto add = gather("add");
  auto remove = gather("remove");
  bool has_values = p->count("values") > 0;
  std::vector<std::string> next = current_values;
  auto add_all = [&](const std::vector<std::string>& vs) {
    for (const auto& x : vs)
      if (std::find(next.begin(), next.end(), x) == next.end())
        next.push_back(x);
  };
  auto remove_all = [&](const std::vector<std::string>& vs) {
    std::erase_if(
        next, [&](const std::string& x) { return std::find(vs.begin(), vs.end(), x) != vs.end(); });
  };
  if (method_ == http::verb::put) {
    if (!has_values)
      return fail(http::status::bad_request, "PUT needs values= (the new values, comma separated)");
    next.clear();
    add_all(values);
  } else if (method_ == http::verb::post) {
    if (!has_values && add.empty() && remove.empty())
      return fail(http::status::bad_request, "POST needs values= or add=/remove=");
    add_all(values);
  } else { // DELETE
    if (!exists)
      return fail(http::status::not_found, fmt::format("stream {} has no parameter {}", name, key));
    if (has_values)
      remove_all(values);
    else
      next.clear();
  }
  add_all(add);
  remove_all(remove);
  if (!exists) {
    const auto& known = known_stream_params();
    if (!known.contains(key))
      return fail(http::status::bad_request, fmt::format("unknown stream parameter \"{}\"", key),
                  json{{"known", known}});
  }
  std::map<std::string, std::vector<std::string>> set{{key, next}};
  change([name, key, set](control& c) {
    auto o = c.set_stream_params(name, set);
    if (o.status != http::status::ok)
      return o;
    return outcome{http::status::ok,
                   json{{"name", name}, {"key", key}, {"values", set.begin()->second}}};
  });
}

} // namespace sluice::api::detail
