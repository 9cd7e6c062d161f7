#include "sinks/envelope.h"

#include <charconv>
#include <cstring>
#include <ctime>

namespace sluice::sinks::envelope {
namespace {

bool is_json_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::tm utc_tm(std::int64_t sec) noexcept {
  std::tm tm{};
  auto t = static_cast<std::time_t>(sec);
  ::gmtime_r(&t, &tm);
  return tm;
}

void put_digits(char* out, unsigned v, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

void append_u64(std::string& out, std::uint64_t v) {
  char buf[20];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

} // namespace

bool embeds_raw(std::string_view p) noexcept {
  while (!p.empty() && is_json_space(p.front()))
    p.remove_prefix(1);
  while (!p.empty() && is_json_space(p.back()))
    p.remove_suffix(1);
  if (p.size() < 2)
    return false;
  return (p.front() == '{' && p.back() == '}') || (p.front() == '[' && p.back() == ']');
}

void utc_format::append_rfc3339_ns(std::string& out, std::int64_t unix_ns) {
  std::int64_t sec = unix_ns / 1000000000;
  std::int64_t frac = unix_ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --sec;
  }
  if (sec != cached_sec_) {
    auto tm = utc_tm(sec);
    put_digits(cached_, static_cast<unsigned>(tm.tm_year + 1900), 4);
    cached_[4] = '-';
    put_digits(cached_ + 5, static_cast<unsigned>(tm.tm_mon + 1), 2);
    cached_[7] = '-';
    put_digits(cached_ + 8, static_cast<unsigned>(tm.tm_mday), 2);
    cached_[10] = 'T';
    put_digits(cached_ + 11, static_cast<unsigned>(tm.tm_hour), 2);
    cached_[13] = ':';
    put_digits(cached_ + 14, static_cast<unsigned>(tm.tm_min), 2);
    cached_[16] = ':';
    put_digits(cached_ + 17, static_cast<unsigned>(tm.tm_sec), 2);
    cached_sec_ = sec;
  }
  char tail[11];
  tail[0] = '.';
  put_digits(tail + 1, static_cast<unsigned>(frac), 9);
  tail[10] = 'Z';
  out.append(cached_, sizeof cached_);
  out.append(tail, sizeof tail);
}

std::string compact_utc(std::int64_t unix_ns) {
  std::int64_t sec = unix_ns / 1000000000;
  if (unix_ns % 1000000000 < 0)
    --sec;
  auto tm = utc_tm(sec);
  char buf[16];
  put_digits(buf, static_cast<unsigned>(tm.tm_year + 1900), 4);
  put_digits(buf + 4, static_cast<unsigned>(tm.tm_mon + 1), 2);
  put_digits(buf + 6, static_cast<unsigned>(tm.tm_mday), 2);
  buf[8] = 'T';
  put_digits(buf + 9, static_cast<unsigned>(tm.tm_hour), 2);
  put_digits(buf + 11, static_cast<unsigned>(tm.tm_min), 2);
  put_digits(buf + 13, static_cast<unsigned>(tm.tm_sec), 2);
  buf[15] = 'Z';
  return std::string(buf, sizeof buf);
}

void append_envelope(std::string& out, const queue::event_view& e, utc_format& times) {
  out.append("{\"id\":");
  append_u64(out, e.id);
  out.append(",\"source\":");
  append_json_string(out, e.source);
  out.append(",\"received_at\":\"");
  times.append_rfc3339_ns(out, e.received_ns);
  out.append("\",\"type\":");
  append_json_string(out, e.type);
  out.append(",\"event\":");
  if (embeds_raw(e.payload))
    out.append(e.payload);
  else
    append_json_string(out, e.payload);
  out.push_back('}');
}

} // namespace sluice::sinks::envelope
