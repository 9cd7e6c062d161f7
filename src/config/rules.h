#pragma once

#include <toml++/toml.h>

#include "config/validator.h"

namespace sluice::config {

/// The rules across keys that the option tables cannot state: auth is bearer or user+password,
/// a filter has `type` or `field` with `any_of`, backoff minimums not above maximums, fsync
/// intervals above zero, at least one listen endpoint, no two sinks on the same target.
/// Adds its errors to `v`; values that are malformed were reported by the tables and are skipped.
void check_pipeline_rules(const toml::table& root, validator& v);

} // namespace sluice::config
