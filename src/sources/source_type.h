#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "base/result.h"
#include "config/pipeline.h"
#include "queue/queue.h"
#include "sources/source.h"

namespace sluice::sources {

/// A source type, declared once: its option table (config/tables_sources.cc for the built-in
/// ones, or the type's own file for one registered at run time) and how it makes a source from
/// a configuration whose settings that table validated. Its counts are the sources' one field
/// table (counters.h); its state is source_state.
struct source_type {
  std::string_view name;                         ///< its `type`: "http"
  const config::option_table* options = nullptr; ///< its options (kind == name)
  /// Makes the source (not started). Reads `cfg.settings` only through the type's own code.
  result<std::unique_ptr<source>> (*make)(const config::source_config& cfg, queue::queue& q,
                                          const std::filesystem::path& data_dir) = nullptr;
};

/// The type called `name` (built in, or registered), or nullptr.
const source_type* find_source_type(std::string_view name);

/// Adds a source type built outside this list, its option table included
/// (config::register_kind). At start-up, before any configuration is read; twice is once.
void register_source_type(const source_type& type);

} // namespace sluice::sources
