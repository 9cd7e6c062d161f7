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

enum class fsync_mode { always, interval, never };
enum class when_full_mode { block, drop_newest };
enum class record_format { json, lines };
enum class start_position { beginning, end };
enum class http_method { get, post };

struct queue_config {
  fsync_mode fsync = fsync_mode::interval;
  nanoseconds fsync_interval = std::chrono::milliseconds(10); ///< for fsync_mode::interval
  std::uint64_t segment_bytes = 64ull << 20;
  std::uint64_t max_disk = 0; ///< 0: no cap
  when_full_mode when_full = when_full_mode::block;
  std::uint64_t retain_bytes = 0;
  nanoseconds retain_age{0}; ///< 0: none
  bool operator==(const queue_config&) const = default;
};

/// The reconnection policy of a client source ([sources.NAME.reconnect]; io::reconnect_policy):
/// network errors and stalls linear from `network_initial` by `network_step` up to
/// `network_max`; HTTP errors and rate limiting exponential (doubling) up to their maximum.
struct reconnect_config {
  nanoseconds network_initial = std::chrono::milliseconds(250);
  nanoseconds network_step = std::chrono::milliseconds(250);
  nanoseconds network_max = std::chrono::seconds(16);
  nanoseconds http_initial = std::chrono::seconds(5);
  nanoseconds http_max = std::chrono::seconds(320);
  nanoseconds rate_limit_initial = std::chrono::seconds(60);
  nanoseconds rate_limit_max = std::chrono::seconds(960);
  unsigned jitter = 20; ///< percent taken off each delay at most
  nanoseconds stable_after = std::chrono::seconds(30);
  std::optional<std::uint64_t> max_retries; ///< nullopt: never give up
  bool operator==(const reconnect_config&) const = default;
};

struct http_source {
  std::string url;
  http_method method = http_method::get;
  /// In key order; a parameter given as one string is a list of one.
  std::vector<std::pair<std::string, std::vector<std::string>>> params;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::pair<std::string, std::string>> basic_auth; ///< user, password
  std::optional<std::string> bearer;
  std::string user_agent; ///< empty: "sluice/VERSION"
  bool gzip = true;
  std::filesystem::path ca_file;     ///< empty: the system's trust store
  std::filesystem::path client_cert; ///< with client_key
  std::filesystem::path client_key;
  bool insecure = false;
  nanoseconds stall_timeout = std::chrono::seconds(90);
  std::uint64_t backfill = 0;          ///< count=-N on every connection; 0: none
  std::string dedupe_field = "id_str"; ///< empty: no duplicate suppression
  std::uint64_t dedupe_window = 10000; ///< ids remembered
  nanoseconds change_debounce = std::chrono::seconds(2);
  reconnect_config reconnect;
  bool operator==(const http_source&) const = default;
};

struct tcp_source {
  std::string address; ///< HOST:PORT
  reconnect_config reconnect;
  bool operator==(const tcp_source&) const = default;
};

struct unix_source {
  std::string path;
  reconnect_config reconnect;
  bool operator==(const unix_source&) const = default;
};

struct listen_endpoint {
  enum kind_t { tcp, unix_socket } kind = tcp;
  std::string address; ///< HOST:PORT for tcp, the path for unix_socket
  bool operator==(const listen_endpoint&) const = default;
};

struct listen_source {
  std::vector<listen_endpoint> endpoints;
  bool ack = false;
  bool operator==(const listen_source&) const = default;
};

struct stdin_source {
  bool operator==(const stdin_source&) const = default;
};

struct source_config {
  std::string name;
  int line = 0; ///< of [sources.NAME], for messages
  std::uint64_t max_record_bytes = 1u << 20;
  record_format format = record_format::json;
  std::string default_type = "event";
  bool enabled = true; ///< false: defined, not started (the API's stop)
  std::variant<http_source, tcp_source, unix_source, listen_source, stdin_source> settings;

  /// "http", "tcp", "unix", "listen", "stdin".
  std::string_view type() const noexcept;
  /// The same settings: `line` (where they are written) does not count, so that a reload of a
  /// file edited elsewhere leaves the source untouched. Keep in step with the members.
  bool operator==(const source_config& o) const {
    return name == o.name && max_record_bytes == o.max_record_bytes && format == o.format &&
           default_type == o.default_type && enabled == o.enabled && settings == o.settings;
  }
};

struct eventlog_sink {
  std::filesystem::path dir;
  bool envelope = false;
  std::uint64_t rotate_bytes = 64ull << 20;   ///< 0: never by size
  std::optional<nanoseconds> rotate_interval; ///< nullopt: never by age
  std::optional<std::uint64_t> rotate_events; ///< nullopt: never by count
  bool operator==(const eventlog_sink&) const = default;
};

struct sqlite_sink {
  std::filesystem::path path;
  std::string table; ///< defaults to the subscription's name
  bool operator==(const sqlite_sink&) const = default;
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
  std::variant<eventlog_sink, sqlite_sink> sink;
  std::optional<filter_config> filter; ///< nullopt: every event
  std::size_t batch = 500;
  start_position start = start_position::beginning;
  retry_config retry;
  /// false: deliver = "drain", only `sluice drain` and drain tasks deliver it.
  bool continuous = true;
  /// true: no delivery runs; the cursor keeps its place (the API's pause).
  bool paused = false;

  /// "eventlog", "sqlite".
  std::string_view sink_type() const noexcept;
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
