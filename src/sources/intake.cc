#include "sources/intake.h"

#include "base/clock.h"
#include "base/log.h"

namespace sluice::sources {

intake::intake(source_context& ctx)
    : ctx_(ctx), framer_(ctx.cfg.max_record_bytes), check_(ctx.cfg.format, ctx.cfg.default_type),
      appender_(ctx.queue, ctx.cfg.name, ctx.stats) {
  if (ctx.dedupe)
    check_.key_by(ctx.dedupe_field);
}

void intake::feed(std::string_view chunk) {
  if (appender_.pending() == 0)
    received_ns_ = now_unix_ns();
  framer_.feed(chunk, *this);
}

void intake::drop_partial() {
  if (!framer_.has_partial())
    return;
  std::uint64_t n = framer_.drop_partial();
  ctx_.stats.truncated.fetch_add(1, std::memory_order_relaxed);
  SLUICE_WARN_LIMITED("source {}: connection lost mid-line, {} bytes of a partial line dropped",
                      ctx_.cfg.name, n);
}

result<queue::append_result> intake::commit() {
  if (framed_ > 0)
    ctx_.stats.last_event_ns.store(received_ns_, std::memory_order_relaxed);
  framed_ = 0;
  return appender_.flush(received_ns_, ctx_.stopping);
}

void intake::on_record(std::string_view record) {
  ++framed_;
  verdict v = check_.check(record);
  if (v.accepted) {
    if (ctx_.dedupe && !ctx_.dedupe->insert(v.key)) {
      ctx_.stats.duplicates.fetch_add(1, std::memory_order_relaxed);
      ++duplicates_;
      if (v.key_is_id)
        ++id_duplicates_;
      return;
    }
    if (v.limit_track >= 0) {
      ctx_.stats.limit_notices.fetch_add(1, std::memory_order_relaxed);
      ctx_.stats.limit_skipped.store(static_cast<std::uint64_t>(v.limit_track),
                                     std::memory_order_relaxed);
      ctx_.stats.limit_last_ns.store(now_unix_ns(), std::memory_order_relaxed);
    } else {
      ctx_.stats.connection_events.fetch_add(1, std::memory_order_relaxed);
    }
    ctx_.stats.types.count(v.type);
    appender_.add(v.type, record);
    ++added_;
  } else {
    set_aside(v.why, record, record.size());
  }
}

void intake::on_too_long(std::string_view head, std::uint64_t length) {
  ++framed_;
  set_aside(reason::too_long, head, length);
}

void intake::set_aside(reason why, std::string_view record, std::uint64_t length) {
  if (ctx_.dead.reject(why, record, length))
    rejects_written_ = true;
  else
    rejects_failed_ = true;
}

bool intake::rejects_durable() {
  bool ok = !rejects_failed_ && (!rejects_written_ || ctx_.dead.sync());
  rejects_written_ = rejects_failed_ = false;
  return ok;
}

} // namespace sluice::sources
