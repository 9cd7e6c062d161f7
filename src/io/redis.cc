#include "io/redis.h"

#include <cerrno>
#include <charconv>
#include <hiredis/hiredis.h>

#include "base/redis_url.h"
#include "io/errc.h"

namespace sluice::io::redis {
namespace {

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
  case REDIS_REPLY_STATUS:
    out.type = reply::kind::status;
    out.text.assign(r->str, r->len);
    break;
  case REDIS_REPLY_ERROR:
    out.type = reply::kind::error;
    out.text.assign(r->str, r->len);
    break;
  case REDIS_REPLY_INTEGER:
    out.type = reply::kind::integer;
    out.integer = r->integer;
    break;
  case REDIS_REPLY_STRING:
    out.type = reply::kind::string;
    out.text.assign(r->str, r->len);
    break;
  case REDIS_REPLY_ARRAY:
    out.type = reply::kind::array;
    out.elements.reserve(r->elements);
    for (std::size_t i = 0; i < r->elements; ++i)
      out.elements.push_back(convert(r->element[i]));
    break;
  default:
    out.type = reply::kind::nil;
  }
  return out;
}

timeval to_timeval(std::chrono::milliseconds t) {
  return timeval{static_cast<time_t>(t.count() / 1000),
                 static_cast<suseconds_t>((t.count() % 1000) * 1000)};
}

} // namespace

result<endpoint> parse_url(std::string_view url) {
  auto e = parse_redis_url(url);
  if (!e)
    return fail(errc::bad_url);
  return *e;
}

std::string describe(const endpoint& at) {
  if (at.sentinels.empty())
    return at.host + ":" + std::to_string(at.port);
  std::string out = "primary " + at.master + " of sentinels ";
  for (std::size_t i = 0; i < at.sentinels.size(); ++i)
    out += (i ? "," : "") + at.sentinels[i].host + ":" + std::to_string(at.sentinels[i].port);
  return out;
}

std::string_view reply::error_code() const noexcept {
  if (!is_error())
    return {};
  std::string_view t = text;
  return t.substr(0, t.find(' '));
}

result<connection> connection::open(const endpoint& at, std::chrono::milliseconds timeout) {
  if (!at.sentinels.empty())
    return open_primary(at, timeout);
  redisContext* c = redisConnectWithTimeout(at.host.c_str(), at.port, to_timeval(timeout));
  if (c == nullptr)
    return fail_errno(ENOMEM);
  connection conn(c);
  if (c->err != 0)
    return fail(conn.failure());
  redisSetTimeout(c, to_timeval(timeout));
  std::string db = std::to_string(at.db);
  if (!at.password.empty()) {
    if (at.user.empty())
      conn.append({"AUTH", at.password});
    else
      conn.append({"AUTH", at.user, at.password});
  }
  if (at.db != 0)
    conn.append({"SELECT", db});
  if (conn.pending() > 0) {
    auto replies = conn.flush();
    if (!replies)
      return fail(replies.error());
    for (const auto& r : *replies)
      if (r.is_error())
        return fail(errc::redis_refused);
  }
  return conn;
}

result<connection> connection::open_primary(const endpoint& at, std::chrono::milliseconds timeout) {
  std::error_code last = errc::redis_no_primary;
  for (const auto& s : at.sentinels) {
    auto sentinel = open(endpoint{.host = s.host, .port = s.port}, timeout);
    if (!sentinel) {
      last = sentinel.error();
      continue;
    }
    auto addr = sentinel->command({"SENTINEL", "get-master-addr-by-name", at.master});
    if (!addr || addr->type != reply::kind::array || addr->elements.size() != 2)
      continue;
    endpoint primary = at;
    primary.sentinels.clear();
    primary.host = addr->elements[0].text;
    auto port = addr->elements[1].text;
    if (std::from_chars(port.data(), port.data() + port.size(), primary.port).ec != std::errc{})
      continue;
    auto c = open(primary, timeout);
    if (!c) {
      last = c.error();
      continue;
    }
    // Right after a failover a sentinel may still name the old primary, now a replica.
    auto role = c->command({"ROLE"});
    if (role && role->type == reply::kind::array && !role->elements.empty() &&
        role->elements[0].text == "master")
      return c;
    last = errc::redis_no_primary;
  }
  return fail(last);
}

connection::connection(connection&& o) noexcept
    : ctx_(o.ctx_), pending_(o.pending_), broken_(o.broken_) {
  o.ctx_ = nullptr;
}

connection& connection::operator=(connection&& o) noexcept {
  if (this != &o) {
    if (ctx_ != nullptr)
      redisFree(ctx_);
    ctx_ = o.ctx_;
    pending_ = o.pending_;
    broken_ = o.broken_;
    o.ctx_ = nullptr;
  }
  return *this;
}

connection::~connection() {
  if (ctx_ != nullptr)
    redisFree(ctx_);
}

void connection::append(std::span<const std::string_view> words) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(words.size());
  lens.reserve(words.size());
  for (auto w : words) {
    argv.push_back(w.data());
    lens.push_back(w.size());
  }
  redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
  ++pending_;
}

void resp_command(std::string& out, std::span<const std::string_view> words) {
  char num[24];
  auto put_len = [&](char tag, std::size_t n) {
    auto end = std::to_chars(num, num + sizeof num, n).ptr;
    out.push_back(tag);
    out.append(num, static_cast<std::size_t>(end - num));
    out.append("\r\n");
  };
  put_len('*', words.size());
  for (auto w : words) {
    put_len('$', w.size());
    out.append(w);
    out.append("\r\n");
  }
}

void connection::append_formatted(std::string_view resp, std::size_t commands) {
  redisAppendFormattedCommand(ctx_, resp.data(), resp.size());
  pending_ += commands;
}

std::error_code connection::failure() const {
  switch (ctx_->err) {
  case REDIS_ERR_IO: // a timeout too (EAGAIN)
    return std::error_code(errno != 0 ? errno : EIO, std::system_category());
  case REDIS_ERR_EOF:
    return errc::ended;
  case REDIS_ERR_PROTOCOL:
    return errc::redis_protocol;
  default:
    return std::error_code(ECONNABORTED, std::system_category());
  }
}

result<std::vector<reply>> connection::flush() {
  std::vector<reply> out;
  out.reserve(pending_);
  if (broken_)
    return fail_errno(ENOTCONN);
  while (pending_ > 0) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      broken_ = true;
      pending_ = 0;
      return fail(failure());
    }
    auto* r = static_cast<redisReply*>(raw);
    out.push_back(convert(r));
    freeReplyObject(r);
    --pending_;
  }
  return out;
}

result<reply> connection::command(std::span<const std::string_view> words) {
  append(words);
  auto replies = flush();
  if (!replies)
    return fail(replies.error());
  return std::move(replies->front());
}

} // namespace sluice::io::redis
