#include <thread>

#include "base/log.h"
#include "io/redis_link.h"
#include "queue/errc.h"
#include "queue/redis/entries.h"
#include "queue/redis/groups.h"
#include "queue/redis/readers.h"
#include "queue/redis/stream_id.h"

namespace sluice::queue::redis {

void raise_seen(std::atomic<position>& seen, position p) noexcept {
  position cur = seen.load(std::memory_order_relaxed);
  while (p > cur && !seen.compare_exchange_weak(cur, p, std::memory_order_relaxed)) {
  }
}

std::vector<std::string_view> read_words(std::initializer_list<std::string_view> head,
                                         std::string& block, std::chrono::milliseconds wait,
                                         std::chrono::milliseconds timeout, std::string_view stream,
                                         std::string_view id) {
  std::vector<std::string_view> words(head);
  if (wait.count() > 0) { // BLOCK 0 would wait for ever
    // A BLOCK must end well before the connection's own read timeout gives up on the answer.
    auto most = std::max(std::chrono::milliseconds(1), timeout / 2);
    block = std::to_string(std::min(wait, most).count());
    words.push_back("BLOCK");
    words.push_back(block);
  }
  words.push_back("STREAMS");
  words.push_back(stream);
  words.push_back(id);
  return words;
}

result<io::redis::connection*> start_read(batch& out, io::redis::link& link,
                                          const std::atomic<bool>& interrupted,
                                          std::chrono::milliseconds wait) {
  out.clear();
  if (interrupted.load())
    return fail(errc::closed);
  auto c = link.get();
  if (c)
    return c;
  // Redis is away: wait out the back-off (up to `wait`), interruptibly, before saying so.
  auto until = std::chrono::steady_clock::now() + std::min(wait, link.backoff_left());
  while (!interrupted.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (interrupted.load())
    return fail(errc::closed);
  return fail(c.error());
}

namespace {

/// Follows the stream with XREAD from a position, with no group and no acknowledgement.
class stream_reader final : public reader {
public:
  stream_reader(reader_context ctx, position after)
      : ctx_(ctx), link_(ctx->opts.at, ctx->opts.timeout, "queue " + ctx->opts.stream + " reader",
                         &ctx->stats.reconnects.value),
        last_id_(stream_id_of(after)), next_(after + 1) {}

  result<void> read(batch& out, read_limits limits, std::chrono::milliseconds wait) override {
    auto c = start_read(out, link_, interrupted_, wait);
    if (!c)
      return fail(c.error());
    std::string count = std::to_string(std::max<std::size_t>(1, limits.max_records));
    std::string block;
    auto r = ask(**c, read_words({"XREAD", "COUNT", count}, block, wait, ctx_->opts.timeout,
                                 ctx_->opts.stream, last_id_));
    if (!r) {
      if ((*c)->broken() || r.error() == errc::not_primary)
        link_.lost(r.error());
      else
        SLUICE_WARN_LIMITED("queue {}: XREAD failed: {}", ctx_->opts.stream, r.error().message());
      return fail(r.error());
    }
    held_ = std::move(*r);
    const io::redis::reply* entries = stream_entries(held_);
    if (entries == nullptr || entries->elements.empty())
      return fail(errc::timed_out);
    parsed_entries found;
    parse_entries(*entries, out, found);
    const auto& last = entries->elements.back();
    if (!last.elements.empty())
      last_id_ = last.elements[0].text;
    if (auto p = parse_stream_id(last_id_)) {
      next_ = *p + 1;
      raise_seen(ctx_->seen, *p);
    }
    if (found.foreign > 0) {
      ctx_->stats.foreign_records.add(found.foreign);
      SLUICE_WARN_LIMITED("queue {}: {} entries that are not sluice's skipped", ctx_->opts.stream,
                          found.foreign);
    }
    if (out.empty())
      return fail(errc::timed_out);
    return {};
  }

  position next_position() const noexcept override { return next_; }
  void interrupt() noexcept override { interrupted_.store(true); }

private:
  reader_context ctx_;
  io::redis::link link_;
  std::string last_id_;
  position next_;
  std::atomic<bool> interrupted_{false};
  io::redis::reply held_; // the payloads of the last batch
};

} // namespace

result<std::unique_ptr<reader>> open_stream_reader(reader_context ctx, start_at start) {
  io::redis::link link(ctx->opts.at, ctx->opts.timeout, "queue " + ctx->opts.stream);
  auto c = link.get();
  if (!c)
    return fail(c.error());
  auto after = start_after(**c, ctx->opts.stream, start);
  if (!after)
    return fail(after.error());
  return std::unique_ptr<reader>(std::make_unique<stream_reader>(ctx, *after));
}

} // namespace sluice::queue::redis
