#include "api/render.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <type_traits>

#include <fmt/format.h>

#include "sinks/sink.h"

namespace sluice::api {
namespace {

using nlohmann::json;

const pipeline::source_status* source_of(const view& v, const std::string& name) {
  for (const auto& s : v.status.sources)
    if (s.name == name)
      return &s;
  return nullptr;
}

std::size_t index_of_source(const view& v, const std::string& name) {
  for (std::size_t i = 0; i < v.status.sources.size(); ++i)
    if (v.status.sources[i].name == name)
      return i;
  return v.status.sources.size();
}

} // namespace

json values_json(const config::option_values& values) {
  json j = json::object();
  if (!values.kind().empty())
    j["type"] = values.kind();
  for (const auto& [name, value] : values.items())
    std::visit(
        [&, &key = name](const auto& v) {
          using t = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<t, std::chrono::nanoseconds>)
            j[key + "_seconds"] = std::chrono::duration<double>(v).count();
          else if constexpr (std::is_same_v<t, config::option_entries>)
            j[key] = json(std::map<std::string, std::vector<std::string>>(v.begin(), v.end()));
          else if constexpr (std::is_same_v<t, std::shared_ptr<const config::option_values>>)
            j[key] = values_json(*v);
          else
            j[key] = v;
        },
        value);
  return j;
}

namespace {

json filter_json(const config::subscription_config& s) {
  if (!s.filter)
    return nullptr;
  json j = json::object();
  if (!s.filter->types.empty())
    j["type"] = s.filter->types;
  if (!s.filter->field.empty()) {
    j["field"] = s.filter->field;
    j["any_of"] = s.filter->any_of;
  }
  return j;
}

std::string subscription_state(const config::subscription_config& c,
                               const pipeline::subscription_status* s) {
  if (!c.continuous)
    return "drain";
  if (c.paused)
    return "paused";
  if (s != nullptr && !s->last_error.empty())
    return "failing";
  return "running";
}

} // namespace

json time_json(std::int64_t unix_ns) {
  if (unix_ns <= 0)
    return nullptr;
  std::time_t secs = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unix_ns / 1000000) % 1000);
}

std::optional<std::int64_t> parse_time(std::string_view t) {
  auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    if (at + n > t.size())
      return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9')
        return std::nullopt;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2),
       s = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || t.size() < 20 || t[4] != '-' || t[7] != '-' ||
      (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || t[13] != ':' || t[16] != ':')
    return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *s > 60)
    return std::nullopt;
  std::size_t i = 19;
  std::int64_t frac_ns = 0;
  if (i < t.size() && t[i] == '.') {
    ++i;
    std::int64_t scale = 100000000;
    std::size_t start = i;
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
      frac_ns += (t[i] - '0') * scale;
      scale /= 10;
    }
    if (i == start)
      return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    auto oh = digits(i + 1, 2), om = digits(i + 4, 2);
    if (!oh || !om || i + 6 > t.size() || t[i + 3] != ':')
      return std::nullopt;
    offset_s = (*oh * 3600 + *om * 60) * (t[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != t.size())
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = *s;
  std::int64_t secs = ::timegm(&tm) - offset_s;
  return secs * 1000000000 + frac_ns;
}

json stream_json(const view& v, const config::source_config& s, bool api_changed) {
  json j = {{"name", s.name}, {"type", std::string(s.type())}, {"enabled", s.enabled}};
  const auto* st = source_of(v, s.name);
  j["state"] = st != nullptr ? std::string(sources::state_name(st->state)) : "stopped";
  for (const char* key : {"url", "method"})
    if (s.settings.has(key))
      j[key] = s.settings.string(key);
  json params = json::object();
  for (const auto& [k, values] : s.settings.entries("params"))
    params[k] = values;
  j["params"] = params;
  j["origin"] = api_changed ? "api" : "file";
  if (st != nullptr) {
    auto i = index_of_source(v, s.name);
    j["events"] = st->counts.records;
    j["rate_1m"] = v.source_rates[i].m1;
    j["connected_at"] = time_json(st->connected_at_ns);
    j["last_error"] = st->last_error;
  }
  return j;
}

json subscription_json(const view& v, const config::subscription_config& s) {
  const pipeline::subscription_status* st = nullptr;
  std::size_t i = 0;
  for (; i < v.status.subscriptions.size(); ++i)
    if (v.status.subscriptions[i].name == s.name) {
      st = &v.status.subscriptions[i];
      break;
    }
  json j = {{"name", s.name},
            {"sink", values_json(s.sink)},
            {"filter", filter_json(s)},
            {"start", s.start == config::start_position::end ? "end" : "beginning"},
            {"batch", s.batch},
            {"deliver", s.continuous ? "continuous" : "drain"},
            {"state", subscription_state(s, st)},
            {"origin", v.api_subscriptions.contains(s.name) ? "api" : "file"}};
  if (st != nullptr) {
    j["committed"] = st->committed;
    j["lag"] = st->lag;
    j["delivered"] = st->delivered;
    j["filtered"] = st->filtered;
    j["retries"] = st->retries;
    j["dead_lettered"] = st->dead_lettered;
    j["dead_letter_failures"] = st->dead_letter_failures;
    j["rate_1m"] = v.subscription_rates[i].m1;
    j["last_error"] = st->last_error;
    if (s.continuous) {
      json counts = json::object();
      for (const auto& field : sinks::sink_count_fields())
        counts[field.name] = st->sink_counts.*field.member;
      j["sink_counts"] = counts;
    }
  }
  return j;
}

json meta_json(const view& v, const board& b, const std::string& host, int pid) {
  json j = json::object();
  j["start_time"] = time_json(b.start_ns());
  j["host"] = host;
  j["pid"] = pid;
  j["running"] = b.ready() && !b.draining();
  j["version"] = SLUICE_API_VERSION;
  std::uint64_t all = 0;
  std::map<std::string, std::uint64_t> by_type;
  std::int64_t last = 0;
  for (const auto& s : v.status.sources) {
    all += s.counts.records;
    for (const auto& [type, n] : s.types)
      by_type[type] += n;
    last = std::max(last, s.last_event_ns);
  }
  j["events:all_count"] = all;
  for (const auto& [type, n] : by_type)
    j["events:" + type + "_count"] = n;
  j["events:last_time"] = time_json(last);
  j["events:rate"] = v.all_events.m1;
  json sources = json::array();
  for (std::size_t i = 0; i < v.status.sources.size(); ++i) {
    const auto& s = v.status.sources[i];
    const auto& r = v.source_rates[i];
    json types = json::object();
    for (const auto& [type, n] : s.types)
      types[type] = n;
    json counts = json::object();
    for (const auto& field : sources::source_count_fields())
      counts[field.name] = s.counts.*field.member;
    const auto& c = s.counts;
    sources.push_back({{"name", s.name},
                       {"type", s.type},
                       {"state", std::string(sources::state_name(s.state))},
                       {"enabled", s.enabled},
                       {"events", c.records},
                       {"events_by_type", types},
                       {"bytes", c.bytes},
                       {"rejected", c.rejected()},
                       {"duplicates", c.duplicates},
                       {"rate_1s", r.s1},
                       {"rate_1m", r.m1},
                       {"rate_5m", r.m5},
                       {"connected_at", time_json(s.connected_at_ns)},
                       {"last_event_time", time_json(s.last_event_ns)},
                       {"connects", c.connects},
                       {"open_connections", s.open_connections},
                       {"reconnects",
                        {{"total", c.reconnects},
                         {"network", c.disconnects_network},
                         {"http_error", c.disconnects_http_error},
                         {"rate_limited", c.disconnects_rate_limited},
                         {"fatal", c.disconnects_fatal},
                         {"stall", c.disconnects_stall}}},
                       {"backoff_seconds", static_cast<double>(s.backoff_ns) / 1e9},
                       {"switches", c.switches},
                       {"limit_count", c.limit_notices},
                       {"limit_skipped", s.limit_skipped},
                       {"limit_time", time_json(s.limit_last_ns)},
                       {"coverage", s.coverage},
                       {"counts", counts},
                       {"last_error", s.last_error}});
  }
  j["sources"] = sources;
  j["queue"] = queue_json(v);
  j["queue"].erase("subscriptions");
  json subs = json::array();
  for (const auto& c : v.cfg.subscriptions)
    subs.push_back(subscription_json(v, c));
  j["subscriptions"] = subs;
  return j;
}

json queue_json(const view& v) {
  json subs = json::array();
  for (const auto& s : v.status.subscriptions)
    subs.push_back({{"name", s.name}, {"committed", s.committed}, {"lag", s.lag}});
  std::uint64_t depth = v.first_position == 0 || v.status.durable < v.first_position
                            ? 0
                            : v.status.durable - v.first_position + 1;
  json out = {{"segments", v.segments},
              {"disk_bytes", v.status.disk_bytes},
              {"depth", depth},
              {"first_position", v.first_position},
              {"last_position", v.status.last},
              {"durable_watermark", v.status.durable},
              {"blocked_appenders", v.status.blocked_appenders},
              {"failed", v.status.queue_failed},
              {"disk_full", v.disk_full},
              {"dropped_records", v.dropped_records},
              {"damaged_records", v.damaged_records},
              {"gap_records", v.gap_records},
              {"unreadable_cursors", v.unreadable_cursors},
              {"subscriptions", subs}};
  json shared = json::object(); // what only a shared (Redis) queue counts
  for (std::size_t i = 0; i < v.shared_counts.size(); ++i)
    shared[std::string(queue::k_shared_counters[i].name)] = v.shared_counts[i];
  out["shared"] = shared;
  return out;
}

} // namespace sluice::api
