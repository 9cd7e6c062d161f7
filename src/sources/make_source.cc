#include "sources/source_type.h"

#include "base/registry.h"
#include "config/tables.h"
#include "queue/errc.h"

namespace sluice::sources {

// The source types built in, each defined in its own file: the one list a new type joins.
extern const source_type http_type;
extern const source_type tcp_type;
extern const source_type unix_type;
extern const source_type listen_type;
extern const source_type stdin_type;

namespace {

constexpr const source_type* k_builtin[] = {&http_type, &tcp_type, &unix_type, &listen_type,
                                            &stdin_type};

type_registry<source_type>& registry() {
  static type_registry<source_type> r(k_builtin);
  return r;
}

} // namespace

const source_type* find_source_type(std::string_view name) {
  return registry().find(name);
}

void register_source_type(const source_type& type) {
  config::register_kind(config::source_types, *type.options);
  registry().add(type);
}

result<std::unique_ptr<source>> make_source(const config::source_config& cfg, queue::queue& q,
                                            const std::filesystem::path& data_dir) {
  const auto* type = find_source_type(cfg.type());
  if (type == nullptr)
    return fail(queue::errc::invalid_argument);
  return type->make(cfg, q, data_dir);
}

} // namespace sluice::sources
