#include "api/routes.h"

#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "api/render.h"
#include "api/token.h"
#include "metrics/prometheus.h"

namespace sluice::api {
namespace {

using nlohmann::json;

struct route_info {
  std::string_view methods;
  std::string_view path;
  std::string_view what;
};

constexpr route_info k_routes[] = {
    {"GET", "/", "this list (text/plain when asked)"},
    {"GET", "/healthz", "the process is alive"},
    {"GET", "/readyz", "sources started and queue open (503 while starting or draining)"},
    {"GET", "/meta.json", "counts, rates, sources, queue and subscriptions"},
    {"GET", "/metrics", "the same for Prometheus"},
    {"GET", "/queue.json", "segments, positions, watermark, cursors"},
    {"GET", "/streams.json", "every stream"},
    {"GET PUT", "/streams/NAME.json", "a stream; PUT replaces the given parameters"},
    {"GET POST PUT DELETE", "/streams/NAME/KEY.json",
     "a parameter's values; PUT sets (values=), POST adds (values= or add=/remove=), DELETE "
     "removes (values=, or the whole parameter)"},
    {"POST", "/streams/NAME/restart", "reconnect (without a gap for http)"},
    {"POST", "/streams/NAME/stop", "stop the stream (persisted)"},
    {"POST", "/streams/NAME/start", "start it again (persisted)"},
    {"GET POST", "/subscriptions.json", "every subscription; POST creates one"},
    {"GET DELETE", "/subscriptions/NAME.json", "a subscription; DELETE removes one the API made"},
    {"POST", "/subscriptions/NAME/pause", "stop delivering, keep the cursor (persisted)"},
    {"POST", "/subscriptions/NAME/resume", "deliver again"},
    {"POST", "/subscriptions/NAME/rewind",
     "{\"to\": \"beginning\" | \"end\" | POSITION | \"RFC 3339 time\"}"},
};

int hex(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      int a = i + 1 < s.size() ? hex(s[i + 1]) : -1;
      int b = i + 2 < s.size() ? hex(s[i + 2]) : -1;
      if (a < 0 || b < 0)
        return std::nullopt;
      out += static_cast<char>(a * 16 + b);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// Query (or form) parameters; a repeated key keeps every value.
std::optional<std::multimap<std::string, std::string>> parse_query(std::string_view q) {
  std::multimap<std::string, std::string> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto k = url_decode(part.substr(0, eq));
    auto v = url_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!k || !v)
      return std::nullopt;
    out.emplace(*k, *v);
  }
  return out;
}

std::vector<std::string> split_values(const std::string& s) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= s.size()) {
    auto comma = s.find(',', at);
    auto v = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    while (!v.empty() && v.front() == ' ')
      v.erase(v.begin());
    while (!v.empty() && v.back() == ' ')
      v.pop_back();
    if (!v.empty())
      out.push_back(v);
    if (comma == std::string::npos)
      break;
    at = comma + 1;
  }
  return out;
}

response to_response(const outcome& o, unsigned version) {
  return json_response(o.status, o.body.dump(), version);
}

response error(http::status s, std::string_view message, const json& detail = nullptr,
               unsigned version = 11) {
  return json_response(s,
                       detail.is_null() ? json{{"error", message}}.dump()
                                        : json{{"error", message}, {"detail", detail}}.dump(),
                       version);
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 128)
    return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  return true;
}

/// The request being routed.
class route {
public:
  route(const route_context& ctx, exchange& ex, std::function<void(response)> reply)
      : ctx_(ctx), ex_(ex), reply_(std::move(reply)) {
    auto target = std::string_view(ex.req.target());
    auto q = target.find('?');
    path_ = target.substr(0, q);
    query_text_ = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    method_ = ex.req.method();
  }

  void run();

private:
  void answer(response r) { reply_(std::move(r)); }
  void fail(http::status s, std::string_view message, const json& detail = nullptr) {
    answer(error(s, message, detail, ex_.req.version()));
  }
  void ok(const json& body, http::status s = http::status::ok) {
    answer(json_response(s, body.dump(), ex_.req.version()));
  }
  bool method_is(std::initializer_list<http::verb> allowed, std::string_view allow_header) {
    for (auto m : allowed)
      if (method_ == m)
        return true;
    auto r = error(http::status::method_not_allowed,
                   fmt::format("{} is not allowed on {}", std::string(http::to_string(method_)),
                               std::string(path_)),
                   json{{"allow", allow_header}}, ex_.req.version());
    r.set(http::field::allow, allow_header);
    answer(std::move(r));
    return false;
  }
  /// The token check for a change (and, from a non-loopback peer, for any route).
  bool authorized(bool changes) {
    bool needed = changes || !ex_.trusted;
    if (!needed)
      return true;
    if (!ctx_.token) {
      if (ex_.trusted)
        return true;
      fail(http::status::forbidden,
           "no token is configured: only loopback clients may use the API");
      return false;
    }
    auto header = ex_.req[http::field::authorization];
    if (header.empty()) {
      auto r = error(http::status::unauthorized, "this route needs Authorization: Bearer TOKEN",
                     nullptr, ex_.req.version());
      r.set(http::field::www_authenticate, "Bearer realm=\"sluice\"");
      answer(std::move(r));
      return false;
    }
    if (!bearer_matches(std::string_view(header.data(), header.size()), *ctx_.token)) {
      fail(http::status::forbidden, "wrong token");
      return false;
    }
    return true;
  }
  std::shared_ptr<const view> current() {
    auto v = ctx_.views->current();
    if (!v)
      fail(http::status::service_unavailable, "starting: the pipeline is not running yet");
    return v;
  }
  /// Runs `fn` on the main thread and answers with its outcome.
  void change(std::function<outcome(control&)> fn) {
    auto reply = std::make_shared<std::function<void(response)>>(std::move(reply_));
    unsigned version = ex_.req.version();
    ctx_.commands->post(
        [fn = std::move(fn), reply, version](control& c) { (*reply)(to_response(fn(c), version)); },
        [reply, version] {
          (*reply)(error(http::status::service_unavailable,
                         "the daemon is stopping: no changes now", nullptr, version));
        });
  }
  std::optional<json> body_json() {
    try {
      if (ex_.req.body().empty())
        return json::object();
      return json::parse(ex_.req.body());
    } catch (const json::exception& e) {
      fail(http::status::bad_request, "malformed JSON body", e.what());
      return std::nullopt;
    }
  }
  /// Query parameters, and form fields of an x-www-form-urlencoded body (Flamingo's clients).
  std::optional<std::multimap<std::string, std::string>> params() {
    auto q = parse_query(query_text_);
    if (!q) {
      fail(http::status::bad_request, "malformed query string");
      return std::nullopt;
    }
    auto type = ex_.req[http::field::content_type];
    if (type.starts_with("application/x-www-form-urlencoded")) {
      auto f = parse_query(ex_.req.body());
      if (!f) {
        fail(http::status::bad_request, "malformed form body");
        return std::nullopt;
      }
      q->insert(f->begin(), f->end());
    }
    return q;
  }
  bool only_params(const std::multimap<std::string, std::string>& p,
                   std::set<std::string> allowed) {
    for (const auto& [k, _] : p)
      if (!allowed.contains(k)) {
        fail(http::status::bad_request, fmt::format("unknown parameter \"{}\"", k),
             json{{"allowed", allowed}});
        return false;
      }
    return true;
  }

  void index();
  void streams(std::string_view rest);
  void stream_key(const std::string& name, const std::string& key);
  void subscriptions(std::string_view rest);

  const route_context& ctx_;
  exchange& ex_;
  std::function<void(response)> reply_;
  std::string_view path_;
  std::string_view query_text_;
  http::verb method_;
};

void route::index() {
  if (!method_is({http::verb::get}, "GET"))
    return;
  auto accept = ex_.req[http::field::accept];
  if (accept.find("text/plain") != std::string_view::npos &&
      accept.find("application/json") == std::string_view::npos) {
    std::string text;
    for (const auto& r : k_routes)
      text += fmt::format("{:<20} {:<28} {}\n", r.methods, r.path, r.what);
    response res{http::status::ok, ex_.req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::move(text);
    res.prepare_payload();
    answer(std::move(res));
    return;
  }
  json routes = json::array();
  for (const auto& r : k_routes) {
    json methods = json::array();
    std::string_view m = r.methods;
    while (!m.empty()) {
      auto sp = m.find(' ');
      methods.push_back(std::string(m.substr(0, sp)));
      m = sp == std::string_view::npos ? std::string_view() : m.substr(sp + 1);
    }
    routes.push_back({{"methods", methods}, {"path", r.path}, {"description", r.what}});
  }
  ok(json{{"routes", routes}});
}

void route::run() {
  if (path_ == "/")
    return index();
  if (path_ == "/healthz") {
    if (method_is({http::verb::get, http::verb::head}, "GET, HEAD"))
      ok(json{{"status", "alive"}});
    return;
  }
  if (path_ == "/readyz") {
    if (!method_is({http::verb::get, http::verb::head}, "GET, HEAD"))
      return;
    if (ctx_.views->draining())
      return fail(http::status::service_unavailable, "draining");
    if (!ctx_.views->ready())
      return fail(http::status::service_unavailable, "starting");
    return ok(json{{"status", "ready"}});
  }
  if (!authorized(method_ != http::verb::get && method_ != http::verb::head))
    return;
  if (path_ == "/meta.json") {
    if (!method_is({http::verb::get}, "GET"))
      return;
    if (auto v = current())
      ok(meta_json(*v, *ctx_.views, ctx_.host, ctx_.pid));
    return;
  }
  if (path_ == "/metrics") {
    if (!method_is({http::verb::get}, "GET"))
      return;
    auto v = current();
    if (!v)
      return;
    response res{http::status::ok, ex_.req.version()};
    res.set(http::field::content_type, metrics::k_prometheus_content_type);
    res.body() = metrics::render_prometheus(families(*v, *ctx_.views, ctx_.stats));
    res.prepare_payload();
    return answer(std::move(res));
  }
  if (path_ == "/queue.json") {
    if (!method_is({http::verb::get}, "GET"))
      return;
    if (auto v = current())
      ok(queue_json(*v));
    return;
  }
  if (path_ == "/streams.json") {
    if (!method_is({http::verb::get}, "GET"))
      return;
    auto v = current();
    if (!v)
      return;
    json all = json::array();
    for (const auto& s : v->cfg.sources)
      all.push_back(stream_json(*v, s, v->api_streams.contains(s.name)));
    return ok(json{{"streams", all}});
  }
  if (path_.starts_with("/streams/"))
    return streams(path_.substr(9));
  if (path_ == "/subscriptions.json" || path_.starts_with("/subscriptions/"))
    return subscriptions(path_.substr(14));
  fail(http::status::not_found, fmt::format("no route {}", std::string(path_)),
       json{{"routes", "GET / lists them"}});
}

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
  const config::source_config* cfg = nullptr;
  for (const auto& s : v->cfg.sources)
    if (s.name == name)
      cfg = &s;
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
    static const std::set<std::string> known = {
        "track", "follow", "locations", "language", "filter_level", "stall_warnings", "delimited"};
    const auto* h = std::get_if<config::http_source>(&cfg->settings);
    for (const auto& [k, _] : set) {
      bool has = h != nullptr && std::any_of(h->params.begin(), h->params.end(),
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
  const config::http_source* h = nullptr;
  for (const auto& s : v->cfg.sources)
    if (s.name == name)
      h = std::get_if<config::http_source>(&s.settings);
  if (h == nullptr)
    return fail(http::status::conflict,
                fmt::format("stream {} is not an http stream: it has no parameters", name));
  std::vector<std::string> current_values;
  bool exists = false;
  for (const auto& [k, values] : h->params)
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
    static const std::set<std::string> known = {
        "track", "follow", "locations", "language", "filter_level", "stall_warnings", "delimited"};
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

void route::subscriptions(std::string_view rest) {
  if (path_ == "/subscriptions.json") {
    if (!method_is({http::verb::get, http::verb::post}, "GET, POST"))
      return;
    if (method_ == http::verb::get) {
      auto v = current();
      if (!v)
        return;
      json all = json::array();
      for (const auto& s : v->cfg.subscriptions)
        all.push_back(subscription_json(*v, s));
      return ok(json{{"subscriptions", all}});
    }
    auto body = body_json();
    if (!body)
      return;
    if (!body->is_object())
      return fail(http::status::bad_request, "expected a JSON object");
    return change([b = *body](control& c) { return c.add_subscription(b); });
  }
  // "/NAME.json" or "/NAME/pause|resume|rewind"
  rest.remove_prefix(1);
  auto slash = rest.find('/');
  std::string name(rest.substr(0, slash));
  std::string tail = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  if (slash == std::string_view::npos) {
    if (!name.ends_with(".json"))
      return fail(http::status::not_found, fmt::format("no route {}", std::string(path_)));
    name.resize(name.size() - 5);
  }
  if (!valid_name(name))
    return fail(http::status::not_found, fmt::format("no subscription {}", name));
  auto v = current();
  if (!v)
    return;
  const config::subscription_config* cfg = nullptr;
  for (const auto& s : v->cfg.subscriptions)
    if (s.name == name)
      cfg = &s;
  if (cfg == nullptr)
    return fail(http::status::not_found, fmt::format("no subscription {}", name));
  if (slash == std::string_view::npos) {
    if (!method_is({http::verb::get, http::verb::delete_}, "GET, DELETE"))
      return;
    if (method_ == http::verb::get)
      return ok(subscription_json(*v, *cfg));
    return change([name](control& c) { return c.delete_subscription(name); });
  }
  if (tail != "pause" && tail != "resume" && tail != "rewind")
    return fail(http::status::not_found, fmt::format("no route {}", std::string(path_)));
  if (!method_is({http::verb::post}, "POST"))
    return;
  if (tail == "rewind") {
    auto body = body_json();
    if (!body)
      return;
    if (!body->is_object() || !body->contains("to"))
      return fail(http::status::bad_request,
                  "expected {\"to\": \"beginning\" | \"end\" | POSITION | \"RFC 3339 time\"}");
    for (const auto& [k, _] : body->items())
      if (k != "to")
        return fail(http::status::bad_request, fmt::format("unknown key \"{}\"", k));
    return change([name, to = (*body)["to"]](control& c) { return c.rewind(name, to); });
  }
  bool pause = tail == "pause";
  change([name, pause](control& c) { return c.set_paused(name, pause); });
}

} // namespace

void handle_request(const route_context& ctx, exchange& ex, std::function<void(response)> reply) {
  route r(ctx, ex, std::move(reply));
  r.run();
}

} // namespace sluice::api
