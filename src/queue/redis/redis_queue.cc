#include "queue/redis/redis_queue.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "base/log.h"
#include "base/name.h"
#include "io/redis_link.h"
#include "queue/errc.h"
#include "queue/redis/appends.h"
#include "queue/redis/groups.h"
#include "queue/redis/readers.h"
#include "queue/redis/stream_id.h"

namespace sluice::queue::redis {
namespace {

class redis_queue final : public queue {
public:
  redis_queue(options opts, position last)
      : state_(std::make_shared<queue_state>(std::move(opts), last)), opts_(state_->opts),
        stats_(state_->stats), seen_(state_->seen),
        admin_(opts_.at, opts_.timeout, "queue " + opts_.stream, &stats_.reconnects.value),
        writer_(opts_, stats_, seen_) {
    writer_.start();
  }

  ~redis_queue() override { (void)close(); }

  result<append_result> append(std::span<const record_in> records) override {
    return writer_.append(records);
  }

  result<void> wait_durable(position p, std::chrono::milliseconds) override {
    // An append returns once Redis (and the replicas asked for) has its entries.
    (void)p;
    return {};
  }

  result<void> sync() override { return {}; }

  result<std::unique_ptr<subscription>> subscribe(std::string_view name, start_at start) override {
    if (!valid_name(name))
      return fail(errc::invalid_argument);
    return open_group_subscription(context(), name, start);
  }

  result<std::unique_ptr<reader>> open_reader(start_at start) override {
    return open_stream_reader(context(), start);
  }

  position durable_watermark() const noexcept override {
    return seen_.load(std::memory_order_relaxed);
  }
  position last_position() const noexcept override { return durable_watermark(); }

  result<position> first_position() const override {
    std::lock_guard lk(admin_mu_);
    auto c = admin_.get();
    if (!c)
      return fail(c.error());
    auto s = stream_info(**c, opts_.stream);
    if (!s)
      return fail(s.error());
    return s->first != 0 ? s->first : s->last + 1;
  }

  std::vector<cursor_info> cursors() const override {
    std::lock_guard lk(admin_mu_);
    std::vector<cursor_info> out;
    auto c = admin_.get();
    if (!c)
      return out;
    auto groups = list_groups(**c, opts_.stream);
    if (!groups)
      return out;
    for (const auto& g : *groups)
      out.push_back({g.name, g.committed(), g.lag.value_or(0) + g.pending, false});
    return out;
  }

  result<std::optional<position>> cursor(std::string_view name) const override {
    std::lock_guard lk(admin_mu_);
    auto c = admin_.get();
    if (!c)
      return fail(c.error());
    auto g = find_group(**c, opts_.stream, name);
    if (!g)
      return fail(g.error());
    if (!*g)
      return std::optional<position>();
    return std::optional<position>((*g)->committed());
  }

  result<void> set_cursor(std::string_view name, position p) override {
    if (!valid_name(name))
      return fail(errc::invalid_argument);
    std::lock_guard lk(admin_mu_);
    auto c = admin_.get();
    if (!c)
      return fail(c.error());
    if (auto r = create_group(**c, opts_.stream, name, p); !r)
      return r;
    return move_group(**c, opts_.stream, name, p);
  }

  result<void> forget_subscription(std::string_view name) override {
    std::lock_guard lk(admin_mu_);
    auto c = admin_.get();
    if (!c)
      return fail(c.error());
    auto r = (*c)->command({"XGROUP", "DESTROY", opts_.stream, name});
    if (!r)
      return fail(r.error());
    if (r->is_error() && r->text.find("no such key") == std::string::npos)
      return fail(error_of(*r));
    return {};
  }

  std::string location() const override {
    if (!opts_.at.sentinels.empty())
      return fmt::format("{} db {}, stream {}", io::redis::describe(opts_.at), opts_.at.db,
                         opts_.stream);
    return fmt::format("redis://{}:{}/{}?stream={}", opts_.at.host, opts_.at.port, opts_.at.db,
                       opts_.stream);
  }

  const queue_stats& stats() const noexcept override { return stats_; }
  bool dense_positions() const noexcept override { return false; }

  void refuse_blocked_appends() override { writer_.refuse_blocked(); }

  result<void> close() override {
    writer_.stop();
    return {};
  }

private:
  reader_context context() { return state_; }

  std::shared_ptr<queue_state> state_;
  const options& opts_;
  queue_stats& stats_;
  std::atomic<position>& seen_;
  mutable std::mutex admin_mu_;
  mutable io::redis::link admin_; ///< for the status calls, under admin_mu_
  append_writer writer_;
};

} // namespace

options options_of(const config::queue_config& q, std::size_t max_record_bytes) {
  options o;
  if (auto at = io::redis::parse_url(q.url))
    o.at = *at;
  o.stream = q.stream;
  o.consumer = q.consumer;
  if (o.consumer.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0)
      o.consumer = host;
    if (o.consumer.empty())
      o.consumer = "sluice";
  }
  o.claim_idle = std::chrono::duration_cast<std::chrono::milliseconds>(q.claim_idle);
  o.max_deliveries = q.max_deliveries;
  o.replicas = q.replicas;
  o.max_len = q.max_len;
  o.when_full = q.when_full;
  o.retain_age = q.retain_age;
  o.list = q.backend == config::queue_backend::redis_list;
  o.max_record_bytes = max_record_bytes;
  return o;
}

result<std::unique_ptr<queue>> open(const options& opts, std::string* error_detail) {
  // Reachable now, or say so: a pipeline should not start against a wrong address.
  auto c = io::redis::connection::open(opts.at, opts.timeout);
  if (!c) {
    if (error_detail)
      *error_detail = "Redis at " + io::redis::describe(opts.at);
    return fail(c.error());
  }
  auto s = stream_info(*c, opts.stream);
  if (!s) {
    if (error_detail)
      *error_detail = fmt::format("reading stream {}", opts.stream);
    return fail(s.error());
  }
  auto q = std::make_unique<redis_queue>(opts, s->last);
  return std::unique_ptr<queue>(std::move(q));
}

} // namespace sluice::queue::redis
