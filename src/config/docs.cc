#include "config/docs.h"

#include <set>

#include <fmt/format.h>

#include "config/tables.h"

namespace sluice::config {
namespace {

std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += '\\';
    out += c;
  }
  return out;
}

std::string code_list(std::span<const std::string_view> values) {
  std::string out;
  for (auto v : values)
    out += fmt::format("{}`\"{}\"`", out.empty() ? "" : ", ", v);
  return out;
}

std::string type_text(const option& o) {
  std::string unit = o.unit.empty() ? "" : fmt::format(" ({})", o.unit);
  switch (o.type) {
  case option_type::string:
    return "string";
  case option_type::boolean:
    return "boolean";
  case option_type::integer:
    if (o.min != std::numeric_limits<std::int64_t>::min() &&
        o.max == std::numeric_limits<std::int64_t>::max())
      return fmt::format("integer ≥ {}{}", o.min, unit);
    return "integer" + unit;
  case option_type::size:
    return "size" + unit;
  case option_type::duration:
    if (!o.values.empty())
      return code_list(o.values) + " or duration";
    return "duration";
  case option_type::string_list:
    return "array of strings";
  case option_type::enumeration:
    return code_list(o.values);
  case option_type::table:
    if (o.fields == nullptr && o.family == nullptr)
      return o.entries == option_type::string ? "table of strings"
                                              : "table of strings or arrays of strings";
    return "table";
  case option_type::named_tables:
    return "tables by name";
  }
  return "";
}

std::string default_text(const option& o) {
  if (o.required)
    return "required";
  if (!o.default_doc.empty())
    return std::string(o.default_doc);
  if (!o.has_default())
    return "";
  if (o.type == option_type::boolean || o.type == option_type::integer)
    return fmt::format("`{}`", o.default_value);
  return fmt::format("`\"{}\"`", o.default_value);
}

class renderer {
public:
  std::string out;

  void table(const option_table& t, const table_family* family = nullptr) {
    if (!seen_.insert(&t).second)
      return;
    out += fmt::format("\n## {}\n\n{}\n", t.title, t.help);
    if (!t.options.empty() || family != nullptr) {
      out += "\n| key | type | default | description |\n|---|---|---|---|\n";
      if (family != nullptr) {
        std::string kinds;
        for (const auto* k : family->kinds)
          kinds += fmt::format("{}`\"{}\"`", kinds.empty() ? "" : ", ", k->kind);
        out += fmt::format("| `type` | {} | required | The {} type. |\n", kinds, family->name);
      }
      for (const auto& o : t.options)
        out += fmt::format("| `{}` | {} | {} | {} |\n", o.name, cell(type_text(o)),
                           cell(default_text(o)), cell(o.help));
    }
    for (const auto& o : t.options)
      nested(o);
  }

  void nested(const option& o) {
    if (o.fields != nullptr)
      table(*o.fields);
    if (o.family != nullptr) {
      table(*o.family->common, o.family);
      for (const auto* k : o.family->kinds)
        table(*k);
    }
  }

private:
  std::set<const option_table*> seen_;
};

} // namespace

std::string render_markdown(const option_table& root) {
  renderer r;
  r.table(root);
  return r.out;
}

std::string config_reference() {
  std::string out =
      "# Configuration reference\n"
      "\n"
      "<!-- Generated from the option tables in src/config/ (tables_*.cc). Do not edit: "
      "change a table and run `ninja config_docs`. -->\n"
      "\n"
      "sluice reads one TOML file (`sluice run -c FILE`; `sluice validate -c FILE` reports "
      "every error with its key path and line). Unknown keys are errors.\n"
      "\n"
      "- A **size** is a string such as `\"64MiB\"`, `\"512KiB\"`, `\"1GB\"` (binary `KiB`, "
      "`MiB`, `GiB`, `TiB`; decimal `KB`, `MB`, `GB`, `TB`) or an integer of bytes.\n"
      "- A **duration** is a string such as `\"250ms\"`, `\"10s\"`, `\"1.5s\"`, `\"5m\"`, "
      "`\"1h\"`, `\"7d\"` (units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`).\n"
      "- Names of sources, subscriptions and tasks are 1 to 128 of `A-Z a-z 0-9 _ . -`, not "
      "starting with `.` (quote a name with a dot: `[sources.\"a.b\"]`).\n"
      "\n"
      "`examples/nfl.toml` is a complete file.\n";
  return out + render_markdown(file_options);
}

} // namespace sluice::config
