#include <charconv>

#include "queue/queue.h"

namespace sluice::queue {

result<start_at> start_at::parse(std::string_view text) {
  if (text == "beginning")
    return beginning();
  if (text == "end")
    return end();
  position p = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty() || p == 0)
    return fail(errc::invalid_argument);
  return at(p);
}

} // namespace sluice::queue
