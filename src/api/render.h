#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/server.h"
#include "api/view.h"
#include "metrics/family.h"

namespace sluice::api {

/// "2026-12-04T06:00:00.123Z" for unix ns; null for 0.
nlohmann::json time_json(std::int64_t unix_ns);
/// Parses an RFC 3339 time ("2026-12-04T06:00:00Z", fractions and ±HH:MM offsets accepted)
/// into unix ns; nullopt when it is not one.
std::optional<std::int64_t> parse_time(std::string_view text);

/// A stream (source) as the routes show it: name, type, state, params, url, figures.
/// A source's or a sink's own settings as the API shows them: `type`, then each option (set or
/// defaulted) under its name; a duration in seconds under NAME_seconds; a nested table as an
/// object.
nlohmann::json values_json(const config::option_values& values);
nlohmann::json stream_json(const view& v, const config::source_config& s, bool api_changed);
/// A subscription: name, sink, filter, start, state, figures, origin.
nlohmann::json subscription_json(const view& v, const config::subscription_config& s);
/// GET /meta.json: Flamingo's keys and sluice's own.
nlohmann::json meta_json(const view& v, const board& b, const std::string& host, int pid);
/// GET /queue.json.
nlohmann::json queue_json(const view& v);
/// Every metric family of GET /metrics and Graphite.
std::vector<metrics::family> families(const view& v, const board& b, const server_stats* api);

} // namespace sluice::api
