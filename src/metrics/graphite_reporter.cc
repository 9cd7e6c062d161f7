#include <algorithm>
#include <array>
#include <exception>
#include <mutex>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/asio.h"
#include "base/log.h"
#include "metrics/graphite.h"

// GCC 12 reports a false -Wmismatched-new-delete in Asio's coroutine frames.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace sluice::metrics {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::chrono::milliseconds k_first_delay{100};
constexpr std::chrono::milliseconds k_max_delay{30000};
constexpr std::chrono::seconds k_connect_timeout{5};
constexpr std::chrono::seconds k_warn_every{30};
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// A warning through `limit` (one per k_warn_every), with the number it held back.
template <class... Args>
void warn(rate_limit& limit, fmt::format_string<Args...> format, Args&&... args) {
  std::uint64_t suppressed = 0;
  if (!limit.allow(suppressed))
    return;
  auto message = fmt::format(format, std::forward<Args>(args)...);
  if (suppressed > 0)
    message += fmt::format(" ({} similar messages suppressed)", suppressed);
  spdlog::warn("{}", message);
}

std::uint64_t lines_in(std::string_view text) {
  return static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n'));
}

/// A coroutine that ended with an exception (an allocation failure, or one `snapshot` threw)
/// stops reporting; it is logged rather than lost.
void log_exception(std::exception_ptr e) {
  if (!e)
    return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::error("graphite reporter stopped: {}", x.what());
  } catch (...) {
    spdlog::error("graphite reporter stopped: unknown exception");
  }
}

} // namespace

namespace detail {

/// Everything the coroutines use, shared with them so that it outlives the reporter until their
/// handlers have run. Strand-only fields are touched by handlers on `strand` only.
struct graphite_state {
  using options = graphite_reporter::options;
  using snapshot_fn = graphite_reporter::snapshot_fn;

  graphite_state(const asio::any_io_executor& executor, options o, snapshot_fn fn)
      : strand(asio::make_strand(executor)), opts(std::move(o)), snapshot(std::move(fn)),
        socket(strand), resolver(strand), tick_timer(strand), retry_timer(strand),
        connect_timer(strand), wake(strand) {}

  std::string where() const { return fmt::format("graphite {}:{}", opts.host, opts.port); }
  void trim();
  void collect();
  void lose_connection();
  void close_all();

  asio::strand<asio::any_io_executor> strand;
  const options opts;
  graphite_stats stats;

  std::mutex mu; ///< guards snapshot and started; stopped changes under it
  snapshot_fn snapshot;
  bool started = false;
  std::atomic<bool> stopped{false};

  // Strand only.
  tcp::socket socket;
  tcp::resolver resolver;
  asio::steady_timer tick_timer;
  asio::steady_timer retry_timer;
  asio::steady_timer connect_timer; ///< ends a connect attempt after k_connect_timeout
  asio::steady_timer wake;          ///< the writer waits on it for lines; cancel() wakes it
  std::string pending;              ///< lines not yet handed to a write
  std::string writing;              ///< the write in flight
  std::uint64_t generation = 0;     ///< of the latest connect attempt
  bool connected = false;
  bool connect_timed_out = false; ///< the latest attempt was ended by connect_timer

  rate_limit connect_warn{k_warn_every};
  rate_limit write_warn{k_warn_every};
  rate_limit lost_warn{k_warn_every};
  rate_limit drop_warn{k_warn_every};
  rate_limit connected_info{k_warn_every};
};

void graphite_state::trim() {
  if (pending.size() <= opts.max_buffer_bytes)
    return;
  // Cut after the first newline that brings the size within the bound: whole lines only.
  std::size_t excess = pending.size() - opts.max_buffer_bytes;
  std::size_t cut = pending.find('\n', excess - 1);
  cut = cut == std::string::npos ? pending.size() : cut + 1;
  std::uint64_t lines = lines_in(std::string_view(pending).substr(0, cut));
  pending.erase(0, cut);
  stats.lines_dropped += lines;
  warn(drop_warn, "{}: outgoing buffer full ({} bytes), dropped the {} oldest lines ({} in all)",
       where(), opts.max_buffer_bytes, lines, stats.lines_dropped.load());
}

void graphite_state::collect() {
  std::vector<family> families;
  {
    std::lock_guard lock(mu);
    if (stopped || !snapshot)
      return;
    families = snapshot();
  }
  auto now = std::chrono::system_clock::now().time_since_epoch();
  pending += render_graphite(families, opts.prefix,
                             std::chrono::duration_cast<std::chrono::seconds>(now).count());
  trim();
  wake.cancel();
}

void graphite_state::lose_connection() {
  connected = false;
  error_code ignored;
  socket.close(ignored);
  wake.cancel();
}

void graphite_state::close_all() {
  lose_connection();
  resolver.cancel();
  tick_timer.cancel();
  retry_timer.cancel();
  connect_timer.cancel();
}

} // namespace detail

namespace {

using detail::graphite_state;
using state_ptr = std::shared_ptr<graphite_state>;

asio::awaitable<void> tick_loop(state_ptr s) {
  auto next = std::chrono::steady_clock::now() + s->opts.interval;
  while (!s->stopped) {
    s->tick_timer.expires_at(next);
    co_await s->tick_timer.async_wait(use_tuple);
    if (s->stopped)
      break;
    s->collect();
    // A fixed cadence; after a stall (a slow snapshot, a busy executor) it starts afresh.
    auto now = std::chrono::steady_clock::now();
    next += s->opts.interval;
    if (next <= now)
      next = now + s->opts.interval;
  }
}

/// Discards what the server sends (carbon sends nothing) and notices that it closed the
/// connection: the writer alone would only notice at a later write, if at all.
asio::awaitable<void> read_side(state_ptr s, std::uint64_t generation) {
  std::array<char, 512> discard{};
  for (;;) {
    if (s->generation != generation || !s->connected)
      co_return; // a connection that ended before this reader started
    auto [ec, n] = co_await s->socket.async_read_some(asio::buffer(discard), use_tuple);
    if (s->generation != generation || !s->connected || s->stopped)
      co_return; // we closed it ourselves
    if (!ec)
      continue;
    ++s->stats.disconnects;
    warn(s->lost_warn, "{}: connection lost ({}), reconnecting", s->where(),
         ec == asio::error::eof ? "closed by the server" : ec.message());
    s->lose_connection();
    co_return;
  }
}

/// One attempt: resolve, then connect within k_connect_timeout.
asio::awaitable<error_code> connect(state_ptr s) {
  auto [resolve_ec, endpoints] =
      co_await s->resolver.async_resolve(s->opts.host, std::to_string(s->opts.port), use_tuple);
  if (resolve_ec || s->stopped)
    co_return resolve_ec ? resolve_ec : asio::error::operation_aborted;
  auto generation = ++s->generation;
  s->connect_timed_out = false;
  s->connect_timer.expires_after(k_connect_timeout);
  s->connect_timer.async_wait([s, generation](error_code ec) {
    if (ec || s->generation != generation || s->connected)
      return;
    s->connect_timed_out = true;
    error_code ignored;
    s->socket.close(ignored);
  });
  auto [ec, endpoint] = co_await asio::async_connect(s->socket, endpoints, use_tuple);
  s->connect_timer.cancel();
  if (!ec && s->stopped)
    ec = asio::error::operation_aborted;
  if (ec) {
    error_code ignored;
    s->socket.close(ignored);
    co_return s->connect_timed_out ? asio::error::timed_out : ec;
  }
  s->connected = true;
  co_return error_code{};
}

/// Writes the buffer while the connection is up.
asio::awaitable<void> write_loop(state_ptr s) {
  while (!s->stopped && s->connected) {
    if (s->pending.empty()) {
      s->wake.expires_at(asio::steady_timer::time_point::max());
      co_await s->wake.async_wait(use_tuple);
      continue;
    }
    s->writing.swap(s->pending);
    auto [ec, n] = co_await asio::async_write(s->socket, asio::buffer(s->writing), use_tuple);
    if (!ec) {
      s->stats.lines_sent += lines_in(s->writing);
      s->writing.clear();
      continue;
    }
    // Sent again on the next connection (carbon keeps one value per path and timestamp).
    s->pending.insert(0, s->writing);
    s->writing.clear();
    s->trim();
    if (!s->stopped && s->connected) {
      ++s->stats.write_failures;
      warn(s->write_warn, "{}: write failed ({}), reconnecting", s->where(), ec.message());
    }
    s->lose_connection();
  }
}

asio::awaitable<void> connection_loop(state_ptr s) {
  auto delay = k_first_delay;
  while (!s->stopped) {
    auto ec = co_await connect(s);
    if (s->stopped)
      break;
    if (ec) {
      ++s->stats.connect_failures;
      warn(s->connect_warn, "{}: connect failed ({}), retrying in {} ms ({} failures in all)",
           s->where(), ec.message(), delay.count(), s->stats.connect_failures.load());
    } else {
      ++s->stats.connects;
      std::uint64_t suppressed = 0;
      if (s->connected_info.allow(suppressed))
        spdlog::info("{}: connected", s->where());
      delay = k_first_delay;
      asio::co_spawn(s->strand, read_side(s, s->generation), log_exception);
      co_await write_loop(s);
      s->lose_connection();
      if (s->stopped)
        break;
    }
    s->retry_timer.expires_after(delay);
    co_await s->retry_timer.async_wait(use_tuple);
    delay = std::min(delay * 2, k_max_delay);
  }
}

} // namespace

graphite_reporter::graphite_reporter(boost::asio::any_io_executor executor, options opts,
                                     snapshot_fn snapshot)
    : state_(std::make_shared<detail::graphite_state>(executor, std::move(opts),
                                                      std::move(snapshot))) {}

graphite_reporter::graphite_reporter(boost::asio::io_context& io, options opts,
                                     snapshot_fn snapshot)
    : graphite_reporter(io.get_executor(), std::move(opts), std::move(snapshot)) {}

graphite_reporter::~graphite_reporter() {
  stop();
}

void graphite_reporter::start() {
  std::lock_guard lock(state_->mu);
  if (state_->started || state_->stopped)
    return;
  state_->started = true;
  asio::co_spawn(state_->strand, tick_loop(state_), log_exception);
  asio::co_spawn(state_->strand, connection_loop(state_), log_exception);
}

void graphite_reporter::stop() {
  snapshot_fn released; // destroyed outside the lock
  bool started = false;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopped.exchange(true))
      return;
    released = std::move(state_->snapshot);
    state_->snapshot = nullptr;
    started = state_->started;
  }
  if (started)
    asio::post(state_->strand, [s = state_] { s->close_all(); });
}

const graphite_stats& graphite_reporter::stats() const {
  return state_->stats;
}

} // namespace sluice::metrics
