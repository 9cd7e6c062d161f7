#include "config/value_check.h"

#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "base/units.h"
#include "config/suggest.h"

namespace sluice::config {

std::string_view describe(option_type type) noexcept {
  switch (type) {
  case option_type::string:
    return "a string";
  case option_type::boolean:
    return "true or false";
  case option_type::integer:
    return "an integer";
  case option_type::size:
    return "a size such as \"64MiB\"";
  case option_type::duration:
    return "a duration such as \"250ms\"";
  case option_type::string_list:
    return "an array of strings";
  case option_type::enumeration:
    return "one of the listed values";
  case option_type::table:
    return "a table";
  case option_type::named_tables:
    return "a table of named tables";
  }
  return "a value";
}

namespace detail {
namespace {

std::string quoted_list(std::span<const std::string_view> values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += i + 1 == values.size() ? " or " : ", ";
    out += fmt::format("\"{}\"", values[i]);
  }
  return out;
}

std::string expected(std::string_view what, const toml::node& node) {
  return fmt::format("expected {}, got {}", what, show(node));
}

bool is_keyword(const option& opt, std::string_view text) {
  for (auto v : opt.values)
    if (v == text)
      return true;
  return false;
}

std::optional<std::string> check_text(const option& opt, std::string_view text) {
  if (opt.check != nullptr)
    return opt.check(text);
  return std::nullopt;
}

std::optional<std::string> check_string_list(const toml::node& node, const option& opt) {
  const auto* arr = node.as_array();
  if (arr == nullptr)
    return expected(describe(option_type::string_list), node);
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto* s = (*arr)[i].as_string();
    if (s == nullptr)
      return fmt::format("expected an array of strings, element {} is {}", i, show((*arr)[i]));
    if (auto problem = check_text(opt, s->get()))
      return fmt::format("element {}: {}", i, *problem);
  }
  return std::nullopt;
}

} // namespace

std::string show(const toml::node& node) {
  if (const auto* s = node.as_string())
    return fmt::format("\"{}\"", s->get());
  if (const auto* i = node.as_integer())
    return std::to_string(i->get());
  if (const auto* f = node.as_floating_point())
    return fmt::format("{}", f->get());
  if (const auto* b = node.as_boolean())
    return b->get() ? "true" : "false";
  if (node.is_array())
    return "an array";
  if (node.is_table())
    return "a table";
  return "a date or time";
}

std::optional<std::string> check_value(const toml::node& node, const option& opt) {
  switch (opt.type) {
  case option_type::string: {
    const auto* s = node.as_string();
    if (s == nullptr)
      return expected(describe(opt.type), node);
    return check_text(opt, s->get());
  }
  case option_type::boolean:
    if (!node.is_boolean())
      return expected(describe(opt.type), node);
    return std::nullopt;
  case option_type::integer: {
    const auto* i = node.as_integer();
    if (i == nullptr)
      return expected(describe(opt.type), node);
    if (i->get() < opt.min || i->get() > opt.max) {
      if (opt.max == std::numeric_limits<std::int64_t>::max())
        return fmt::format("expected an integer of at least {}, got {}", opt.min, i->get());
      return fmt::format("expected an integer from {} to {}, got {}", opt.min, opt.max, i->get());
    }
    return std::nullopt;
  }
  case option_type::size: {
    std::uint64_t bytes = 0;
    if (const auto* i = node.as_integer()) {
      if (i->get() < 0)
        return expected(describe(opt.type), node);
      bytes = static_cast<std::uint64_t>(i->get());
    } else {
      const auto* s = node.as_string();
      if (s == nullptr)
        return expected(describe(opt.type), node);
      auto parsed = parse_size(s->get());
      if (!parsed)
        return expected(describe(opt.type), node);
      bytes = *parsed;
    }
    if (bytes > static_cast<std::uint64_t>(opt.max))
      return fmt::format("expected a size of at most {}, got {}",
                         format_size(static_cast<std::uint64_t>(opt.max)), format_size(bytes));
    return std::nullopt;
  }
  case option_type::duration: {
    const auto* s = node.as_string();
    if (s != nullptr && (is_keyword(opt, s->get()) || parse_duration(s->get())))
      return std::nullopt;
    if (opt.values.empty())
      return expected(describe(opt.type), node);
    return expected(quoted_list(opt.values) + " or " + std::string(describe(opt.type)), node);
  }
  case option_type::string_list:
    return check_string_list(node, opt);
  case option_type::enumeration: {
    const auto* s = node.as_string();
    if (s != nullptr && is_keyword(opt, s->get()))
      return std::nullopt;
    std::string message = expected(quoted_list(opt.values), node);
    if (s != nullptr) {
      std::vector<std::string> values(opt.values.begin(), opt.values.end());
      if (auto near = closest(s->get(), values))
        message += fmt::format("; did you mean \"{}\"?", *near);
    }
    return message;
  }
  case option_type::table:
  case option_type::named_tables:
    if (!node.is_table())
      return expected(describe(opt.type), node);
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> check_default(const option& opt) {
  if (!opt.has_default())
    return std::nullopt;
  auto text = opt.default_value;
  switch (opt.type) {
  case option_type::boolean:
    if (text != "true" && text != "false")
      return fmt::format("default \"{}\" is not true or false", text);
    return std::nullopt;
  case option_type::integer: {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size())
      return fmt::format("default \"{}\" is not an integer", text);
    return check_value(toml::value<std::int64_t>(v), opt);
  }
  case option_type::string:
  case option_type::size:
  case option_type::duration:
  case option_type::enumeration:
    return check_value(toml::value<std::string>(std::string(text)), opt);
  case option_type::string_list:
  case option_type::table:
  case option_type::named_tables:
    return fmt::format("a {} cannot have a default", describe(opt.type));
  }
  return std::nullopt;
}

std::string key_text(std::string_view key) {
  bool bare = !key.empty();
  for (char c : key) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    bare = bare && ok;
  }
  if (bare)
    return std::string(key);
  std::string out = "\"";
  for (char c : key) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string join(const std::string& path, std::string_view key) {
  if (path.empty())
    return key_text(key);
  return path + "." + key_text(key);
}

} // namespace detail
} // namespace sluice::config
