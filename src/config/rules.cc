#include "config/rules.h"

#include <chrono>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "base/host_port.h"
#include "base/units.h"
#include "config/tables.h"
#include "config/value_check.h"

namespace sluice::config {
namespace {

using detail::join;

std::string_view default_of(const option_table& options, std::string_view key) {
  const auto* o = options.find(key);
  return o == nullptr ? std::string_view() : o->default_value;
}

const toml::table* table_at(const toml::table& t, std::string_view key) {
  const auto* n = t.get(key);
  return n == nullptr ? nullptr : n->as_table();
}

// The duration at `key` of `t` (or `fallback` when `t` lacks it); nullopt when it is malformed.
std::optional<std::chrono::nanoseconds> duration_at(const toml::table* t, std::string_view key,
                                                    std::string_view fallback) {
  const toml::node* n = t == nullptr ? nullptr : t->get(key);
  if (n == nullptr) {
    auto d = parse_duration(fallback);
    return d ? std::optional(*d) : std::nullopt;
  }
  const auto* s = n->as_string();
  if (s == nullptr)
    return std::nullopt;
  auto d = parse_duration(s->get());
  return d ? std::optional(*d) : std::nullopt;
}

void check_bounds(validator& v, const toml::table& t, const std::string& path,
                  const option_table& options, std::string_view low_key,
                  std::string_view high_key) {
  auto low_default = default_of(options, low_key);
  auto high_default = default_of(options, high_key);
  auto low = duration_at(&t, low_key, low_default);
  auto high = duration_at(&t, high_key, high_default);
  if (low && high && *low > *high) {
    v.add(path, t.source(),
          fmt::format("\"{}\" ({}) is above \"{}\" ({})", low_key,
                      t[low_key].value_or(std::string(low_default)), high_key,
                      t[high_key].value_or(std::string(high_default))));
  }
}

void check_auth(validator& v, const toml::table& auth, const std::string& path) {
  bool user = auth.contains("user");
  bool password = auth.contains("password");
  if (auth.contains("bearer") && (user || password))
    v.add(path, auth.source(), "give either \"bearer\" or \"user\" and \"password\", not both");
  else if (user != password)
    v.add(path, auth.source(),
          fmt::format("missing required key \"{}\" (basic authentication needs both \"user\" "
                      "and \"password\")",
                      user ? "password" : "user"));
  else if (!user && !auth.contains("bearer"))
    v.add(path, auth.source(), "expected \"bearer\" or \"user\" and \"password\"");
}

void check_source(validator& v, const toml::table& source, const std::string& path) {
  if (const auto* auth = table_at(source, "auth"))
    check_auth(v, *auth, join(path, "auth"));
  if (const auto* reconnect = table_at(source, "reconnect")) {
    for (auto [low, high] :
         {std::pair{"network_initial", "network_max"}, std::pair{"http_initial", "http_max"},
          std::pair{"rate_limit_initial", "rate_limit_max"}})
      check_bounds(v, *reconnect, join(path, "reconnect"), reconnect_options, low, high);
  }
  if (source.contains("client_cert") != source.contains("client_key"))
    v.add(path, source.source(),
          source.contains("client_cert")
              ? "missing required key \"client_key\" (\"client_cert\" needs it)"
              : "missing required key \"client_cert\" (\"client_key\" needs it)");
  if (const auto* backfill = source.get("backfill"); backfill != nullptr) {
    auto n = backfill->value<std::int64_t>();
    auto window = source["dedupe_window"].value_or(std::int64_t{10000});
    auto field = source["dedupe_field"].value_or(std::string("id_str"));
    if (n && *n > 0 && field.empty())
      v.add(join(path, "backfill"), backfill->source(),
            "needs \"dedupe_field\": without it every backfilled event is queued twice");
    else if (n && *n > window)
      v.add(join(path, "backfill"), backfill->source(),
            fmt::format("{} is above \"dedupe_window\" ({}): the window must hold at least the "
                        "backfilled events",
                        *n, window));
  }
  if (const auto* listen = source.get("listen");
      listen != nullptr && listen->is_array() && listen->as_array()->empty())
    v.add(join(path, "listen"), listen->source(), "expected at least one endpoint");
}

// An ack tells the pusher its records are durable: with fsync = "never" nothing is, until the
// operating system writes back, and a power loss would lose what was acknowledged.
void check_ack(validator& v, const toml::table& root, const toml::table& source,
               const std::string& path) {
  const auto* ack = source.get("ack");
  if (ack == nullptr || !ack->value_or(false))
    return;
  const auto* queue = table_at(root, "queue");
  std::string fsync = queue ? (*queue)["fsync"].value_or(std::string()) : std::string();
  if (fsync == "never")
    v.add(join(path, "ack"), ack->source(),
          "needs a queue that syncs: with [queue] fsync = \"never\" an ack would tell the "
          "pusher that records are durable before any is (use \"always\" or a duration)");
}

void check_filter(validator& v, const toml::table& filter, const std::string& path) {
  bool type = filter.contains("type");
  bool field = filter.contains("field");
  bool any_of = filter.contains("any_of");
  if (field && !any_of)
    v.add(path, filter.source(), "missing required key \"any_of\" (\"field\" needs it)");
  else if (any_of && !field)
    v.add(path, filter.source(), "missing required key \"field\" (\"any_of\" needs it)");
  else if (!type && !field)
    v.add(path, filter.source(), "expected \"type\" or \"field\" with \"any_of\"");
}

// What a sink writes to, from its type's `target` options: its type and each one's value (as
// written, or its default, or the owner's name); empty for a type without target options.
std::string sink_target_key(const toml::table& sink, const option_table& kind,
                            std::string_view owner) {
  std::string key;
  for (const auto& o : kind.options) {
    if (!o.target)
      continue;
    std::string value = o.owner_default ? std::string(owner) : std::string(o.default_value);
    if (const auto* n = sink.get(o.name))
      value = n->value_or(value);
    key += fmt::format("{}{}={}", key.empty() ? std::string(kind.kind) + " " : " ", o.name, value);
  }
  return key;
}

// Two subscriptions writing one event log directory or one SQLite table would interleave.
void check_sink_targets(validator& v, const toml::table& subscriptions) {
  std::map<std::string, std::string> taken; // target -> first subscription
  for (auto&& [name, node] : subscriptions) {
    const auto* sub = node.as_table();
    const auto* sink = sub == nullptr ? nullptr : table_at(*sub, "sink");
    const auto* kind =
        sink == nullptr ? nullptr : sink_types.find((*sink)["type"].value_or(std::string()));
    if (kind == nullptr)
      continue;
    auto target = sink_target_key(*sink, *kind, name.str());
    if (target.empty())
      continue;
    auto [it, fresh] = taken.emplace(target, std::string(name.str()));
    if (!fresh) {
      v.add(
          join(join("subscriptions", name.str()), "sink"), sink->source(),
          fmt::format("writes the same {} as subscription \"{}\"", kind->target_noun, it->second));
    }
  }
}

// run = "drain:SUB" names a subscription with deliver = "drain"; "exec:" names a command.
void check_task(validator& v, const toml::table& root, const toml::table& task,
                const std::string& path) {
  const auto* run = task.get("run");
  if (run == nullptr || !run->is_string())
    return; // the option tables report it
  std::string text = run->as_string()->get();
  if (text.starts_with("drain:")) {
    std::string sub = text.substr(6);
    const auto* subs = table_at(root, "subscriptions");
    const auto* s = subs == nullptr ? nullptr : table_at(*subs, sub);
    if (s == nullptr)
      v.add(join(path, "run"), run->source(), fmt::format("no subscription \"{}\" to drain", sub));
    else if ((*s)["deliver"].value_or(std::string("continuous")) != "drain")
      v.add(join(path, "run"), run->source(),
            fmt::format("subscription \"{}\" is delivered continuously; a drain task needs "
                        "deliver = \"drain\" on it",
                        sub));
  } else if (text.starts_with("exec:")) {
    if (text.find_first_not_of(' ', 5) == std::string::npos)
      v.add(join(path, "run"), run->source(), "expected a command after \"exec:\"");
  } else {
    v.add(join(path, "run"), run->source(),
          fmt::format("expected \"drain:SUBSCRIPTION\" or \"exec:COMMAND ...\", got \"{}\"", text));
  }
}

// Without a token, the API may listen only where no other machine can reach it.
void check_api(validator& v, const toml::table& api) {
  const auto* token = api.get("token_file");
  const auto* listen = api.get_as<toml::array>("listen");
  if (token == nullptr || token->value_or(std::string("x")) != "" || listen == nullptr)
    return;
  for (const auto& n : *listen) {
    auto text = n.value_or(std::string());
    if (text.starts_with("unix:"))
      continue;
    auto hp = parse_host_port(text);
    if (hp && (hp->host == "localhost" || hp->host.starts_with("127.") || hp->host == "::1"))
      continue;
    v.add("api.token_file", token->source(),
          fmt::format("an empty token_file (no token) is allowed only on loopback addresses and "
                      "Unix sockets, and api.listen has \"{}\"",
                      text));
  }
}

} // namespace

void check_pipeline_rules(const toml::table& root, validator& v) {
  if (const auto* queue = table_at(root, "queue")) {
    auto fsync = duration_at(queue, "fsync", default_of(queue_options, "fsync"));
    const auto* node = queue->get("fsync");
    if (fsync && fsync->count() == 0 && node != nullptr)
      v.add("queue.fsync", node->source(),
            "expected \"always\", \"never\" or a duration above zero, got \"" +
                (*queue)["fsync"].value_or(std::string()) + "\"");
    const auto* backend = queue->get("backend");
    if (backend != nullptr && backend->value_or(std::string()).starts_with("redis") &&
        !queue->contains("url"))
      v.add("queue", backend->source(),
            "missing required key \"url\" (a Redis backend needs the Redis server: "
            "url = \"redis://HOST:PORT/DB\")");
  }
  if (const auto* sources = table_at(root, "sources"))
    for (auto&& [name, node] : *sources)
      if (const auto* source = node.as_table()) {
        check_source(v, *source, join("sources", name.str()));
        check_ack(v, root, *source, join("sources", name.str()));
      }
  if (const auto* subscriptions = table_at(root, "subscriptions")) {
    for (auto&& [name, node] : *subscriptions) {
      const auto* sub = node.as_table();
      if (sub == nullptr)
        continue;
      std::string path = join("subscriptions", name.str());
      if (const auto* filter = table_at(*sub, "filter"))
        check_filter(v, *filter, join(path, "filter"));
      if (const auto* retry = table_at(*sub, "retry"))
        check_bounds(v, *retry, join(path, "retry"), retry_options, "initial", "max");
    }
    check_sink_targets(v, *subscriptions);
  }
  if (const auto* api = table_at(root, "api"))
    check_api(v, *api);
  if (const auto* daemon = table_at(root, "daemon"))
    check_bounds(v, *daemon, "daemon", daemon_options, "restart_min", "restart_max");
  if (const auto* tasks = table_at(root, "tasks"))
    for (auto&& [name, node] : *tasks)
      if (const auto* task = node.as_table())
        check_task(v, root, *task, join("tasks", name.str()));
}

} // namespace sluice::config
