#include "config/pipeline.h"

#include <toml++/toml.h>

#include "base/units.h"
#include "config/load.h"
#include "config/rules.h"
#include "config/section.h"
#include "config/tables.h"
#include "config/validator.h"

namespace sluice::config {
namespace {

queue_config read_queue(const section& s) {
  queue_config q;
  // Validated already: the one parser reads what the file (or the default) says.
  auto k = s.keyword("fsync");
  q.fsync = *fsync_setting::parse(k ? *k : format_duration(s.duration("fsync")));
  q.segment_bytes = s.size("segment_bytes");
  if (s.has("max_disk"))
    q.max_disk = s.size("max_disk");
  q.when_full = *parse_when_full(s.string("when_full"));
  if (s.has("retain_bytes"))
    q.retain_bytes = s.size("retain_bytes");
  if (s.has("retain_age"))
    q.retain_age = s.duration("retain_age");
  q.backend = *parse_queue_backend(s.string("backend"));
  if (s.has("url"))
    q.url = s.string("url");
  q.stream = s.string("stream");
  if (s.has("consumer"))
    q.consumer = s.string("consumer");
  q.claim_idle = s.duration("claim_idle");
  q.max_deliveries = static_cast<std::uint64_t>(s.integer("max_deliveries"));
  q.replicas = *parse_acks(s.string("acks"));
  if (s.has("max_len"))
    q.max_len = static_cast<std::uint64_t>(s.integer("max_len"));
  q.spill = s.string("spill") == "disk";
  return q;
}

source_config read_source(const std::string& name, const section& s) {
  source_config c;
  c.name = name;
  c.line = s.line();
  c.max_record_bytes = s.size("max_record_bytes");
  c.format = s.string("format") == "json" ? record_format::json : record_format::lines;
  c.default_type = s.string("default_type");
  c.enabled = s.boolean("enabled");
  c.settings = read_values(s, *source_types.find(s.kind()), name);
  return c;
}

subscription_config read_subscription(const std::string& name, const section& s) {
  subscription_config c;
  c.name = name;
  c.line = s.line();
  auto sink = s.table("sink");
  c.sink = read_values(sink, *sink_types.find(sink.kind()), name);
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
