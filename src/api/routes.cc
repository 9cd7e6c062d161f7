#include "api/routes.h"

#include "api/render.h"
#include "api/route.h"
#include "base/url.h"
#include "metrics/prometheus.h"

namespace sluice::api {
namespace detail {
namespace {

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

} // namespace

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

response error(http::status s, std::string_view message, const json& detail, unsigned version) {
  return error_response(s, message, detail.is_null() ? "null" : detail.dump(), version);
}

/// The request being routed.
const std::set<std::string>& known_stream_params() {
  static const std::set<std::string> known = {
      "track", "follow", "locations", "language", "filter_level", "stall_warnings", "delimited"};
  return known;
}

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
  const auto* cfg = config::by_name(v->cfg.subscriptions, name);
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

} // namespace detail

void handle_request(const route_context& ctx, exchange& ex, std::function<void(response)> reply) {
  detail::route r(ctx, ex, std::move(reply));
  r.run();
}

} // namespace sluice::api
