#include "api/overlay.h"

#include <fmt/format.h>

#include "config/config_error.h"
#include "base/file.h"

namespace sluice::api {
namespace {

using nlohmann::json;

result<toml::array> to_toml_array(const json& a, std::string& error);

// One JSON value into `out` at `key`.
bool insert_value(toml::table& out, const std::string& key, const json& v, std::string& error) {
  if (v.is_string())
    out.insert_or_assign(key, v.get<std::string>());
  else if (v.is_boolean())
    out.insert_or_assign(key, v.get<bool>());
  else if (v.is_number_integer())
    out.insert_or_assign(key, v.get<std::int64_t>());
  else if (v.is_number_float())
    out.insert_or_assign(key, v.get<double>());
  else if (v.is_object()) {
    auto t = to_toml_table(v, error);
    if (!t)
      return false;
    out.insert_or_assign(key, std::move(*t));
  } else if (v.is_array()) {
    auto a = to_toml_array(v, error);
    if (!a)
      return false;
    out.insert_or_assign(key, std::move(*a));
  } else {
    error = fmt::format("{}: null or an unsupported value", key);
    return false;
  }
  return true;
}

result<toml::array> to_toml_array(const json& a, std::string& error) {
  toml::array out;
  for (const auto& v : a) {
    if (v.is_string())
      out.push_back(v.get<std::string>());
    else if (v.is_boolean())
      out.push_back(v.get<bool>());
    else if (v.is_number_integer())
      out.push_back(v.get<std::int64_t>());
    else if (v.is_number_float())
      out.push_back(v.get<double>());
    else {
      error = "arrays hold strings, numbers or booleans";
      return fail(std::make_error_code(std::errc::invalid_argument));
    }
  }
  return out;
}

toml::table* child_table(toml::table& parent, const std::string& key) {
  if (auto* t = parent.get_as<toml::table>(key))
    return t;
  parent.insert_or_assign(key, toml::table{});
  return parent.get_as<toml::table>(key);
}

} // namespace

result<toml::table> to_toml_table(const json& object, std::string& error) {
  if (!object.is_object()) {
    error = "expected a JSON object";
    return fail(std::make_error_code(std::errc::invalid_argument));
  }
  toml::table out;
  for (const auto& [k, v] : object.items())
    if (!insert_value(out, k, v, error))
      return fail(std::make_error_code(std::errc::invalid_argument));
  return out;
}

std::filesystem::path overlay_path(const std::filesystem::path& data_dir) {
  return data_dir / "api-state.json";
}

result<overlay> load_overlay(const std::filesystem::path& path, std::string& error) {
  overlay o;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return o;
  std::string text;
  {
    auto f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
      error = fmt::format("{}: cannot read it", path.string());
      return fail(std::make_error_code(std::errc::io_error));
    }
    char buf[8192];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
      text.append(buf, n);
    std::fclose(f);
  }
  try {
    auto j = json::parse(text);
    if (j.contains("streams"))
      for (const auto& [name, s] : j.at("streams").items()) {
        overlay::stream_change c;
        if (s.contains("params"))
          for (const auto& [k, v] : s.at("params").items())
            c.params[k] = v.get<std::vector<std::string>>();
        if (s.contains("enabled"))
          c.enabled = s.at("enabled").get<bool>();
        o.streams[name] = std::move(c);
      }
    if (j.contains("subscriptions"))
      for (const auto& [name, s] : j.at("subscriptions").items())
        o.subscriptions[name] = s;
    if (j.contains("paused"))
      for (const auto& name : j.at("paused"))
        o.paused.insert(name.get<std::string>());
  } catch (const json::exception& e) {
    error = fmt::format("{} is damaged: {}", path.string(), e.what());
    return fail(std::make_error_code(std::errc::invalid_argument));
  }
  return o;
}

result<void> save_overlay(const std::filesystem::path& path, const overlay& o, std::string& error) {
  json j = {{"version", 1}};
  json streams = json::object();
  for (const auto& [name, c] : o.streams) {
    json s = json::object();
    if (!c.params.empty())
      s["params"] = c.params;
    if (c.enabled)
      s["enabled"] = *c.enabled;
    streams[name] = s;
  }
  j["streams"] = streams;
  j["subscriptions"] = json::object();
  for (const auto& [name, s] : o.subscriptions)
    j["subscriptions"][name] = s;
  j["paused"] = o.paused;
  auto text = j.dump(2) + "\n";
  if (auto r = replace_file(path, text.data(), text.size()); !r) {
    error = fmt::format("cannot write {}: {}", path.string(), r.error().message());
    return fail(r.error());
  }
  return {};
}

config::pipeline_config effective_config(const config::document& file, const overlay& o,
                                         std::vector<std::string>& dropped) {
  toml::table root = file.root;
  auto* sources = root.get_as<toml::table>("sources");
  for (const auto& [name, c] : o.streams) {
    auto* source = sources == nullptr ? nullptr : sources->get_as<toml::table>(name);
    if (source == nullptr) {
      dropped.push_back(
          fmt::format("the API's changes to stream {} (the file no longer has it)", name));
      continue;
    }
    if (!c.params.empty()) {
      auto* params = child_table(*source, "params");
      for (const auto& [k, values] : c.params) {
        if (values.empty()) { // no values: no parameter
          params->erase(k);
          continue;
        }
        toml::array a;
        for (const auto& v : values)
          a.push_back(v);
        params->insert_or_assign(k, std::move(a));
      }
    }
    if (c.enabled)
      source->insert_or_assign("enabled", *c.enabled);
  }
  // Subscriptions one at a time, so one that no longer fits leaves the others in.
  auto* subs = root.get_as<toml::table>("subscriptions");
  for (const auto& [name, s] : o.subscriptions) {
    if (subs != nullptr && subs->contains(name)) {
      dropped.push_back(fmt::format(
          "subscription {} created through the API (the file now defines one of that name)", name));
      continue;
    }
    std::string error;
    auto t = to_toml_table(s, error);
    if (!t) {
      dropped.push_back(fmt::format("subscription {} created through the API: {}", name, error));
      continue;
    }
    auto candidate = root;
    child_table(candidate, "subscriptions")->insert_or_assign(name, std::move(*t));
    auto errors = config::validate_pipeline(candidate);
    if (!errors.empty()) {
      dropped.push_back(fmt::format("subscription {} created through the API: {}", name,
                                    errors.front().to_string()));
      continue;
    }
    root = std::move(candidate);
    subs = root.get_as<toml::table>("subscriptions");
  }
  for (const auto& name : o.paused) {
    auto* sub = subs == nullptr ? nullptr : subs->get_as<toml::table>(name);
    if (sub == nullptr) {
      dropped.push_back(fmt::format("the pause of subscription {} (it no longer exists)", name));
      continue;
    }
    sub->insert_or_assign("paused", true);
  }
  return config::read_pipeline(root, file.name);
}

} // namespace sluice::api
