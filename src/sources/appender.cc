#include "sources/appender.h"

#include <algorithm>
#include <thread>

#include "base/log.h"
#include "queue/errc.h"
#include "queue/event.h"

namespace sluice::sources {

appender::appender(queue::queue& q, std::string source, counters& stats)
    : queue_(q), source_(std::move(source)), stats_(stats) {}

void appender::add(std::string_view type, std::string_view payload) {
  std::size_t at = buf_.size();
  std::size_t n = queue::encoded_event_size(source_, type, {}, payload);
  buf_.resize(at + n);
  queue::encode_event(buf_.data() + at, source_, type, {}, payload);
  ends_.push_back(buf_.size());
  payload_bytes_ += payload.size();
}

result<queue::append_result> appender::flush(std::int64_t received_ns,
                                             const std::atomic<bool>& stopping) {
  records_.clear();
  std::size_t begin = 0;
  for (std::size_t end : ends_) {
    records_.push_back({received_ns, std::string_view(buf_.data() + begin, end - begin)});
    begin = end;
  }
  std::uint64_t bytes = payload_bytes_;
  buf_.clear();
  ends_.clear();
  payload_bytes_ = 0;
  if (records_.empty())
    return queue::append_result{};

  auto delay = std::chrono::milliseconds(10);
  for (;;) {
    auto r = queue_.append(records_);
    if (r) {
      stats_.records.fetch_add(r->appended, std::memory_order_relaxed);
      stats_.bytes.fetch_add(r->dropped == 0 ? bytes : 0, std::memory_order_relaxed);
      if (r->dropped > 0) {
        stats_.dropped_at_cap.fetch_add(r->dropped, std::memory_order_relaxed);
        SLUICE_WARN_LIMITED("source {}: queue full, {} records dropped (when_full = drop_newest)",
                            source_, r->dropped);
      }
      return r;
    }
    stats_.append_failures.fetch_add(1, std::memory_order_relaxed);
    if (r.error() == queue::errc::closed || stopping.load()) {
      SLUICE_WARN_LIMITED("source {}: {} records not appended: {}", source_, records_.size(),
                          r.error().message());
      return r;
    }
    SLUICE_WARN_LIMITED("source {}: append failed ({}), retrying in {} ms", source_,
                        r.error().message(), delay.count());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

} // namespace sluice::sources
