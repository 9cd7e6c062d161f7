#include <algorithm>

#include "base/log.h"
#include "queue/errc.h"
#include "queue/redis/entries.h"
#include "queue/redis/groups.h"
#include "queue/redis/readers.h"
#include "queue/redis/stream_id.h"

namespace sluice::queue::redis {
namespace {

using io::redis::reply;

/// One entry of an extended XPENDING answer.
struct pending_entry {
  std::string id;
  std::string consumer;
  std::uint64_t deliveries = 0;
};

std::vector<pending_entry> parse_pending(const reply& r) {
  std::vector<pending_entry> out;
  for (const auto& e : r.elements)
    if (e.elements.size() == 4)
      out.push_back({e.elements[0].text, e.elements[1].text,
                     static_cast<std::uint64_t>(e.elements[3].integer)});
  return out;
}

/// This instance's consumer in the group of one subscription.
class group_subscription final : public subscription {
public:
  group_subscription(reader_context ctx, std::string name, position committed)
      : ctx_(ctx), name_(std::move(name)),
        link_(ctx->opts.at, ctx->opts.timeout, "subscription " + name_,
              &ctx->stats.reconnects.value),
        committed_(committed), next_(committed + 1) {}

  const std::string& name() const noexcept override { return name_; }
  position committed() const noexcept override { return committed_; }
  position next_position() const noexcept override { return next_; }
  void interrupt() noexcept override { interrupted_.store(true); }

  result<void> read(batch& out, read_limits limits, std::chrono::milliseconds wait) override {
    auto c = start_read(out, link_, interrupted_, wait);
    if (!c)
      return fail(c.error());
    count_ = std::to_string(std::max<std::size_t>(1, limits.max_records));
    result<bool> got = false;
    if (replaying_)
      got = replay(**c, out);
    if (got && !*got && std::chrono::steady_clock::now() >= next_claim_)
      got = take_over(**c, out);
    if (got && !*got && !replaying_)
      got = read_new(**c, out, wait);
    if (!got) {
      if (got.error() == errc::not_found)
        return recreate_group(**c);
      if ((*c)->broken() || got.error() == errc::not_primary)
        link_.lost(got.error());
      return fail(got.error());
    }
    if (out.empty())
      return fail(errc::timed_out);
    return {};
  }

  result<void> commit(position p) override {
    auto done = std::partition(unacked_.begin(), unacked_.end(), [p](position u) { return u > p; });
    if (done != unacked_.end()) {
      auto c = link_.get();
      if (!c)
        return fail(c.error());
      std::vector<std::string> ids;
      ids.reserve(static_cast<std::size_t>(unacked_.end() - done));
      for (auto it = done; it != unacked_.end(); ++it)
        ids.push_back(stream_id_of(*it));
      if (auto r = ack(**c, ids); !r) {
        if ((*c)->broken())
          link_.lost(r.error());
        return r;
      }
      unacked_.erase(done, unacked_.end());
    }
    committed_ = std::max(committed_, p);
    return {};
  }

private:
  // Each step returns whether it put records in `out` (or met entries it skipped).

  /// After a restart: what this consumer had read and not acknowledged, oldest first.
  result<bool> replay(io::redis::connection& c, batch& out) {
    auto mine = pending(c, "-", ctx_->opts.consumer, "100");
    if (!mine)
      return fail(mine.error());
    if (auto d = dead_letter(c, overdelivered(*mine)); !d)
      return fail(d.error());
    auto r = ask(c, {"XREADGROUP", "GROUP", name_, ctx_->opts.consumer, "COUNT", count_, "STREAMS",
                     ctx_->opts.stream, replay_from_});
    if (!r)
      return fail(r.error());
    held_ = std::move(*r);
    const reply* entries = stream_entries(held_);
    if (entries == nullptr || entries->elements.empty()) {
      replaying_ = false;
      return false;
    }
    replay_from_ = entries->elements.back().elements.at(0).text;
    auto n = take(c, *entries, out, true);
    if (!n)
      return fail(n.error());
    ctx_->stats.redelivered_records.add(out.size());
    return true;
  }

  /// Entries idle past claim_idle on other consumers: claimed (or dead-lettered).
  result<bool> take_over(io::redis::connection& c, batch& out) {
    next_claim_ = std::chrono::steady_clock::now() +
                  std::max(ctx_->opts.claim_idle / 2, std::chrono::milliseconds(100));
    auto idle = std::to_string(ctx_->opts.claim_idle.count());
    auto stale = pending(c, idle, {}, count_);
    if (!stale)
      return fail(stale.error());
    if (auto d = dead_letter(c, overdelivered(*stale)); !d)
      return fail(d.error());
    std::vector<std::string_view> words{"XCLAIM", ctx_->opts.stream, name_, ctx_->opts.consumer,
                                        idle};
    for (const auto& p : *stale)
      if (p.consumer != ctx_->opts.consumer && p.deliveries <= ctx_->opts.max_deliveries)
        words.push_back(p.id);
    if (words.size() == 5)
      return false;
    auto claimed = ask(c, words);
    if (!claimed)
      return fail(claimed.error());
    held_ = std::move(*claimed);
    auto n = take(c, held_, out, true);
    if (!n)
      return fail(n.error());
    if (!out.empty()) {
      ctx_->stats.claimed_records.add(out.size());
      SLUICE_WARN_LIMITED("subscription {}: took over {} entries idle for {} ms on another "
                          "consumer",
                          name_, out.size(), ctx_->opts.claim_idle.count());
    }
    return true;
  }

  result<bool> read_new(io::redis::connection& c, batch& out, std::chrono::milliseconds wait) {
    std::string block;
    auto words = read_words({"XREADGROUP", "GROUP", name_, ctx_->opts.consumer, "COUNT", count_},
                            block, wait, ctx_->opts.timeout, ctx_->opts.stream, ">");
    auto r = ask(c, words);
    if (!r)
      return fail(r.error());
    held_ = std::move(*r);
    const reply* entries = stream_entries(held_);
    if (entries == nullptr || entries->elements.empty())
      return false;
    auto n = take(c, *entries, out, false);
    if (!n)
      return fail(n.error());
    return true;
  }

  /// Parses `entries` into `out`, keeps their positions for the next commit, acknowledges at
  /// once what is not sluice's or no longer exists.
  result<void> take(io::redis::connection& c, const reply& entries, batch& out, bool unordered) {
    parsed_entries found;
    parse_entries(entries, out, found);
    for (auto& rec : out.records) {
      rec.unordered = unordered;
      unacked_.push_back(rec.pos);
      raise_seen(ctx_->seen, rec.pos);
      if (!unordered)
        next_ = std::max(next_, rec.pos + 1);
    }
    if (found.foreign > 0) {
      ctx_->stats.foreign_records.add(found.foreign);
      SLUICE_WARN_LIMITED("subscription {}: {} entries of {} are not sluice's; acknowledged "
                          "unread",
                          name_, found.foreign, ctx_->opts.stream);
    }
    if (!found.skip_ids.empty())
      return ack(c, found.skip_ids);
    return {};
  }

  result<void> ack(io::redis::connection& c, const std::vector<std::string>& ids) {
    constexpr std::size_t k_ids_per_ack = 1000;
    for (std::size_t i = 0; i < ids.size(); i += k_ids_per_ack) {
      std::vector<std::string_view> words{"XACK", ctx_->opts.stream, name_};
      for (std::size_t j = i; j < std::min(ids.size(), i + k_ids_per_ack); ++j)
        words.push_back(ids[j]);
      c.append(words);
    }
    auto r = c.flush();
    if (!r) // the caller drops the connection (it may still hold `c`)
      return fail(r.error());
    for (const auto& a : *r)
      if (a.is_error())
        return fail(error_of(a));
    return {};
  }

  /// Entries pending on `consumer` (any when empty), idle at least `idle` ms ("-": any), at most
  /// `count` of them.
  result<std::vector<pending_entry>> pending(io::redis::connection& c, std::string_view idle,
                                             std::string_view consumer, std::string_view count) {
    std::vector<std::string_view> words{"XPENDING", ctx_->opts.stream, name_};
    if (idle != "-") {
      words.push_back("IDLE");
      words.push_back(idle);
    }
    for (std::string_view w : {std::string_view("-"), std::string_view("+"), count})
      words.push_back(w);
    if (!consumer.empty())
      words.push_back(consumer);
    auto r = ask(c, words);
    if (!r)
      return fail(r.error());
    return parse_pending(*r);
  }

  /// Those of `entries` delivered more than max_deliveries times.
  std::vector<pending_entry> overdelivered(const std::vector<pending_entry>& entries) const {
    std::vector<pending_entry> out;
    for (const auto& p : entries)
      if (p.deliveries > ctx_->opts.max_deliveries)
        out.push_back(p);
    return out;
  }

  /// Copies each of `dead` to STREAM:dead with its history, then acknowledges it.
  result<void> dead_letter(io::redis::connection& c, const std::vector<pending_entry>& dead) {
    if (dead.empty())
      return {};
    std::vector<std::string> ids;
    for (const auto& d : dead) {
      auto e = c.command({"XRANGE", ctx_->opts.stream, d.id, d.id});
      if (!e)
        return fail(e.error());
      std::string deliveries = std::to_string(d.deliveries);
      std::string dead_stream = ctx_->opts.stream + ":dead";
      std::vector<std::string_view> add{"XADD",     dead_stream,  "*",       "id",
                                        d.id,       "group",      name_,     "consumer",
                                        d.consumer, "deliveries", deliveries};
      if (!e->is_error() && !e->elements.empty() && e->elements[0].elements.size() == 2)
        for (const auto& f : e->elements[0].elements[1].elements)
          add.push_back(f.text);
      auto added = ask(c, add);
      if (!added)
        return fail(added.error());
      ids.push_back(d.id);
      ctx_->stats.dead_letter_records.add(1);
      SLUICE_WARN_LIMITED("subscription {}: entry {} delivered {} times without a confirmation "
                          "(max_deliveries {}); moved to {}:dead",
                          name_, d.id, d.deliveries, ctx_->opts.max_deliveries, ctx_->opts.stream);
    }
    return ack(c, ids);
  }

  /// The group vanished (NOGROUP: deleted, or the stream was lost by a Redis restart without
  /// persistence): recreate it after what this consumer committed, say so, count it.
  result<void> recreate_group(io::redis::connection& c) {
    ctx_->stats.lost_groups.add(1);
    auto s = stream_info(c, ctx_->opts.stream);
    bool emptied = s && s->last < committed_;
    SLUICE_WARN_LIMITED("subscription {}: its consumer group is gone from {}{}; recreated after "
                        "position {}; entries read and not acknowledged are delivered again only "
                        "if the stream still holds them",
                        name_, ctx_->opts.stream,
                        emptied ? " (the stream restarted empty: entries it held are lost)" : "",
                        committed_);
    unacked_.clear();
    replaying_ = false;
    if (auto r = create_group(c, ctx_->opts.stream, name_, committed_); !r)
      return fail(r.error());
    return fail(errc::timed_out);
  }

  reader_context ctx_;
  std::string name_;
  io::redis::link link_;
  position committed_;
  position next_;
  std::atomic<bool> interrupted_{false};
  bool replaying_ = true;
  std::string replay_from_ = "0";
  std::chrono::steady_clock::time_point next_claim_{};
  std::string count_;
  std::vector<position> unacked_; ///< returned by read(), not yet acknowledged
  reply held_;                    ///< the payloads of the last batch
};

} // namespace

result<std::unique_ptr<subscription>>
open_group_subscription(reader_context ctx, std::string_view name, start_at start) {
  io::redis::link link(ctx->opts.at, ctx->opts.timeout, "subscription " + std::string(name));
  auto c = link.get();
  if (!c)
    return fail(c.error());
  auto g = find_group(**c, ctx->opts.stream, name);
  if (!g)
    return fail(g.error());
  position committed = 0;
  if (*g) {
    committed = (*g)->committed();
  } else {
    auto after = start_after(**c, ctx->opts.stream, start);
    if (!after)
      return fail(after.error());
    if (auto r = create_group(**c, ctx->opts.stream, name, *after); !r)
      return fail(r.error());
    committed = *after;
  }
  return std::unique_ptr<subscription>(
      std::make_unique<group_subscription>(ctx, std::string(name), committed));
}

} // namespace sluice::queue::redis
