#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

/// What an option's value is in the file, and what the typed accessors give back.
enum class option_type {
  string,       ///< a TOML string
  boolean,      ///< true | false
  integer,      ///< a TOML integer within [min, max]
  size,         ///< "64MiB", "512KiB", "1GB" (base/units.h parse_size) or an integer of bytes
  duration,     ///< "10ms", "2s", "5m" (parse_duration); `values` lists keywords also accepted
  string_list,  ///< an array of strings
  enumeration,  ///< a string, one of `values`
  table,        ///< an inline table: with `fields` or `family` its keys are declared; otherwise
                ///< free-form keys whose values are `entries` (string, or string_list which
                ///< also accepts a single string)
  named_tables, ///< a table of sections keyed by name ([sources.NAME]), names matching
                ///< base/name.h's valid_name, each checked against `fields` or `family`
};

struct option_table;
struct table_family;

/// One option, declared once: this drives parsing, validation and docs/config.md (STYLE habit 5).
/// Aggregate, meant for designated initializers in a constexpr array.
struct option {
  std::string_view name;
  option_type type = option_type::string;
  /// The default as the file would write it ("64MiB", "true", "500"); empty: no default.
  std::string_view default_value = {};
  /// When a default cannot be written as a value ("the subscription's name"), for the docs.
  std::string_view default_doc = {};
  bool required = false;
  std::string_view unit = {};
  std::string_view help = {};
  /// enumeration: the allowed values; duration: keywords accepted instead of a duration.
  std::span<const std::string_view> values = {};
  /// table, named_tables: the nested table's own options (`retry = { initial = "100ms" }`).
  const option_table* fields = nullptr;
  /// table, named_tables: options that depend on the `type` key (`sink = { type = ... }`).
  const table_family* family = nullptr;
  /// table without fields or family: what each free-form entry holds.
  option_type entries = option_type::string;
  std::int64_t min = std::numeric_limits<std::int64_t>::min(); ///< integer only
  std::int64_t max = std::numeric_limits<std::int64_t>::max(); ///< integer only
  /// string and string_list: a further check of the text; returns the problem, or nullopt.
  std::optional<std::string> (*check)(std::string_view text) = nullptr;
  /// Unset, the value is the name of the section's owner (a sqlite sink's table: its
  /// subscription's name); say so in `default_doc`.
  bool owner_default = false;
  /// A file or directory the section writes: the API keeps one given at run time inside
  /// data_dir.
  bool path = false;
  /// Part of what a sink writes to: two subscriptions whose sinks of one type agree on every
  /// target option would interleave, and the configuration refuses the second.
  bool target = false;

  bool has_default() const noexcept { return !default_value.empty(); }
};

/// Every option of one kind of section (`[queue]`, a source of type "http", a sink of type
/// "sqlite").
struct option_table {
  std::string_view title; ///< heading in the docs: "[queue]", "source type \"http\""
  std::string_view kind;  ///< in a family: the value of `type` that selects this table
  std::string_view help;  ///< a paragraph for the docs
  std::span<const option> options;
  /// What the `target` options name together, for messages: "directory", "table".
  std::string_view target_noun = {};

  /// The option called `name`, or nullptr.
  const option* find(std::string_view name) const noexcept {
    for (const auto& o : options)
      if (o.name == name)
        return &o;
    return nullptr;
  }
};

/// Tables chosen by the value of a section's `type` key: source types, sink types. A section
/// of the family may hold the `common` options and those of the table its `type` selects.
/// Adding a type is adding a table to `kinds`.
struct table_family {
  std::string_view name;                ///< "source", "sink": for messages and docs
  const option_table* common = nullptr; ///< options every kind takes (`type` itself is implied)
  std::span<const option_table* const> kinds;

  /// The table for `type = kind` (built in, or registered), or nullptr.
  const option_table* find(std::string_view kind) const noexcept;
  /// The kinds built in, then those registered, in that order.
  std::vector<const option_table*> all_kinds() const;
};

/// Adds a kind to `family` at run time: a source or sink type built outside src/config (a test
/// build's, say) brings its own table. Call before any configuration is read (at start-up);
/// registering a kind twice is once.
void register_kind(const table_family& family, const option_table& kind);

/// "a duration", "a size": how messages and the docs name a type.
std::string_view describe(option_type type) noexcept;

} // namespace sluice::config
