#pragma once

// The running pipeline's counts as its control API gives them (/meta.json): asked by
// `sluice status`, and rendered the same way there and in `sluice ctl meta` / the console.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/pipeline.h"

namespace sluice::cli {

/// /meta.json of the pipeline whose API listens at the first of `api` (bound addresses, as the
/// daemon's state file lists them), with the token `cfg` names (when there is a configuration);
/// nothing when there is no address or no answer within a second or two.
std::optional<nlohmann::json> fetch_meta(const std::vector<std::string>& api,
                                         const config::pipeline_config* cfg);

/// One line per source of `meta` with a count that is not zero ("  push: rejected_invalid_json
/// 3, dropped_at_cap 12"), "" when none has: a rejection by reason or a drop at the cap in
/// sight without asking for /metrics.
std::string source_counts_text(const nlohmann::json& meta);

} // namespace sluice::cli
