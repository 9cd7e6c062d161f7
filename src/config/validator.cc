#include "config/validator.h"

#include "base/name.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "config/suggest.h"
#include "config/value_check.h"

namespace sluice::config {
namespace {

std::vector<std::string> names_of(std::span<const option_table* const> tables) {
  std::vector<std::string> names;
  for (const auto* t : tables)
    for (const auto& o : t->options)
      names.emplace_back(o.name);
  return names;
}

const option* find_in(std::span<const option_table* const> tables, std::string_view name) {
  for (const auto* t : tables)
    if (const auto* o = t->find(name))
      return o;
  return nullptr;
}

std::string unknown_key_message(std::string_view key, const std::vector<std::string>& known) {
  if (auto near = closest(key, known))
    return fmt::format("unknown key \"{}\"; did you mean \"{}\"?", key, *near);
  return fmt::format("unknown key \"{}\"", key);
}

} // namespace

void validator::add(std::string key_path, const toml::source_region& where, std::string message) {
  errors_.push_back(config_error{std::move(key_path), static_cast<int>(where.begin.line),
                                 static_cast<int>(where.begin.column), std::move(message)});
}

std::vector<config_error> validator::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::exchange(errors_, {});
}

void validator::check_table(const toml::table& table, const option_table& options,
                            const std::string& path) {
  std::array<const option_table*, 1> tables{&options};
  check_keys(table, tables, path, true);
}

void validator::check_family(const toml::table& table, const table_family& family,
                             const std::string& path) {
  std::array<const option_table*, 2> tables{family.common, nullptr};
  const auto* type = table.get("type");
  std::vector<std::string> kinds;
  for (const auto* k : family.all_kinds())
    kinds.emplace_back(k->kind);
  if (type == nullptr) {
    add(path, table.source(),
        fmt::format("missing required key \"type\" (the {} type: {})", family.name,
                    fmt::join(kinds, ", ")));
  } else if (const auto* s = type->as_string(); s == nullptr) {
    add(detail::join(path, "type"), type->source(),
        fmt::format("expected a string naming the {} type, got {}", family.name,
                    detail::show(*type)));
  } else if ((tables[1] = family.find(s->get())) == nullptr) {
    std::string message = fmt::format("unknown {} type \"{}\"; expected one of: {}", family.name,
                                      s->get(), fmt::join(kinds, ", "));
    if (auto near = closest(s->get(), kinds))
      message += fmt::format("; did you mean \"{}\"?", *near);
    add(detail::join(path, "type"), type->source(), std::move(message));
  }
  // Without a known type the allowed keys are unknown: check only the common ones.
  std::span<const option_table* const> known(tables.data(), tables[1] == nullptr ? 1 : 2);
  check_keys(table, known, path, tables[1] != nullptr);
}

void validator::check_keys(const toml::table& table, std::span<const option_table* const> tables,
                           const std::string& path, bool report_unknown) {
  std::vector<std::string> known;
  for (auto&& [key, node] : table) {
    const option* opt = find_in(tables, key.str());
    if (opt != nullptr) {
      check_option(node, *opt, detail::join(path, key.str()));
      continue;
    }
    if (!report_unknown || (key.str() == "type" && tables.size() == 2))
      continue; // a family's `type` was checked by check_family
    if (known.empty())
      known = names_of(tables);
    add(detail::join(path, key.str()), key.source(), unknown_key_message(key.str(), known));
  }
  for (const auto* t : tables) {
    for (const auto& o : t->options) {
      if (o.required && !table.contains(o.name)) {
        add(path.empty() ? std::string(o.name) : path, table.source(),
            fmt::format("missing required key \"{}\"", o.name));
      }
    }
  }
}

void validator::check_option(const toml::node& node, const option& opt, const std::string& path) {
  if (auto problem = detail::check_value(node, opt)) {
    add(path, node.source(), std::move(*problem));
    return;
  }
  const auto* table = node.as_table();
  if (table == nullptr)
    return;
  if (opt.type == option_type::named_tables)
    check_named(*table, opt, path);
  else if (opt.fields != nullptr)
    check_table(*table, *opt.fields, path);
  else if (opt.family != nullptr)
    check_family(*table, *opt.family, path);
  else
    check_entries(*table, opt, path);
}

void validator::check_entries(const toml::table& table, const option& opt,
                              const std::string& path) {
  option entry{.name = opt.name, .type = opt.entries, .check = opt.check};
  for (auto&& [key, node] : table) {
    // A string_list entry also takes a single string: `track = "Bears"`.
    if (opt.entries == option_type::string_list && node.is_string())
      entry.type = option_type::string;
    else
      entry.type = opt.entries;
    if (auto problem = detail::check_value(node, entry)) {
      if (opt.entries == option_type::string_list && !node.is_array())
        *problem =
            fmt::format("expected a string or an array of strings, got {}", detail::show(node));
      add(detail::join(path, key.str()), node.source(), std::move(*problem));
    }
  }
}

void validator::check_named(const toml::table& table, const option& opt, const std::string& path) {
  for (auto&& [key, node] : table) {
    std::string where = detail::join(path, key.str());
    if (!valid_name(key.str())) {
      add(where, key.source(),
          fmt::format("invalid name \"{}\": a name is {}", key.str(), k_name_rule));
    }
    const auto* section = node.as_table();
    if (section == nullptr) {
      add(where, node.source(),
          fmt::format("expected a table ([{}]), got {}", where, detail::show(node)));
      continue;
    }
    if (opt.fields != nullptr)
      check_table(*section, *opt.fields, where);
    else if (opt.family != nullptr)
      check_family(*section, *opt.family, where);
  }
}

} // namespace sluice::config
