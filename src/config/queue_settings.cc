#include "config/queue_settings.h"

#include <charconv>

#include "base/units.h"

namespace sluice::config {

std::optional<fsync_setting> fsync_setting::parse(std::string_view text) {
  if (text == "always")
    return fsync_setting{fsync_mode::always, fsync_setting{}.interval};
  if (text == "never")
    return fsync_setting{fsync_mode::never, fsync_setting{}.interval};
  auto d = parse_duration(text);
  if (!d || d->count() <= 0)
    return std::nullopt;
  return fsync_setting{fsync_mode::interval, *d};
}

std::string fsync_setting::text() const {
  switch (mode) {
  case fsync_mode::always:
    return "always";
  case fsync_mode::never:
    return "never";
  case fsync_mode::interval:
    break;
  }
  return format_duration(interval);
}

std::optional<when_full_mode> parse_when_full(std::string_view text) {
  if (text == "block")
    return when_full_mode::block;
  if (text == "drop_newest")
    return when_full_mode::drop_newest;
  return std::nullopt;
}

std::string_view when_full_name(when_full_mode m) noexcept {
  return m == when_full_mode::block ? "block" : "drop_newest";
}

std::optional<queue_backend> parse_queue_backend(std::string_view text) {
  if (text == "disk")
    return queue_backend::disk;
  if (text == "redis")
    return queue_backend::redis;
  if (text == "redis-list")
    return queue_backend::redis_list;
  return std::nullopt;
}

std::optional<unsigned> parse_acks(std::string_view text) {
  if (text == "leader")
    return 0u;
  constexpr std::string_view k_prefix = "replicas:";
  if (!text.starts_with(k_prefix))
    return std::nullopt;
  text.remove_prefix(k_prefix.size());
  unsigned n = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), n);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size() || n == 0 || n > 100)
    return std::nullopt;
  return n;
}

} // namespace sluice::config
