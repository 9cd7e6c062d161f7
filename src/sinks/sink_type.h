#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/option_values.h"
#include "sinks/sink.h"

namespace sluice::sinks {

/// What opening a sink knows besides its own options.
struct sink_context {
  std::string subscription; ///< the subscription's name
};

/// A sink type, declared once: its option table (config/tables_sinks.cc for the built-in ones,
/// or the type's own file for one registered at run time), how it opens from validated values
/// of that table, and how messages name what it writes. Counts: every sink has sink_counters
/// (sink.h); the API and /metrics show them from that one field table.
struct sink_type {
  std::string_view name;                        ///< its `type`: "eventlog"
  const config::option_table* options = nullptr; ///< its options (kind == name)
  /// Opens a sink from values of `options` (blocks on the target: a file, a connection). The
  /// errors of the sink's own open(), for the subscription to report.
  result<std::unique_ptr<sink>> (*open)(const config::option_values& values,
                                        const sink_context& ctx) = nullptr;
  /// What it writes, for messages: "DIR", "PATH table T".
  std::string (*target)(const config::option_values& values) = nullptr;
};

/// The type called `name` (built in, or registered), or nullptr.
const sink_type* find_sink_type(std::string_view name);

/// Adds a sink type built outside this list (a test build's, say), its option table included
/// (config::register_kind): the configuration, `sluice validate`, the pipeline and the API take
/// it from then on. At start-up, before any configuration is read; registering twice is once.
void register_sink_type(const sink_type& type);

/// Opens the sink `values` describe (their kind names its type). errc::invalid_config for a
/// kind no type has.
result<std::unique_ptr<sink>> open_sink(const config::option_values& values,
                                        const sink_context& ctx);

/// What the sink `values` describe writes, for messages ("" for an unknown kind).
std::string sink_target(const config::option_values& values);

} // namespace sluice::sinks
