#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "config/config_error.h"

namespace sluice::config {

/// A parsed TOML file: its root table (every node keeps its line and column) and its name for
/// messages.
struct document {
  std::string name; ///< the path as given, or the name passed to load_string
  toml::table root;
};

/// Reads and parses `path`. Throws config_exception: one error with the line and column of a
/// TOML syntax error, or one naming the file when it cannot be read. Blocks on the file read.
document load_file(const std::filesystem::path& path);

/// Parses `text`; `name` names it in messages. Throws config_exception like load_file.
document load_string(std::string_view text, std::string name);

} // namespace sluice::config
