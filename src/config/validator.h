#pragma once

#include <span>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config/config_error.h"
#include "config/option.h"

namespace sluice::config {

/// Walks TOML tables against option tables and collects every error, not only the first: unknown
/// keys (with "did you mean" when one is close), values of the wrong type or form, missing
/// required keys, bad section names. Nested tables declared by an option (`fields`, `family`,
/// `named_tables`) are walked too. Not thread-safe; one validator per check.
class validator {
public:
  /// Checks `table`, found at key path `path` ("" for the file's root), against `options`.
  void check_table(const toml::table& table, const option_table& options, const std::string& path);

  /// Checks `table` as a member of `family`: its `type` key selects the kind's table, whose
  /// options and the family's common ones are the keys allowed.
  void check_family(const toml::table& table, const table_family& family, const std::string& path);

  /// Records an error at `where` (the line and column of the node or key at fault).
  void add(std::string key_path, const toml::source_region& where, std::string message);

  bool ok() const noexcept { return errors_.empty(); }
  const std::vector<config_error>& errors() const noexcept { return errors_; }

  /// The errors in the order of the file (line, then column); the validator is left empty.
  std::vector<config_error> take_errors();

private:
  void check_keys(const toml::table& table, std::span<const option_table* const> tables,
                  const std::string& path, bool report_unknown);
  void check_option(const toml::node& node, const option& opt, const std::string& path);
  void check_entries(const toml::table& table, const option& opt, const std::string& path);
  void check_named(const toml::table& table, const option& opt, const std::string& path);

  std::vector<config_error> errors_;
};

} // namespace sluice::config
