#include "config/option_values.h"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include "base/units.h"
#include "config/section.h"

namespace sluice::config {
namespace {

[[noreturn]] void misuse(std::string_view kind, std::string_view name, std::string_view why) {
  throw std::logic_error(fmt::format("config: values of {}: {}: {}", kind, name, why));
}

struct registered {
  const table_family* family;
  const option_table* kind;
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<registered>& registry() {
  static std::vector<registered> r;
  return r;
}

// An option's default, read as its type reads it.
option_value default_of(const option& o) {
  auto text = o.default_value;
  switch (o.type) {
  case option_type::boolean:
    return text == "true";
  case option_type::integer: {
    std::int64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
  }
  case option_type::size:
    return parse_size(text).value();
  case option_type::duration:
    if (std::find(o.values.begin(), o.values.end(), text) != o.values.end())
      return std::string(text);
    return parse_duration(text).value();
  default:
    return std::string(text);
  }
}

// Whether `v` is what an option of type `t` holds.
bool fits(option_type t, const option_value& v) {
  switch (t) {
  case option_type::string:
  case option_type::enumeration:
    return std::holds_alternative<std::string>(v);
  case option_type::boolean:
    return std::holds_alternative<bool>(v);
  case option_type::integer:
    return std::holds_alternative<std::int64_t>(v);
  case option_type::size:
    return std::holds_alternative<std::uint64_t>(v);
  case option_type::duration:
    return std::holds_alternative<std::chrono::nanoseconds>(v) ||
           std::holds_alternative<std::string>(v);
  case option_type::string_list:
    return std::holds_alternative<std::vector<std::string>>(v);
  case option_type::table:
    return std::holds_alternative<option_entries>(v) ||
           std::holds_alternative<std::shared_ptr<const option_values>>(v);
  case option_type::named_tables:
    return false;
  }
  return false;
}

// One option's value from a validated section; nullopt when the file leaves it out and it has
// no default.
std::optional<option_value> value_of(const section& s, const option& o, const std::string& owner) {
  if (o.type == option_type::table && o.fields != nullptr)
    return std::make_shared<const option_values>(read_values(s.table(o.name), *o.fields, owner));
  if (o.type == option_type::table)
    return s.is_set(o.name) ? std::optional<option_value>(s.entries(o.name)) : std::nullopt;
  if (o.type == option_type::string_list)
    return s.is_set(o.name) ? std::optional<option_value>(s.string_list(o.name)) : std::nullopt;
  if (!s.has(o.name))
    return o.owner_default ? std::optional<option_value>(owner) : std::nullopt;
  switch (o.type) {
  case option_type::boolean:
    return s.boolean(o.name);
  case option_type::integer:
    return s.integer(o.name);
  case option_type::size:
    return s.size(o.name);
  case option_type::duration:
    if (auto k = s.keyword(o.name))
      return *k;
    return s.duration(o.name);
  default:
    return s.string(o.name);
  }
}

} // namespace

const option_table* table_family::find(std::string_view kind) const noexcept {
  for (const auto* t : kinds)
    if (t->kind == kind)
      return t;
  std::lock_guard lock(registry_mutex());
  for (const auto& r : registry())
    if (r.family == this && r.kind->kind == kind)
      return r.kind;
  return nullptr;
}

std::vector<const option_table*> table_family::all_kinds() const {
  std::vector<const option_table*> out(kinds.begin(), kinds.end());
  std::lock_guard lock(registry_mutex());
  for (const auto& r : registry())
    if (r.family == this)
      out.push_back(r.kind);
  return out;
}

void register_kind(const table_family& family, const option_table& kind) {
  if (family.find(kind.kind) == &kind)
    return;
  std::lock_guard lock(registry_mutex());
  registry().push_back({&family, &kind});
}

option_values read_values(const section& s, const option_table& table, const std::string& owner) {
  option_values v;
  v.kind_ = std::string(table.kind);
  v.table_ = &table;
  for (const auto& o : table.options)
    if (auto value = value_of(s, o, owner))
      v.items_.emplace_back(std::string(o.name), std::move(*value));
  return v;
}

option_values
option_values::make(const table_family& family, std::string_view kind, std::string owner,
                    std::initializer_list<std::pair<std::string_view, option_value>> items) {
  const auto* table = family.find(kind);
  if (table == nullptr)
    misuse(kind, "type", fmt::format("not a {} type", family.name));
  std::vector<std::pair<std::string, option_value>> list;
  for (const auto& [name, value] : items)
    list.emplace_back(std::string(name), value);
  return make(*table, std::move(owner), std::move(list));
}

option_values option_values::make(const option_table& table, std::string owner,
                                  std::vector<std::pair<std::string, option_value>> items) {
  option_values v;
  v.kind_ = std::string(table.kind);
  v.table_ = &table;
  for (const auto& o : table.options) {
    auto given = std::find_if(items.begin(), items.end(),
                              [&](const auto& i) { return i.first == o.name; });
    if (given != items.end()) {
      if (!fits(o.type, given->second))
        misuse(table.kind, o.name, fmt::format("expected {}", describe(o.type)));
      v.items_.emplace_back(std::string(o.name), std::move(given->second));
      items.erase(given);
    } else if (o.type == option_type::table && o.fields != nullptr) {
      v.items_.emplace_back(std::string(o.name),
                            std::make_shared<const option_values>(make(*o.fields, owner, {})));
    } else if (o.has_default()) {
      v.items_.emplace_back(std::string(o.name), default_of(o));
    } else if (o.owner_default) {
      v.items_.emplace_back(std::string(o.name), owner);
    }
  }
  if (!items.empty())
    misuse(table.kind, items.front().first, "not a declared option");
  return v;
}

const option_value* option_values::find(std::string_view name) const noexcept {
  for (const auto& [n, v] : items_)
    if (n == name)
      return &v;
  return nullptr;
}

const option_value& option_values::get(std::string_view name) const {
  const auto* v = find(name);
  if (v == nullptr)
    misuse(kind_, name, "no value; check has() first");
  return *v;
}

namespace {

template <class T>
const T& as(const option_value& v, std::string_view kind, std::string_view name) {
  const auto* p = std::get_if<T>(&v);
  if (p == nullptr)
    misuse(kind, name, "read with the wrong accessor");
  return *p;
}

} // namespace

std::string option_values::string(std::string_view name) const {
  return as<std::string>(get(name), kind_, name);
}
bool option_values::boolean(std::string_view name) const {
  return as<bool>(get(name), kind_, name);
}
std::int64_t option_values::integer(std::string_view name) const {
  return as<std::int64_t>(get(name), kind_, name);
}
std::uint64_t option_values::size(std::string_view name) const {
  return as<std::uint64_t>(get(name), kind_, name);
}
std::chrono::nanoseconds option_values::duration(std::string_view name) const {
  return as<std::chrono::nanoseconds>(get(name), kind_, name);
}
std::optional<std::string> option_values::keyword(std::string_view name) const {
  const auto* k = std::get_if<std::string>(&get(name));
  return k == nullptr ? std::nullopt : std::optional<std::string>(*k);
}
std::vector<std::string> option_values::string_list(std::string_view name) const {
  const auto* v = find(name);
  return v == nullptr ? std::vector<std::string>() : as<std::vector<std::string>>(*v, kind_, name);
}
option_entries option_values::entries(std::string_view name) const {
  const auto* v = find(name);
  return v == nullptr ? option_entries() : as<option_entries>(*v, kind_, name);
}
const option_values& option_values::table(std::string_view name) const {
  return *as<std::shared_ptr<const option_values>>(get(name), kind_, name);
}

option_values option_values::without(std::initializer_list<std::string_view> names) const {
  option_values v = *this;
  std::erase_if(v.items_, [&](const auto& item) {
    return std::find(names.begin(), names.end(), item.first) != names.end();
  });
  return v;
}

bool option_values::operator==(const option_values& o) const {
  if (kind_ != o.kind_ || items_.size() != o.items_.size())
    return false;
  for (std::size_t i = 0; i < items_.size(); ++i) {
    const auto& [n, v] = items_[i];
    const auto& [on, ov] = o.items_[i];
    if (n != on || v.index() != ov.index())
      return false;
    const auto* nested = std::get_if<std::shared_ptr<const option_values>>(&v);
    if (nested != nullptr ? !(**nested == *std::get<std::shared_ptr<const option_values>>(ov))
                          : !(v == ov))
      return false;
  }
  return true;
}

} // namespace sluice::config
