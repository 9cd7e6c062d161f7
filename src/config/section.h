#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "config/option.h"

namespace sluice::config {

/// A table that a validator passed, read through its option tables: typed values with the
/// defaults applied. Asking for an option the tables do not declare, with the wrong accessor, or
/// for an absent option without a default (check has() first) is a programmer error and throws
/// std::logic_error. Holds pointers into the document and the tables: both must outlive it.
class section {
public:
  /// `table` may be null: a section the file leaves out, read for its defaults.
  section(const toml::table* table, std::vector<const option_table*> tables, std::string path);

  /// A member of `family`, its kind chosen by the table's `type` key.
  static section of_family(const toml::table& table, const table_family& family, std::string path);

  const std::string& path() const noexcept { return path_; }
  /// The line of the table in the file; 0 when absent.
  int line() const noexcept;
  /// The `type` of a family member ("http", "sqlite"); empty otherwise.
  const std::string& kind() const noexcept { return kind_; }

  /// Whether the file sets `name`.
  bool is_set(std::string_view name) const;
  /// Whether `name` has a value: set in the file or defaulted.
  bool has(std::string_view name) const;

  std::string string(std::string_view name) const; ///< string or enumeration
  bool boolean(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  std::uint64_t size(std::string_view name) const; ///< bytes
  std::chrono::nanoseconds duration(std::string_view name) const;
  /// A duration option given as one of its keywords ("always"); nullopt for a duration.
  std::optional<std::string> keyword(std::string_view name) const;
  std::vector<std::string> string_list(std::string_view name) const; ///< empty when absent
  /// A free-form table's entries in key order; a string entry is a list of one.
  std::vector<std::pair<std::string, std::vector<std::string>>>
  entries(std::string_view name) const;
  /// A nested table with declared fields or a family; absent: a section of defaults.
  section table(std::string_view name) const;
  /// The sections of a named_tables option, in key order.
  std::vector<std::pair<std::string, section>> named(std::string_view name) const;

private:
  const option& find(std::string_view name, option_type type) const;
  const toml::node* node(std::string_view name) const;
  /// The value's text: from the file, else the default.
  std::string text(std::string_view name, const option& opt) const;

  const toml::table* table_;
  std::vector<const option_table*> tables_;
  std::string path_;
  std::string kind_;
};

} // namespace sluice::config
