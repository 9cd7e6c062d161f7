#include "config/section.h"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

#include "base/units.h"
#include "config/value_check.h"

namespace sluice::config {
namespace {

[[noreturn]] void misuse(const std::string& path, std::string_view name, std::string_view why) {
  throw std::logic_error(fmt::format("config: {}: {}", detail::join(path, name), why));
}

} // namespace

section::section(const toml::table* table, std::vector<const option_table*> tables,
                 std::string path)
    : table_(table), tables_(std::move(tables)), path_(std::move(path)) {}

section section::of_family(const toml::table& table, const table_family& family, std::string path) {
  std::vector<const option_table*> tables{family.common};
  std::string kind = table["type"].value_or(std::string());
  const auto* kind_table = family.find(kind);
  if (kind_table == nullptr)
    misuse(path, "type", "not a known type; validate first");
  tables.push_back(kind_table);
  section s(&table, std::move(tables), std::move(path));
  s.kind_ = std::move(kind);
  return s;
}

int section::line() const noexcept {
  return table_ == nullptr ? 0 : static_cast<int>(table_->source().begin.line);
}

const option& section::find(std::string_view name, option_type type) const {
  for (const auto* t : tables_) {
    if (const auto* o = t->find(name)) {
      bool fits =
          o->type == type || (type == option_type::string && o->type == option_type::enumeration);
      if (!fits)
        misuse(path_, name, fmt::format("declared as {}", describe(o->type)));
      return *o;
    }
  }
  misuse(path_, name, "not a declared option");
}

const toml::node* section::node(std::string_view name) const {
  return table_ == nullptr ? nullptr : table_->get(name);
}

bool section::is_set(std::string_view name) const {
  return node(name) != nullptr;
}

bool section::has(std::string_view name) const {
  if (is_set(name))
    return true;
  for (const auto* t : tables_)
    if (const auto* o = t->find(name))
      return o->has_default();
  return false;
}

std::string section::text(std::string_view name, const option& opt) const {
  if (const auto* n = node(name)) {
    if (const auto* s = n->as_string())
      return s->get();
    misuse(path_, name, "not a string; validate first");
  }
  if (!opt.has_default())
    misuse(path_, name, "not set and no default; check has() first");
  return std::string(opt.default_value);
}

std::string section::string(std::string_view name) const {
  return text(name, find(name, option_type::string));
}

bool section::boolean(std::string_view name) const {
  const auto& opt = find(name, option_type::boolean);
  if (const auto* n = node(name))
    return n->value<bool>().value();
  if (!opt.has_default())
    misuse(path_, name, "not set and no default; check has() first");
  return opt.default_value == "true";
}

std::int64_t section::integer(std::string_view name) const {
  const auto& opt = find(name, option_type::integer);
  if (const auto* n = node(name))
    return n->value<std::int64_t>().value();
  if (!opt.has_default())
    misuse(path_, name, "not set and no default; check has() first");
  std::int64_t v = 0;
  std::from_chars(opt.default_value.data(), opt.default_value.data() + opt.default_value.size(), v);
  return v;
}

std::uint64_t section::size(std::string_view name) const {
  const auto& opt = find(name, option_type::size);
  if (const auto* n = node(name))
    if (auto i = n->value<std::int64_t>())
      return static_cast<std::uint64_t>(*i);
  auto v = parse_size(text(name, opt));
  if (!v)
    misuse(path_, name, "not a size; validate first");
  return *v;
}

std::chrono::nanoseconds section::duration(std::string_view name) const {
  auto v = parse_duration(text(name, find(name, option_type::duration)));
  if (!v)
    misuse(path_, name, "not a duration; validate first");
  return *v;
}

std::optional<std::string> section::keyword(std::string_view name) const {
  const auto& opt = find(name, option_type::duration);
  auto t = text(name, opt);
  for (auto k : opt.values)
    if (k == t)
      return t;
  return std::nullopt;
}

std::vector<std::string> section::string_list(std::string_view name) const {
  find(name, option_type::string_list);
  std::vector<std::string> out;
  if (const auto* n = node(name))
    for (const auto& e : *n->as_array())
      out.push_back(e.value<std::string>().value());
  return out;
}

std::vector<std::pair<std::string, std::vector<std::string>>>
section::entries(std::string_view name) const {
  find(name, option_type::table);
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  const auto* n = node(name);
  if (n == nullptr)
    return out;
  for (auto&& [key, value] : *n->as_table()) {
    std::vector<std::string> values;
    if (const auto* arr = value.as_array())
      for (const auto& e : *arr)
        values.push_back(e.value<std::string>().value());
    else
      values.push_back(value.value<std::string>().value());
    out.emplace_back(std::string(key.str()), std::move(values));
  }
  return out;
}

section section::table(std::string_view name) const {
  const auto& opt = find(name, option_type::table);
  const auto* n = node(name);
  const toml::table* t = n == nullptr ? nullptr : n->as_table();
  std::string path = detail::join(path_, name);
  if (opt.family != nullptr) {
    if (t == nullptr)
      misuse(path_, name, "a family table that is not set; check is_set() first");
    return of_family(*t, *opt.family, std::move(path));
  }
  if (opt.fields == nullptr)
    misuse(path_, name, "a free-form table; use entries()");
  return section(t, {opt.fields}, std::move(path));
}

std::vector<std::pair<std::string, section>> section::named(std::string_view name) const {
  const auto& opt = find(name, option_type::named_tables);
  std::vector<std::pair<std::string, section>> out;
  const auto* n = node(name);
  if (n == nullptr)
    return out;
  for (auto&& [key, value] : *n->as_table()) {
    std::string path = detail::join(detail::join(path_, name), key.str());
    const auto& t = *value.as_table();
    if (opt.family != nullptr)
      out.emplace_back(std::string(key.str()), of_family(t, *opt.family, std::move(path)));
    else
      out.emplace_back(std::string(key.str()), section(&t, {opt.fields}, std::move(path)));
  }
  return out;
}

} // namespace sluice::config
