#include "sinks/sink_type.h"

#include "base/registry.h"
#include "config/tables.h"
#include "sinks/errc.h"

namespace sluice::sinks {

// The sink types built in, each defined in its own file: the one list a new type joins.
extern const sink_type eventlog_type;
extern const sink_type sqlite_type;

namespace {

constexpr const sink_type* k_builtin[] = {&eventlog_type, &sqlite_type};

type_registry<sink_type>& registry() {
  static type_registry<sink_type> r(k_builtin);
  return r;
}

} // namespace

const sink_type* find_sink_type(std::string_view name) {
  return registry().find(name);
}

void register_sink_type(const sink_type& type) {
  config::register_kind(config::sink_types, *type.options);
  registry().add(type);
}

result<std::unique_ptr<sink>> open_sink(const config::option_values& values,
                                        const sink_context& ctx) {
  const auto* type = find_sink_type(values.kind());
  if (type == nullptr)
    return fail(errc::invalid_config);
  return type->open(values, ctx);
}

std::string sink_target(const config::option_values& values) {
  const auto* type = find_sink_type(values.kind());
  return type == nullptr ? std::string() : type->target(values);
}

} // namespace sluice::sinks
