#include "sources/source.h"

#include <algorithm>

namespace sluice::sources {

std::string_view state_name(source_state s) noexcept {
  switch (s) {
  case source_state::connecting:
    return "connecting";
  case source_state::connected:
    return "connected";
  case source_state::backing_off:
    return "backing_off";
  case source_state::stopped:
    return "stopped";
  case source_state::failed:
    return "failed";
  }
  return "unknown";
}

io::backoff make_backoff(const config::backoff_config& cfg) {
  std::chrono::nanoseconds min = cfg.min.count() > 0 ? cfg.min : std::chrono::milliseconds(100);
  std::chrono::nanoseconds max = std::max(
      min, cfg.max.count() > 0 ? cfg.max : std::chrono::nanoseconds(std::chrono::seconds(30)));
  return io::backoff(min, max);
}

} // namespace sluice::sources
