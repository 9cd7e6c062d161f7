#pragma once

#include "config/option.h"

/// The option tables of the sluice configuration file. Each is constant-initialized, so any
/// code may use them at any time. A new source or sink type is a new option_table added to
/// `source_types` or `sink_types` (and its fields read in pipeline.cc); validation and
/// docs/config.md pick it up from there.
namespace sluice::config {

/// The file's top level: data_dir, shutdown_timeout, [queue], [sources.NAME],
/// [subscriptions.NAME]. A validator walking the root with it checks the whole file.
extern const option_table file_options;

extern const option_table queue_options;
extern const option_table daemon_options;
extern const option_table task_options;
extern const option_table hook_options;
extern const option_table api_options;
extern const option_table metrics_options;
extern const option_table graphite_options;

extern const table_family source_types;
extern const option_table source_common_options;
extern const option_table http_source_options;
extern const option_table tcp_source_options;
extern const option_table unix_source_options;
extern const option_table listen_source_options;
extern const option_table stdin_source_options;
extern const option_table auth_options;
extern const option_table reconnect_options;

extern const option_table subscription_options;
extern const option_table filter_options;
extern const option_table retry_options;
extern const table_family sink_types;
extern const option_table sink_common_options;
extern const option_table eventlog_sink_options;
extern const option_table sqlite_sink_options;

} // namespace sluice::config
