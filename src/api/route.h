#pragma once

// Shared by routes.cc and routes_streams.cc: one request being routed. Not part of the API
// module's interface.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/control.h"
#include "base/name.h"
#include "api/routes.h"
#include "api/token.h"

namespace sluice::api::detail {

using nlohmann::json;

/// Query (or form) parameters; a repeated key keeps every value. nullopt when malformed.
std::optional<std::multimap<std::string, std::string>> parse_query(std::string_view q);
/// "a, b,c" -> {"a", "b", "c"}: comma separated values, blanks trimmed, empty ones left out.
std::vector<std::string> split_values(const std::string& s);
response to_response(const outcome& o, unsigned version);
response error(http::status s, std::string_view message, const nlohmann::json& detail = nullptr,
               unsigned version = 11);
/// Stream parameters the API accepts besides those a stream already has.
const std::set<std::string>& known_stream_params();

/// The request being routed: answers once through `reply`, at once or from the main thread.
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

} // namespace sluice::api::detail
