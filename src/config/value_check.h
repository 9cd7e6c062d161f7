#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "config/option.h"

// Internal to the config module: the value rules shared by the validator and the accessors.
namespace sluice::config::detail {

/// The problem with `node` as the value of `opt`, or nullopt when it is fine. Looks at the value
/// itself: a table's own keys are the validator's job.
std::optional<std::string> check_value(const toml::node& node, const option& opt);

/// The problem with `opt`'s default text as a value of `opt`, or nullopt (for tests of tables).
std::optional<std::string> check_default(const option& opt);

/// How a value reads in a message: "fast" quoted, 42, true, "an array", "a table".
std::string show(const toml::node& node);

/// `key` as it appears in a key path: bare when TOML allows it, quoted otherwise.
std::string key_text(std::string_view key);

/// `path.key`, or `key` when path is empty.
std::string join(const std::string& path, std::string_view key);

} // namespace sluice::config::detail
