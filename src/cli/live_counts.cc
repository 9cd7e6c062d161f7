#include "cli/live_counts.h"

#include <chrono>
#include <cstdint>

#include <fmt/format.h>

#include "api/server.h"
#include "cli/api_client.h"
#include "cli/table.h"

namespace sluice::cli {

std::optional<nlohmann::json> fetch_meta(const std::vector<std::string>& api,
                                         const config::pipeline_config* cfg) {
  if (api.empty())
    return std::nullopt;
  std::string error;
  auto endpoint = parse_api_url(sluice::api::address_url(api.front()), error);
  if (!endpoint)
    return std::nullopt;
  std::string token;
  if (cfg) {
    auto file = config::api_token_file(*cfg);
    if (!file.empty())
      if (auto t = read_token_file(file.string(), error))
        token = std::move(*t);
  }
  api_client client(std::move(*endpoint), std::move(token), std::chrono::seconds(2));
  auto reply = client.send("GET", "/meta.json", "", error);
  if (!reply || reply->status != 200)
    return std::nullopt;
  auto meta = nlohmann::json::parse(reply->body, nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    return std::nullopt;
  return meta;
}

std::string source_counts_text(const nlohmann::json& meta) {
  std::string out;
  if (!meta.is_object() || !meta.contains("sources") || !meta["sources"].is_array())
    return out;
  for (const auto& s : meta["sources"]) {
    if (!s.is_object() || !s.contains("counts") || !s["counts"].is_object())
      continue;
    std::string line;
    for (const auto& [name, value] : s["counts"].items())
      if (value.is_number_unsigned() && value.get<std::uint64_t>() > 0 && name != "events")
        line += fmt::format("{}{} {}", line.empty() ? "" : ", ", name,
                            format_count(value.get<std::uint64_t>()));
    if (!line.empty())
      out += fmt::format("  {}: {}\n", s.value("name", std::string("-")), line);
  }
  return out;
}

} // namespace sluice::cli
