#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "config/config_error.h"
#include "config/option_values.h"
#include "config/queue_settings.h"

namespace toml {
inline namespace v3 {
class table;
}
} // namespace toml

/// The sluice configuration file as plain values: what the rest of the pipeline reads, so that
/// no code outside src/config touches TOML. Every default is applied; every value was checked
/// against the option tables in tables.h.
namespace sluice::config {

using std::chrono::nanoseconds;

enum class record_format { json, lines };
enum class start_position { beginning, end };

struct source_config {
  std::string name;
  int line = 0; ///< of [sources.NAME], for messages
  std::uint64_t max_record_bytes = 1u << 20;
  record_format format = record_format::json;
  std::string default_type = "event";
  bool enabled = true; ///< false: defined, not started (the API's stop)
  /// The source's type and its own settings (`type = ...` and that type's keys), read by the
  /// type's descriptor (sources/source_type.h); its option table is in tables_sources.cc.
  option_values settings;

  /// "http", "tcp", "unix", "listen", "stdin", ...: the source's `type`.
  std::string_view type() const noexcept { return settings.kind(); }
  /// Whether its type takes stream parameters (`params`, an http source's query terms), which
  /// the API changes at run time.
  bool has_params() const noexcept {
    return settings.table() != nullptr && settings.table()->find("params") != nullptr;
  }
  /// The same settings: `line` (where they are written) does not count, so that a reload of a
  /// file edited elsewhere leaves the source untouched. Keep in step with the members.
  bool operator==(const source_config& o) const {
    return name == o.name && max_record_bytes == o.max_record_bytes && format == o.format &&
           default_type == o.default_type && enabled == o.enabled && settings == o.settings;
  }
};

/// An event passes when its type is in `types` (if any) and, when `field` is set, the value(s)
/// at `field` include one of `any_of`.
struct filter_config {
  std::vector<std::string> types;
  std::string field; ///< "entities.hashtags[].text"; empty: no field condition
  std::vector<std::string> any_of;
  bool operator==(const filter_config&) const = default;
};

struct retry_config {
  nanoseconds initial = std::chrono::milliseconds(100);
  nanoseconds max = std::chrono::seconds(30);
  std::optional<std::uint64_t> max_attempts; ///< nullopt: forever
  bool operator==(const retry_config&) const = default;
};

struct subscription_config {
  std::string name;
  int line = 0; ///< of [subscriptions.NAME], for messages
  /// The sink's type and settings (`sink = { type = ..., ... }`), read by that type's own
  /// descriptor (sinks/sink_type.h); its option table is in tables_sinks.cc.
  option_values sink;
  std::optional<filter_config> filter; ///< nullopt: every event
  std::size_t batch = 500;
  start_position start = start_position::beginning;
  retry_config retry;
  /// false: deliver = "drain", only `sluice drain` and drain tasks deliver it.
  bool continuous = true;
  /// true: no delivery runs; the cursor keeps its place (the API's pause).
  bool paused = false;

  /// "eventlog", "sqlite", ...: the sink's `type`.
  std::string_view sink_type() const noexcept { return sink.kind(); }
  /// The same settings; `line` does not count (see source_config). Keep in step.
  bool operator==(const subscription_config& o) const {
    return name == o.name && sink == o.sink && filter == o.filter && batch == o.batch &&
           start == o.start && retry == o.retry && continuous == o.continuous && paused == o.paused;
  }
};

/// [daemon]: what `sluice start` needs beyond the pipeline. Empty paths: the built-in defaults.
struct daemon_config {
  std::filesystem::path run_dir;
  std::filesystem::path log_dir;
  std::filesystem::path common_log;
  std::uint64_t memory_limit = 0; ///< 0: none
  int memory_threshold = 70;      ///< percent of memory_limit
  nanoseconds memory_check_interval = std::chrono::seconds(10);
  nanoseconds restart_min = std::chrono::seconds(1);
  nanoseconds restart_max = std::chrono::seconds(60);
  nanoseconds healthy_after = std::chrono::minutes(5);
  bool operator==(const daemon_config&) const = default;
};

/// [tasks.NAME]
struct task_config {
  std::string name;
  int line = 0;
  enum class kind { drain, exec } what = kind::exec;
  std::string subscription;      ///< kind::drain
  std::vector<std::string> argv; ///< kind::exec
  nanoseconds sleep{0};
  nanoseconds min_sleep{0};
  std::optional<nanoseconds> timeout;
  /// The same settings; `line` does not count (see source_config). Keep in step.
  bool operator==(const task_config& o) const {
    return name == o.name && what == o.what && subscription == o.subscription && argv == o.argv &&
           sleep == o.sleep && min_sleep == o.min_sleep && timeout == o.timeout;
  }
};

/// [hooks]: shell commands, empty when not set.
struct hooks_config {
  std::string on_start;
  std::string on_task_done;
  std::string on_stop;
  std::string on_crash;
  nanoseconds timeout = std::chrono::seconds(30);
  bool operator==(const hooks_config&) const = default;
};

/// [api]: the control API.
struct api_config {
  std::vector<std::string> listen{"127.0.0.1:4711"}; ///< "HOST:PORT" or "unix:PATH"; empty: none
  bool listen_default = true; ///< the file left `listen` out: an address in use is a warning
  /// nullopt: DATA_DIR/api.token; an empty path: no token (loopback and Unix sockets only).
  std::optional<std::filesystem::path> token_file;
  std::size_t max_connections = 4096;
  std::uint64_t max_header_bytes = 16 << 10;
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint32_t request_rate = 200; ///< per connection per second; 0: no limit
  nanoseconds idle_timeout = std::chrono::seconds(60);
  nanoseconds request_timeout = std::chrono::seconds(10);
  bool operator==(const api_config&) const = default;
};

/// [metrics.graphite]
struct graphite_config {
  std::string address; ///< HOST:PORT
  std::string prefix = "sluice";
  nanoseconds interval = std::chrono::seconds(10);
  bool operator==(const graphite_config&) const = default;
};

/// A whole configuration file. Sources and subscriptions are in name order.
struct pipeline_config {
  std::filesystem::path data_dir = "./sluice-data";
  nanoseconds shutdown_timeout = std::chrono::seconds(10);
  queue_config queue;
  std::vector<source_config> sources;
  std::vector<subscription_config> subscriptions;
  daemon_config daemon;
  std::vector<task_config> tasks; ///< in name order
  hooks_config hooks;
  api_config api;
  std::optional<graphite_config> graphite;
  bool operator==(const pipeline_config&) const = default;
};

/// The API token's file: api.token_file, or DATA_DIR/api.token; empty: no token.
inline std::filesystem::path api_token_file(const pipeline_config& cfg) {
  return cfg.api.token_file.value_or(cfg.data_dir / "api.token");
}

/// The item of `items` (sources, subscriptions, tasks) called `name`, or nullptr.
template <class T> const T* by_name(const std::vector<T>& items, std::string_view name) {
  for (const auto& i : items)
    if (i.name == name)
      return &i;
  return nullptr;
}

/// Every error in `root` (an already parsed file), in file order; empty when it is valid. Checks
/// the option tables and the rules across keys (auth, filter, backoff bounds).
std::vector<config_error> validate_pipeline(const toml::table& root);

/// The configuration in `root`. Throws config_exception (naming `name`) with every error when
/// validate_pipeline finds any.
pipeline_config read_pipeline(const toml::table& root, const std::string& name);

/// load_file + read_pipeline. Throws config_exception. Blocks on the file read.
pipeline_config load_pipeline_file(const std::filesystem::path& path);

/// load_string + read_pipeline, for tests and the built-in demo. Throws config_exception.
pipeline_config load_pipeline_string(std::string_view text, const std::string& name);

/// Every error in the file at `path` (a syntax error, or all validation errors), in file order;
/// empty when valid. Never throws: what `sluice validate` prints.
std::vector<config_error> validate_file(const std::filesystem::path& path);

} // namespace sluice::config
