#include "firehose/http_request.h"

#include <charconv>
#include <system_error>

#include "base/url.h"

namespace sluice::firehose {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y)
      return false;
  }
  return true;
}

// The next line of `s` (without "\r\n" or "\n"), consumed.
std::string_view next_line(std::string_view& s) {
  auto nl = s.find('\n');
  std::string_view line = s.substr(0, nl);
  s.remove_prefix(nl == std::string_view::npos ? s.size() : nl + 1);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  return line;
}

template <class F> void for_each_item(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    if (!item.empty())
      f(item);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
}

bool parse_u64(std::string_view s, std::uint64_t& v) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

} // namespace

result<http_request> parse_request_head(std::string_view head) {
  auto bad = [] { return fail(std::make_error_code(std::errc::bad_message)); };
  std::string_view line = next_line(head);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1 || !line.substr(sp2 + 1).starts_with("HTTP/1."))
    return bad();
  http_request req;
  req.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos)
    req.query = std::string(target.substr(q + 1));
  while (!head.empty()) {
    line = next_line(head);
    if (line.empty())
      break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return bad();
    auto name = trim(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::uint64_t n = 0;
      if (!parse_u64(value, n))
        return bad();
      req.content_length = static_cast<std::size_t>(n);
    } else if (iequals(name, "content-type")) {
      req.form_body =
          iequals(trim(value.substr(0, value.find(';'))), "application/x-www-form-urlencoded");
    } else if (iequals(name, "authorization")) {
      req.authorization = std::string(value);
    } else if (iequals(name, "accept-encoding")) {
      for_each_item(value, [&](std::string_view item) {
        auto semi = item.find(';');
        auto coding = trim(item.substr(0, semi));
        auto weight =
            semi == std::string_view::npos ? std::string_view{} : trim(item.substr(semi + 1));
        bool refused =
            weight == "q=0" || weight == "q=0.0" || weight == "q=0.00" || weight == "q=0.000";
        if ((iequals(coding, "gzip") || coding == "*") && !refused)
          req.accepts_gzip = true;
      });
    } else if (iequals(name, "transfer-encoding")) {
      return bad(); // a chunked request body is more than the firehose reads
    }
  }
  return req;
}

void parse_form(std::string_view s, std::vector<std::pair<std::string, std::string>>& out) {
  while (!s.empty()) {
    auto amp = s.find('&');
    auto pair = s.substr(0, amp);
    s.remove_prefix(amp == std::string_view::npos ? s.size() : amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    out.emplace_back(url_decode_lenient(pair.substr(0, eq)),
                     eq == std::string_view::npos ? std::string()
                                                  : url_decode_lenient(pair.substr(eq + 1)));
  }
}

result<stream_request>
parse_stream_request(const std::vector<std::pair<std::string, std::string>>& params) {
  stream_request req;
  bool ok = true;
  for (const auto& [name, value] : params) {
    if (name == "track") {
      for_each_item(value, [&](std::string_view t) { req.filter.track.emplace_back(t); });
    } else if (name == "follow") {
      for_each_item(value, [&](std::string_view id) {
        std::uint64_t v = 0;
        ok = ok && parse_u64(id, v);
        req.filter.follow.push_back(v);
      });
    } else if (name == "count") {
      std::string_view v = trim(value);
      if (v.starts_with('-'))
        v.remove_prefix(1);
      ok = ok && parse_u64(v, req.backfill);
    }
  }
  if (!ok)
    return fail(std::make_error_code(std::errc::invalid_argument));
  return req;
}

} // namespace sluice::firehose
