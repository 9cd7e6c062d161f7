#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/option.h"

/// A source's or a sink's own settings as plain values: what its type reads, in its own file,
/// without TOML and without a struct in src/config. The configuration fills one from a section
/// its option table validated (defaults applied); code that builds a configuration (tests, the
/// benches) makes one with make().
namespace sluice::config {

class option_values;
class section;

/// A free-form table's entries in key order; a string entry is a list of one.
using option_entries = std::vector<std::pair<std::string, std::vector<std::string>>>;

/// One option's value: string and enumeration as std::string; boolean; integer as int64; size as
/// uint64 bytes; duration as nanoseconds, or std::string for one of its keywords; string_list;
/// a free-form table's entries; a table with declared fields as nested values.
using option_value =
    std::variant<std::string, bool, std::int64_t, std::uint64_t, std::chrono::nanoseconds,
                 std::vector<std::string>, option_entries, std::shared_ptr<const option_values>>;

/// The values of one section: its kind (`type`), and each option its table declares that the
/// file sets or defaults, in the table's order. Asking for an option with the wrong accessor, or
/// for one without a value (check has()), is a programmer error: std::logic_error. Immutable
/// once made; any thread may read it.
class option_values {
public:
  option_values() = default;

  /// `kind`'s values in `family` (its table's defaults, then `items`; an option declared with
  /// `owner_default` gets `owner`, the name of the section's owner, unless set). Throws
  /// std::logic_error for a kind the family lacks or an item its table does not declare with
  /// that type.
  static option_values make(const table_family& family, std::string_view kind, std::string owner,
                            std::initializer_list<std::pair<std::string_view, option_value>> items);
  /// Values of `table` (not a family member): its defaults, then `items`.
  static option_values make(const option_table& table, std::string owner,
                            std::vector<std::pair<std::string, option_value>> items);

  const std::string& kind() const noexcept { return kind_; }
  /// The kind's option table; null for values made empty.
  const option_table* table() const noexcept { return table_; }

  bool has(std::string_view name) const noexcept { return find(name) != nullptr; }
  std::string string(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  std::uint64_t size(std::string_view name) const;
  /// A duration set as a duration (keywords: keyword()).
  std::chrono::nanoseconds duration(std::string_view name) const;
  /// A duration option set to one of its keywords; nullopt when it holds a duration.
  std::optional<std::string> keyword(std::string_view name) const;
  std::vector<std::string> string_list(std::string_view name) const; ///< empty when absent
  option_entries entries(std::string_view name) const;               ///< empty when absent
  /// A nested table's values (its defaults when the file leaves it out).
  const option_values& table(std::string_view name) const;

  /// Every value, in the table's order.
  const std::vector<std::pair<std::string, option_value>>& items() const noexcept {
    return items_;
  }
  /// These values but those called `names`: to compare two sections except some options.
  option_values without(std::initializer_list<std::string_view> names) const;
  /// The same kind and values (nested tables compared by value).
  bool operator==(const option_values& o) const;

private:
  const option_value* find(std::string_view name) const noexcept;
  const option_value& get(std::string_view name) const;
  friend option_values read_values(const section& s, const option_table& table,
                                   const std::string& owner);

  std::string kind_;
  const option_table* table_ = nullptr;
  std::vector<std::pair<std::string, option_value>> items_;
};

/// The values of a section the validator passed, read through `table` (its kind's), for
/// src/config's readers. `owner` fills the options declared with `owner_default`.
option_values read_values(const section& s, const option_table& table, const std::string& owner);

} // namespace sluice::config
