#pragma once

// Settings of sources built in code by tests: each type's own options, as its table declares
// them (config/tables_sources.cc), with the table's defaults for the rest.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/option_values.h"
#include "config/tables.h"

namespace sluice::testing {

/// Settings under construction: option name -> value, in any order.
using settings_items = std::vector<std::pair<std::string, config::option_value>>;

/// Sets `name` in `items`, replacing a value it had.
inline void set(settings_items& items, const std::string& name, config::option_value value) {
  for (auto& [n, v] : items)
    if (n == name) {
      v = std::move(value);
      return;
    }
  items.emplace_back(name, std::move(value));
}

/// `kind`'s settings ("http", "tcp", ...): its table's defaults, then `items`.
inline config::option_values source_settings(std::string_view kind, settings_items items) {
  return config::option_values::make(*config::source_types.find(kind), "", std::move(items));
}

/// A reconnect table for tests: every delay 1 ms (network: 1 ms, +1 ms, at most 5 ms), no
/// jitter, so the sequence is exact and no test waits for real delays; then `overrides`.
inline config::option_value fast_reconnect(settings_items overrides = {}) {
  using std::chrono::nanoseconds;
  constexpr nanoseconds ms1 = std::chrono::milliseconds(1), ms5 = std::chrono::milliseconds(5);
  settings_items items = {{"network_initial", ms1}, {"network_step", ms1},
                          {"network_max", ms5},     {"http_initial", ms1},
                          {"http_max", ms5},        {"rate_limit_initial", ms1},
                          {"rate_limit_max", ms5},  {"jitter", std::int64_t{0}}};
  for (auto& [n, v] : overrides)
    set(items, n, std::move(v));
  return std::make_shared<const config::option_values>(
      config::option_values::make(config::reconnect_options, "", std::move(items)));
}

} // namespace sluice::testing
