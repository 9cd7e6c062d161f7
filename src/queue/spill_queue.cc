#include "queue/spill_queue.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "queue/errc.h"

namespace sluice::queue {
namespace {

/// Positions below this are the spill queue's (a disk queue counts from 1).
constexpr position k_spill_positions = position{1} << 40;
constexpr std::string_view k_forward = "spill-forward";

class spilling_queue final : public queue {
public:
  spilling_queue(std::unique_ptr<queue> primary, std::unique_ptr<queue> spill,
                 std::unique_ptr<subscription> forward)
      : primary_(std::move(primary)), spill_(std::move(spill)), forward_(std::move(forward)) {
    // What an earlier run spilled and did not forward yet goes first.
    spilling_ = spill_->durable_watermark() >= forward_->next_position();
    thread_ = std::thread([this] { run_forwarder(); });
  }

  ~spilling_queue() override { (void)close(); }

  result<append_result> append(std::span<const record_in> records) override {
    if (!spilling_.load()) {
      auto r = primary_->append(records);
      if (r || r.error() == errc::record_too_large || r.error() == errc::closed)
        return r;
      std::lock_guard lk(mu_);
      if (!spilling_.exchange(true))
        SLUICE_WARN_LIMITED("queue {}: appends fail ({}); the sources go on into the spill "
                            "queue in {} until it takes them again",
                            primary_->location(), r.error().message(), spill_->location());
    }
    std::lock_guard lk(mu_); // no spilled record slips in behind the forwarder's last look
    if (!spilling_.load())
      return primary_->append(records);
    auto r = spill_->append(records);
    if (r) // the primary's counters are atomics it shares with whoever reads its stats
      const_cast<queue_stats&>(primary_->stats()).spilled_records.add(r->appended);
    cv_.notify_one();
    return r;
  }

  result<void> wait_durable(position p, std::chrono::milliseconds timeout) override {
    return p < k_spill_positions ? spill_->wait_durable(p, timeout)
                                 : primary_->wait_durable(p, timeout);
  }

  result<void> sync() override {
    if (auto s = spill_->sync(); !s)
      return s;
    return primary_->sync();
  }

  result<std::unique_ptr<subscription>> subscribe(std::string_view name, start_at start) override {
    return primary_->subscribe(name, start);
  }
  result<std::unique_ptr<reader>> open_reader(start_at start) override {
    return primary_->open_reader(start);
  }
  position durable_watermark() const noexcept override { return primary_->durable_watermark(); }
  position last_position() const noexcept override { return primary_->last_position(); }
  result<position> first_position() const override { return primary_->first_position(); }
  std::vector<cursor_info> cursors() const override { return primary_->cursors(); }
  result<std::optional<position>> cursor(std::string_view name) const override {
    return primary_->cursor(name);
  }
  result<void> set_cursor(std::string_view name, position p) override {
    return primary_->set_cursor(name, p);
  }
  result<void> forget_subscription(std::string_view name) override {
    return primary_->forget_subscription(name);
  }
  std::string location() const override {
    return primary_->location() + " (spilling to " + spill_->location() + ")";
  }
  const queue_stats& stats() const noexcept override { return primary_->stats(); }
  bool dense_positions() const noexcept override { return primary_->dense_positions(); }
  void refuse_blocked_appends() override {
    primary_->refuse_blocked_appends();
    spill_->refuse_blocked_appends();
  }

  result<void> close() override {
    {
      std::lock_guard lk(mu_);
      if (closed_)
        return {};
      closed_ = true;
    }
    cv_.notify_all();
    forward_->interrupt();
    if (thread_.joinable())
      thread_.join();
    forward_.reset();
    auto s = spill_->close();
    auto p = primary_->close();
    return s ? p : s;
  }

private:
  bool closing() {
    std::lock_guard lk(mu_);
    return closed_;
  }

  /// The forwarder: whatever the spill queue holds, in order, to the primary; then appends go
  /// straight to the primary again.
  void run_forwarder() {
    batch b;
    std::vector<record_in> recs;
    while (!closing()) {
      auto r = forward_->read(b, {4096, 16u << 20}, std::chrono::milliseconds(200));
      if (!r && r.error() == errc::closed)
        return;
      if (!r) {
        // Nothing to forward: once everything spilled is through, stop spilling.
        std::lock_guard lk(mu_);
        if (spilling_.load() && spill_->durable_watermark() < forward_->next_position() &&
            spill_->last_position() < forward_->next_position()) {
          spilling_ = false;
          spdlog::info("queue {}: everything spilled is forwarded; appends go to it again",
                       primary_->location());
        }
        continue;
      }
      recs.clear();
      for (const auto& rec : b.records)
        recs.push_back({rec.received_ns, rec.payload});
      for (auto delay = std::chrono::milliseconds(100); !closing();
           delay = std::min(delay * 2, std::chrono::milliseconds(2000))) {
        if (auto a = primary_->append(recs); a) {
          (void)forward_->commit(b.last());
          break;
        }
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, delay, [&] { return closed_; });
      }
    }
  }

  std::unique_ptr<queue> primary_;
  std::unique_ptr<queue> spill_;
  std::unique_ptr<subscription> forward_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> spilling_{false};
  bool closed_ = false;
  std::thread thread_;
};

} // namespace

result<std::unique_ptr<queue>> make_spilling(std::unique_ptr<queue> primary,
                                             std::unique_ptr<queue> spill) {
  auto forward = spill->subscribe(k_forward, start_at::beginning());
  if (!forward)
    return fail(forward.error());
  return std::unique_ptr<queue>(
      std::make_unique<spilling_queue>(std::move(primary), std::move(spill), std::move(*forward)));
}

} // namespace sluice::queue
