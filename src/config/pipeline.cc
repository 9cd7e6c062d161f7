#include "config/pipeline.h"

#include <toml++/toml.h>

#include "config/load.h"
#include "config/rules.h"
#include "config/section.h"
#include "config/tables.h"
#include "config/validator.h"

namespace sluice::config {
namespace {

reconnect_config read_backoff(const section& s) {
  reconnect_config r;
  r.network_initial = s.duration("network_initial");
  r.network_step = s.duration("network_step");
  r.network_max = s.duration("network_max");
  r.http_initial = s.duration("http_initial");
  r.http_max = s.duration("http_max");
  r.rate_limit_initial = s.duration("rate_limit_initial");
  r.rate_limit_max = s.duration("rate_limit_max");
  r.jitter = static_cast<unsigned>(s.integer("jitter"));
  r.stable_after = s.duration("stable_after");
  if (s.has("max_retries"))
    r.max_retries = static_cast<std::uint64_t>(s.integer("max_retries"));
  return r;
}

queue_config read_queue(const section& s) {
  queue_config q;
  if (auto k = s.keyword("fsync")) {
    q.fsync = *k == "always" ? fsync_mode::always : fsync_mode::never;
  } else {
    q.fsync = fsync_mode::interval;
    q.fsync_interval = s.duration("fsync");
  }
  q.segment_bytes = s.size("segment_bytes");
  if (s.has("max_disk"))
    q.max_disk = s.size("max_disk");
  q.when_full =
      s.string("when_full") == "block" ? when_full_mode::block : when_full_mode::drop_newest;
  if (s.has("retain_bytes"))
    q.retain_bytes = s.size("retain_bytes");
  if (s.has("retain_age"))
    q.retain_age = s.duration("retain_age");
  return q;
}

http_source read_http(const section& s) {
  http_source h;
  h.url = s.string("url");
  h.method = s.string("method") == "POST" ? http_method::post : http_method::get;
  h.params = s.entries("params");
  for (auto& [key, values] : s.entries("headers"))
    h.headers.emplace_back(key, values.front());
  if (s.is_set("auth")) {
    auto auth = s.table("auth");
    if (auth.has("bearer"))
      h.bearer = auth.string("bearer");
    else
      h.basic_auth.emplace(auth.string("user"), auth.string("password"));
  }
  if (s.has("user_agent"))
    h.user_agent = s.string("user_agent");
  h.gzip = s.boolean("gzip");
  if (s.has("ca_file"))
    h.ca_file = s.string("ca_file");
  if (s.has("client_cert"))
    h.client_cert = s.string("client_cert");
  if (s.has("client_key"))
    h.client_key = s.string("client_key");
  h.insecure = s.boolean("insecure");
  h.stall_timeout = s.duration("stall_timeout");
  h.backfill = static_cast<std::uint64_t>(s.integer("backfill"));
  h.dedupe_field = s.string("dedupe_field");
  h.dedupe_window = static_cast<std::uint64_t>(s.integer("dedupe_window"));
  h.change_debounce = s.duration("change_debounce");
  h.reconnect = read_backoff(s.table("reconnect"));
  return h;
}

listen_source read_listen(const section& s) {
  listen_source l;
  for (auto& e : s.string_list("listen")) {
    if (e.starts_with("tcp://"))
      l.endpoints.push_back({listen_endpoint::tcp, e.substr(6)});
    else
      l.endpoints.push_back({listen_endpoint::unix_socket, e.substr(5)});
  }
  l.ack = s.boolean("ack");
  return l;
}

source_config read_source(const std::string& name, const section& s) {
  source_config c;
  c.name = name;
  c.line = s.line();
  c.max_record_bytes = s.size("max_record_bytes");
  c.format = s.string("format") == "json" ? record_format::json : record_format::lines;
  c.default_type = s.string("default_type");
  c.enabled = s.boolean("enabled");
  const auto& kind = s.kind();
  if (kind == "http")
    c.settings = read_http(s);
  else if (kind == "tcp")
    c.settings = tcp_source{s.string("address"), read_backoff(s.table("reconnect"))};
  else if (kind == "unix")
    c.settings = unix_source{s.string("address"), read_backoff(s.table("reconnect"))};
  else if (kind == "listen")
    c.settings = read_listen(s);
  else
    c.settings = stdin_source{};
  return c;
}

std::variant<eventlog_sink, sqlite_sink> read_sink(const std::string& name, const section& s) {
  if (s.kind() == "sqlite")
    return sqlite_sink{s.string("path"), s.has("table") ? s.string("table") : name};
  eventlog_sink e;
  e.dir = s.string("dir");
  e.envelope = s.boolean("envelope");
  e.rotate_bytes = s.size("rotate_bytes");
  if (s.has("rotate_interval"))
    e.rotate_interval = s.duration("rotate_interval");
  if (s.has("rotate_events"))
    e.rotate_events = static_cast<std::uint64_t>(s.integer("rotate_events"));
  return e;
}

subscription_config read_subscription(const std::string& name, const section& s) {
  subscription_config c;
  c.name = name;
  c.line = s.line();
  c.sink = read_sink(name, s.table("sink"));
  if (s.is_set("filter")) {
    auto f = s.table("filter");
    c.filter = filter_config{f.string_list("type"), f.has("field") ? f.string("field") : "",
                             f.string_list("any_of")};
  }
  c.batch = static_cast<std::size_t>(s.integer("batch"));
  c.start = s.string("start") == "end" ? start_position::end : start_position::beginning;
  c.continuous = s.string("deliver") == "continuous";
  c.paused = s.boolean("paused");
  auto r = s.table("retry");
  c.retry.initial = r.duration("initial");
  c.retry.max = r.duration("max");
  if (r.has("max_attempts"))
    c.retry.max_attempts = static_cast<std::uint64_t>(r.integer("max_attempts"));
  return c;
}

daemon_config read_daemon(const section& s) {
  daemon_config d;
  if (s.has("run_dir"))
    d.run_dir = s.string("run_dir");
  if (s.has("log_dir"))
    d.log_dir = s.string("log_dir");
  if (s.has("common_log"))
    d.common_log = s.string("common_log");
  if (s.has("memory_limit"))
    d.memory_limit = s.size("memory_limit");
  d.memory_threshold = static_cast<int>(s.integer("memory_threshold"));
  d.memory_check_interval = s.duration("memory_check_interval");
  d.restart_min = s.duration("restart_min");
  d.restart_max = s.duration("restart_max");
  d.healthy_after = s.duration("healthy_after");
  return d;
}

task_config read_task(const std::string& name, const section& s) {
  task_config t;
  t.name = name;
  t.line = s.line();
  auto run = s.string("run");
  if (run.starts_with("drain:")) {
    t.what = task_config::kind::drain;
    t.subscription = run.substr(6);
  } else {
    t.what = task_config::kind::exec;
    std::string_view rest = std::string_view(run).substr(5);
    while (!rest.empty()) {
      auto b = rest.find_first_not_of(' ');
      if (b == std::string_view::npos)
        break;
      rest.remove_prefix(b);
      auto e = rest.find(' ');
      t.argv.emplace_back(rest.substr(0, e));
      rest.remove_prefix(e == std::string_view::npos ? rest.size() : e);
    }
  }
  t.sleep = s.duration("sleep");
  t.min_sleep = s.duration("min_sleep");
  if (s.has("timeout"))
    t.timeout = s.duration("timeout");
  return t;
}

hooks_config read_hooks(const section& s) {
  hooks_config h;
  auto get = [&](std::string_view k) { return s.has(k) ? s.string(k) : std::string(); };
  h.on_start = get("on_start");
  h.on_task_done = get("on_task_done");
  h.on_stop = get("on_stop");
  h.on_crash = get("on_crash");
  h.timeout = s.duration("timeout");
  return h;
}

api_config read_api(const section& s) {
  api_config a;
  if (s.has("listen")) {
    a.listen = s.string_list("listen");
    a.listen_default = false;
  }
  if (s.has("token_file"))
    a.token_file = s.string("token_file");
  a.max_connections = static_cast<std::size_t>(s.integer("max_connections"));
  a.max_header_bytes = s.size("max_header_bytes");
  a.max_body_bytes = s.size("max_body_bytes");
  a.request_rate = static_cast<std::uint32_t>(s.integer("request_rate"));
  a.idle_timeout = s.duration("idle_timeout");
  a.request_timeout = s.duration("request_timeout");
  return a;
}

std::optional<graphite_config> read_graphite(const section& metrics) {
  if (!metrics.is_set("graphite"))
    return std::nullopt;
  auto s = metrics.table("graphite");
  return graphite_config{s.string("address"), s.string("prefix"), s.duration("interval")};
}

} // namespace

std::string_view source_config::type() const noexcept {
  static constexpr std::string_view names[] = {"http", "tcp", "unix", "listen", "stdin"};
  return names[settings.index()];
}

std::string_view subscription_config::sink_type() const noexcept {
  static constexpr std::string_view names[] = {"eventlog", "sqlite"};
  return names[sink.index()];
}

std::vector<config_error> validate_pipeline(const toml::table& root) {
  validator v;
  v.check_table(root, file_options, "");
  check_pipeline_rules(root, v);
  return v.take_errors();
}

pipeline_config read_pipeline(const toml::table& root, const std::string& name) {
  if (auto errors = validate_pipeline(root); !errors.empty())
    throw config_exception(name, std::move(errors));
  section top(&root, {&file_options}, "");
  pipeline_config p;
  p.data_dir = top.string("data_dir");
  p.shutdown_timeout = top.duration("shutdown_timeout");
  p.queue = read_queue(top.table("queue"));
  for (auto& [source_name, s] : top.named("sources"))
    p.sources.push_back(read_source(source_name, s));
  for (auto& [subscription_name, s] : top.named("subscriptions"))
    p.subscriptions.push_back(read_subscription(subscription_name, s));
  p.daemon = read_daemon(top.table("daemon"));
  for (auto& [task_name, s] : top.named("tasks"))
    p.tasks.push_back(read_task(task_name, s));
  p.hooks = read_hooks(top.table("hooks"));
  p.api = read_api(top.table("api"));
  p.graphite = read_graphite(top.table("metrics"));
  return p;
}

pipeline_config load_pipeline_file(const std::filesystem::path& path) {
  auto doc = load_file(path);
  return read_pipeline(doc.root, doc.name);
}

pipeline_config load_pipeline_string(std::string_view text, const std::string& name) {
  auto doc = load_string(text, name);
  return read_pipeline(doc.root, doc.name);
}

std::vector<config_error> validate_file(const std::filesystem::path& path) {
  try {
    auto doc = load_file(path);
    return validate_pipeline(doc.root);
  } catch (const config_exception& e) {
    return e.errors();
  }
}

} // namespace sluice::config
