#include "sources/client_source.h"
#include "sources/fd_source.h"
#include "sources/http_source.h"
#include "sources/listen_source.h"
#include "sources/source.h"

namespace sluice::sources {

result<std::unique_ptr<source>> make_source(const config::source_config& cfg, queue::queue& q,
                                            const std::filesystem::path& data_dir) {
  if (std::holds_alternative<config::tcp_source>(cfg.settings) ||
      std::holds_alternative<config::unix_source>(cfg.settings))
    return std::make_unique<client_source>(cfg, q, data_dir);
  if (std::holds_alternative<config::listen_source>(cfg.settings))
    return std::make_unique<listen_source>(cfg, q, data_dir);
  if (std::holds_alternative<config::stdin_source>(cfg.settings))
    return std::make_unique<fd_source>(cfg, q, data_dir, 0);
  return std::make_unique<http_source>(cfg, q, data_dir,
                                       std::get<config::http_source>(cfg.settings).stall_timeout);
}

} // namespace sluice::sources
