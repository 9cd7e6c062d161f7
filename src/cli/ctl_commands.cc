#include "cli/ctl_commands.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/units.h"
#include "cli/live_counts.h"
#include "cli/table.h"
#include "cli/verbs.h"
#include "config/tables.h"

namespace sluice::cli {
namespace {

using json = nlohmann::json;

// --- Replies as tables ---------------------------------------------------------------------------

// A JSON value as a cell: strings as they are, counts with separators, nothing as "-".
std::string cell(const json& j) {
  if (j.is_string())
    return j.get<std::string>().empty() ? "-" : j.get<std::string>();
  if (j.is_number_unsigned())
    return format_count(j.get<std::uint64_t>());
  if (j.is_number_integer())
    return j.get<std::int64_t>() < 0 ? std::to_string(j.get<std::int64_t>())
                                     : format_count(j.get<std::uint64_t>());
  if (j.is_number_float())
    return fmt::format("{:g}", j.get<double>());
  if (j.is_boolean())
    return j.get<bool>() ? "yes" : "no";
  if (j.is_null())
    return "-";
  return j.dump();
}

std::string cell(const json& j, const char* key) {
  return j.is_object() && j.contains(key) ? cell(j[key]) : "-";
}

std::string rate_cell(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? format_rate(j[key].get<double>())
                                                                : "-";
}

std::string size_cell(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_unsigned()
             ? format_size(j[key].get<std::uint64_t>())
             : cell(j, key);
}

// "1 segment", "3 segments".
std::string segments_text(const json& q) {
  auto n = q.is_object() && q.contains("segments") ? cell(q["segments"]) : "-";
  return n + (n == "1" ? " segment" : " segments");
}

const json& array_at(const json& j, const char* key) {
  static const json empty = json::array();
  return j.is_object() && j.contains(key) && j[key].is_array() ? j[key] : empty;
}

std::string joined(const json& values, const char* separator) {
  std::string s;
  for (const auto& v : values)
    s += (s.empty() ? "" : separator) + (v.is_string() ? v.get<std::string>() : v.dump());
  return s;
}

// "track=Bills,Jets locations=..." : a stream's parameters on one line.
std::string params_cell(const json& params) {
  std::string s;
  if (params.is_object())
    for (const auto& [key, value] : params.items())
      s += (s.empty() ? "" : " ") + key + "=" +
           (value.is_array() ? joined(value, ",") : cell(value));
  return s.empty() ? "-" : s;
}

// The sink column: its type and its first target option ("eventlog x-events", "sqlite
// db.sqlite"), or the type alone.
std::string sink_cell(const json& sink) {
  if (!sink.is_object())
    return cell(sink);
  std::string s = cell(sink, "type");
  const auto* kind = config::sink_types.find(s);
  for (const auto& o : kind == nullptr ? std::span<const config::option>() : kind->options)
    if (o.target && sink.contains(std::string(o.name)))
      return s + " " + cell(sink, std::string(o.name).c_str());
  return s;
}

std::string filter_cell(const json& filter) {
  if (!filter.is_object() || filter.empty())
    return "-";
  std::string s;
  if (filter.contains("type"))
    s = "type=" + (filter["type"].is_array() ? joined(filter["type"], ",") : cell(filter["type"]));
  if (filter.contains("field"))
    s += (s.empty() ? "" : " ") + cell(filter, "field") + " in " +
         joined(array_at(filter, "any_of"), ",");
  return s;
}

std::string render_sources(const json& meta) {
  table t({"NAME", "TYPE", "STATE", "EVENTS", "RATE/1m", "LAST ERROR"});
  t.align_right(3).align_right(4).max_width(5, 60);
  for (const auto& s : array_at(meta, "sources"))
    t.add_row({cell(s, "name"), cell(s, "type"), cell(s, "state"), cell(s, "events"),
               rate_cell(s, "rate_1m"), cell(s, "last_error")});
  return t.render() + source_counts_text(meta);
}

std::string render_meta(const json& j) {
  std::string out = fmt::format(
      "sluice {} on {} (pid {}), {} since {}\n", cell(j, "version"), cell(j, "host"),
      j.value("pid", 0), j.value("running", false) ? "running" : "stopping", cell(j, "start_time"));
  std::string kinds;
  if (j.is_object())
    for (const auto& [key, value] : j.items())
      if (key.starts_with("events:") && key.ends_with("_count") && key != "events:all_count")
        kinds += (kinds.empty() ? "" : ", ") + key.substr(7, key.size() - 13) + " " + cell(value);
  out += fmt::format("events: {}{}, {} now; last at {}\n", cell(j, "events:all_count"),
                     kinds.empty() ? "" : " (" + kinds + ")", rate_cell(j, "events:rate"),
                     cell(j, "events:last_time"));
  if (j.contains("queue") && j["queue"].is_object()) {
    const auto& q = j["queue"];
    out += fmt::format("queue: position {}, durable {}, {}, {}{}\n", cell(q, "last_position"),
                       cell(q, "durable_watermark"), segments_text(q), size_cell(q, "disk_bytes"),
                       q.value("failed", false) ? " (FAILED: cannot write, see the log)"
                       : q.value("blocked_appenders", 0) > 0 ? " (FULL: intake blocked)"
                                                             : "");
  }
  out += "\nSOURCES\n" + render_sources(j);
  table subs({"NAME", "SINK", "STATE", "LAG", "DELIVERED", "RATE/1m"});
  subs.align_right(3).align_right(4).align_right(5);
  for (const auto& s : array_at(j, "subscriptions"))
    subs.add_row({cell(s, "name"), s.contains("sink") ? sink_cell(s["sink"]) : "-",
                  cell(s, "state"), cell(s, "lag"), cell(s, "delivered"), rate_cell(s, "rate_1m")});
  return out + "\nSUBSCRIPTIONS\n" + subs.render();
}

std::string render_streams(const json& j) {
  table t({"NAME", "TYPE", "STATE", "ORIGIN", "PARAMS"});
  t.max_width(4, 60);
  for (const auto& s : array_at(j, "streams"))
    t.add_row({cell(s, "name"), cell(s, "type"), cell(s, "state"), cell(s, "origin"),
               params_cell(s.value("params", json::object()))});
  return t.render();
}

std::string render_stream(const json& s) {
  table t;
  for (const char* key : {"name", "type", "state", "origin"})
    t.add_row({key, cell(s, key)});
  if (s.contains("params") && s["params"].is_object())
    for (const auto& [key, value] : s["params"].items())
      t.add_row({key, value.is_array() ? joined(value, ", ") : cell(value)});
  return t.render();
}

std::string render_values(const json& j) {
  const auto& values = array_at(j, "values");
  return fmt::format("stream {} {} ({}): {}\n", cell(j, "name"), cell(j, "key"), values.size(),
                     values.empty() ? "none" : joined(values, ", "));
}

std::string render_subscription_rows(const json& list) {
  table t(
      {"NAME", "SINK", "FILTER", "STATE", "LAG", "DELIVERED", "COMMITTED", "ORIGIN", "LAST ERROR"});
  t.align_right(4).align_right(5).align_right(6).max_width(2, 30).max_width(8, 50);
  for (const auto& s : list)
    t.add_row({cell(s, "name"), s.contains("sink") ? sink_cell(s["sink"]) : "-",
               filter_cell(s.value("filter", json())), cell(s, "state"), cell(s, "lag"),
               cell(s, "delivered"), cell(s, "committed"), cell(s, "origin"),
               cell(s, "last_error")});
  return t.render();
}

std::string render_subscriptions(const json& j) {
  return render_subscription_rows(array_at(j, "subscriptions"));
}

std::string render_subscription(const json& s) {
  return render_subscription_rows(json::array({s}));
}

std::string render_deleted(const json& j) {
  return fmt::format("subscription {} deleted\n", cell(j, "deleted"));
}

std::string render_queue(const json& j) {
  std::string out =
      fmt::format("{}, {} on disk; positions {} to {}, durable up to "
                  "{}\n\n",
                  segments_text(j), size_cell(j, "disk_bytes"), cell(j, "first_position"),
                  cell(j, "last_position"), cell(j, "durable_watermark"));
  table t({"SUBSCRIPTION", "COMMITTED", "LAG"});
  t.align_right(1).align_right(2);
  for (const auto& s : array_at(j, "subscriptions"))
    t.add_row({cell(s, "name"), cell(s, "committed"), cell(s, "lag")});
  return out + t.render();
}

// --- Commands as requests ------------------------------------------------------------------------

/// One command turned into a request.
struct ctl_request {
  std::string method = "GET";
  std::string target;
  std::string body;
  std::string object; ///< "stream nfl", for a 404's message; "" when the route names none
  std::function<std::string(const json&)> render;
};

/// A command's request, or why `words` is not a command.
using parse_result = std::pair<std::optional<ctl_request>, std::string>;

parse_result usage(std::string why) {
  return {std::nullopt, std::move(why)};
}

parse_result request(std::string method, std::string target, std::string object,
                     std::function<std::string(const json&)> render, std::string body = {}) {
  ctl_request r{std::move(method), std::move(target), std::move(body), std::move(object),
                std::move(render)};
  return {std::move(r), {}};
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "a,b" and "c" -> "a,b,c" (each value URL-encoded): TERM words, each possibly comma separated.
std::string encoded_values(const std::vector<std::string>& words, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < words.size(); ++i) {
    std::string_view w = words[i];
    while (!w.empty()) {
      auto comma = w.find(',');
      auto value = w.substr(0, comma);
      if (!value.empty())
        out += (out.empty() ? "" : ",") + url_encode(value);
      w = comma == std::string_view::npos ? std::string_view{} : w.substr(comma + 1);
    }
  }
  return out;
}

json list_of(std::string_view csv) {
  json a = json::array();
  while (!csv.empty()) {
    auto comma = csv.find(',');
    if (auto v = csv.substr(0, comma); !v.empty())
      a.push_back(std::string(v));
    csv = comma == std::string_view::npos ? std::string_view{} : csv.substr(comma + 1);
  }
  return a;
}

// A sink option's value: true/false and whole numbers as JSON's, the rest as strings.
json typed(const std::string& v) {
  if (v == "true" || v == "false")
    return v == "true";
  if (all_digits(v) && v.size() < 19)
    return std::stoll(v);
  return v;
}

// `sub add NAME KEY=VALUE...`: the body of POST /subscriptions.json.
std::optional<json> subscription_body(const std::vector<std::string>& words, std::string& error) {
  json body = {{"name", words[2]}, {"sink", json::object()}};
  json filter = json::object();
  for (std::size_t i = 3; i < words.size(); ++i) {
    const auto& w = words[i];
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      error = fmt::format("expected KEY=VALUE, not '{}'", w);
      return std::nullopt;
    }
    std::string key = w.substr(0, eq), value = w.substr(eq + 1);
    if (key == "sink")
      body["sink"]["type"] = value;
    else if (key == "type" || key == "any_of")
      filter[key] = list_of(value);
    else if (key == "field")
      filter[key] = value;
    else if (key == "start")
      body[key] = all_digits(value) ? typed(value) : json(value);
    else if (key == "batch" || key == "deliver")
      body[key] = typed(value);
    else if (key.starts_with("retry.") && key.size() > 6)
      body["retry"][key.substr(6)] = typed(value);
    else
      body["sink"][key] = typed(value);
  }
  if (!body["sink"].contains("type")) {
    std::string kinds;
    for (const auto* kind : config::sink_types.all_kinds())
      kinds += fmt::format("{}{}", kinds.empty() ? "" : ", ", kind->kind);
    error = fmt::format("a subscription needs sink=TYPE ({})", kinds);
    return std::nullopt;
  }
  if (!filter.empty())
    body["filter"] = std::move(filter);
  return body;
}

parse_result parse_track(const std::vector<std::string>& w) {
  static const std::vector<std::pair<std::string, std::string>> methods = {
      {"add", "POST"}, {"remove", "DELETE"}, {"set", "PUT"}};
  auto m = std::find_if(methods.begin(), methods.end(),
                        [&](const auto& p) { return w.size() > 1 && p.first == w[1]; });
  if (m == methods.end() || w.size() < 3)
    return usage("usage: track add|remove|set NAME TERM...");
  if (m->first != "set" && w.size() < 4)
    return usage(fmt::format("track {} needs at least one TERM", m->first));
  return request(
      m->second,
      fmt::format("/streams/{}/track.json?values={}", url_encode(w[2]), encoded_values(w, 3)),
      "stream " + w[2], render_values);
}

parse_result parse_stream(const std::vector<std::string>& w) {
  if (w.size() == 2)
    return request("GET", fmt::format("/streams/{}.json", url_encode(w[1])), "stream " + w[1],
                   render_stream);
  if (w.size() == 3 && (w[2] == "restart" || w[2] == "stop" || w[2] == "start"))
    return request("POST", fmt::format("/streams/{}/{}", url_encode(w[1]), w[2]), "stream " + w[1],
                   render_stream);
  return usage("usage: stream NAME [restart|stop|start]");
}

parse_result parse_sub(const std::vector<std::string>& w) {
  std::string verb = w.size() > 1 ? w[1] : "";
  if (w.size() < 3)
    return usage("usage: sub show|add|delete|pause|resume|rewind NAME ...");
  auto path = fmt::format("/subscriptions/{}", url_encode(w[2]));
  auto object = "subscription " + w[2];
  if (verb == "add") {
    std::string error;
    auto body = subscription_body(w, error);
    if (!body)
      return usage(error);
    return request("POST", "/subscriptions.json", "", render_subscription, body->dump());
  }
  if (verb == "rewind") {
    if (w.size() != 4)
      return usage("usage: sub rewind NAME beginning|end|POSITION|TIME");
    json to = all_digits(w[3]) ? typed(w[3]) : json(w[3]);
    return request("POST", path + "/rewind", object, render_subscription, json{{"to", to}}.dump());
  }
  if (w.size() != 3)
    return usage(fmt::format("usage: sub {} NAME", verb));
  if (verb == "show")
    return request("GET", path + ".json", object, render_subscription);
  if (verb == "delete")
    return request("DELETE", path + ".json", object, render_deleted);
  if (verb == "pause" || verb == "resume")
    return request("POST", path + "/" + verb, object, render_subscription);
  return usage("usage: sub show|add|delete|pause|resume|rewind NAME ...");
}

parse_result parse(const std::vector<std::string>& w) {
  const std::string& verb = w.front();
  auto alone = [&](const char* target, std::function<std::string(const json&)> render) {
    if (w.size() != 1)
      return usage(fmt::format("{} takes no arguments", verb));
    return request("GET", target, "", std::move(render));
  };
  if (verb == "meta")
    return alone("/meta.json", render_meta);
  if (verb == "streams")
    return alone("/streams.json", render_streams);
  if (verb == "subs")
    return alone("/subscriptions.json", render_subscriptions);
  if (verb == "queue")
    return alone("/queue.json", render_queue);
  if (verb == "stream")
    return parse_stream(w);
  if (verb == "track")
    return parse_track(w);
  if (verb == "sub")
    return parse_sub(w);
  return usage(fmt::format("unknown command '{}'; 'help' lists the commands", verb));
}

// The API's error reply in plain words, e.g. "stream nfl2 does not exist (HTTP 404)".
std::string error_message(const ctl_request& r, const api_reply& reply, bool has_token) {
  std::string message, detail;
  auto j = json::parse(reply.body, nullptr, false);
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end() && e->is_string())
      message = e->get<std::string>();
    if (auto d = j.find("detail"); d != j.end() && !d->is_null())
      detail = d->is_string() ? d->get<std::string>() : d->dump();
  }
  if (reply.status == 404 && !r.object.empty() &&
      (message.empty() || message == "no " + r.object)) {
    message = r.object + " does not exist";
    detail.clear();
  } else if (reply.status == 401 && !has_token) {
    message = "this command needs the API's token: pass --token-file FILE or set "
              "SLUICE_TOKEN_FILE";
    detail.clear();
  } else if ((reply.status == 401 || reply.status == 403) && message.empty()) {
    message = "the API refused the token";
  } else if (message.empty()) {
    message = reply.body.empty() ? "the API refused the request" : reply.body.substr(0, 200);
  }
  if (!detail.empty() && detail != message)
    message += " (" + detail + ")";
  return fmt::format("{} (HTTP {})", message, reply.status);
}

} // namespace

std::string ctl_help_text() {
  return "  meta                                 the daemon, its sources and subscriptions\n"
         "  streams                              every stream (source)\n"
         "  stream NAME [restart|stop|start]     one stream; or restart, stop, start it\n"
         "  track add|remove|set NAME TERM...    change a stream's tracked terms\n"
         "  subs                                 every subscription\n"
         "  sub show NAME                        one subscription\n"
         "  sub add NAME KEY=VALUE...            add one: sink=eventlog dir=D | sink=sqlite "
         "path=F\n"
         "                                       table=T; start=beginning|end; type=a,b;\n"
         "                                       field=PATH any_of=a,b; batch=N; retry.max=30s\n"
         "  sub delete|pause|resume NAME         remove, pause or resume a subscription\n"
         "  sub rewind NAME beginning|end|POSITION|TIME\n"
         "                                       move its cursor (TIME: 2026-12-04T06:00:00Z)\n"
         "  queue                                the disk queue and each subscription's lag\n"
         "  help                                 this list\n";
}

int run_ctl_command(const api_client& api, const std::vector<std::string>& words,
                    const ctl_output& output) {
  if (words.empty() || words.front() == "help") {
    std::fputs(ctl_help_text().c_str(), output.out);
    return 0;
  }
  auto [req, why] = parse(words);
  if (!req) {
    fmt::print(output.err, "{}: {}\n", output.program, why);
    return k_exit_usage;
  }
  std::string error;
  auto reply = api.send(req->method, req->target, req->body, error);
  if (!reply) {
    if (reply.error() == std::errc::timed_out)
      fmt::print(output.err, "{}: the API at {} did not answer within {} ms\n", output.program,
                 api.endpoint().url, api.timeout().count());
    else
      fmt::print(output.err, "{}: cannot reach the API at {}: {}; is `sluice run` running?\n",
                 output.program, api.endpoint().url, error);
    return k_exit_unavailable;
  }
  if (reply->status >= 400) {
    if (output.json && json::accept(reply->body)) // scripts get the API's error object too
      fmt::print(output.out, "{}\n", reply->body);
    fmt::print(output.err, "{}: {}\n", output.program,
               error_message(*req, *reply, api.has_token()));
    return k_exit_failure;
  }
  auto j = json::parse(reply->body, nullptr, false);
  if (j.is_discarded()) {
    fmt::print(output.err, "{}: the API's reply to {} {} is not JSON (HTTP {})\n", output.program,
               req->method, req->target, reply->status);
    return k_exit_failure;
  }
  if (output.json) {
    std::string body = reply->body;
    if (body.empty() || body.back() != '\n')
      body += '\n';
    std::fputs(body.c_str(), output.out);
  } else {
    try {
      std::fputs(req->render(j).c_str(), output.out);
    } catch (const json::exception& e) {
      // A reply of another shape (a newer or older server): say so rather than end the console.
      fmt::print(output.err,
                 "{}: the API's reply to {} {} has an unexpected shape ({}); --json "
                 "shows it\n",
                 output.program, req->method, req->target, e.what());
      return k_exit_failure;
    }
  }
  std::fflush(output.out);
  return 0;
}

} // namespace sluice::cli
