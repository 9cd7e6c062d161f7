#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "base/result.h"
#include "config/load.h"
#include "config/pipeline.h"

namespace sluice::api {

/// What changes made through the API: kept in DATA_DIR/api-state.json and applied on top of the
/// configuration file at every start and reload, so they survive both. The file stays as its
/// author wrote it.
struct overlay {
  struct stream_change {
    /// Parameters replaced, by key (the file's other parameters stay).
    std::map<std::string, std::vector<std::string>> params;
    std::optional<bool> enabled; ///< stopped (false) or started (true) through the API
    bool operator==(const stream_change&) const = default;
  };
  std::map<std::string, stream_change> streams;
  /// Subscriptions created through the API: their tables as posted, paths made absolute.
  std::map<std::string, nlohmann::json> subscriptions;
  std::set<std::string> paused; ///< subscriptions paused through the API
  bool operator==(const overlay&) const = default;
};

/// DATA_DIR/api-state.json.
std::filesystem::path overlay_path(const std::filesystem::path& data_dir);

/// Reads the overlay; a missing file is an empty overlay. A damaged file is an error naming it.
result<overlay> load_overlay(const std::filesystem::path& path, std::string& error);

/// Replaces the file atomically and durably (tmp, fsync, rename, fsync the directory).
result<void> save_overlay(const std::filesystem::path& path, const overlay& o, std::string& error);

/// The configuration `file` describes with `o` applied: stream parameters and `enabled` set,
/// API subscriptions added, `paused` set. An entry that no longer fits the file (a stream it no
/// longer has, a subscription it now defines itself, one that fails validation) is left out and
/// described in `dropped`. Throws config_exception when the file itself is invalid.
config::pipeline_config effective_config(const config::document& file, const overlay& o,
                                         std::vector<std::string>& dropped);

/// A JSON value as TOML: objects become tables, arrays arrays; null is an error.
result<toml::table> to_toml_table(const nlohmann::json& object, std::string& error);

} // namespace sluice::api
