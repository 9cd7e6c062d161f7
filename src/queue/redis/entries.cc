#include "queue/redis/entries.h"

#include <charconv>

#include "queue/redis/stream_id.h"

namespace sluice::queue::redis {

using io::redis::reply;

void xadd_words(std::vector<std::string_view>& words, std::string& scratch, std::string_view stream,
                std::int64_t received_ns, const record_in& rec) {
  scratch.resize(24);
  char* p = scratch.data();
  auto t = std::to_chars(p, p + 24, received_ns).ptr;
  words.clear();
  words.push_back("XADD");
  words.push_back(stream);
  words.push_back("*");
  words.push_back(k_time_field);
  words.push_back(std::string_view(p, static_cast<std::size_t>(t - p)));
  words.push_back(k_record_field);
  words.push_back(rec.payload);
}

namespace {

bool parse_i64(std::string_view s, std::int64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

} // namespace

void parse_entries(const reply& entries, batch& out, parsed_entries& found) {
  for (const auto& e : entries.elements) {
    if (e.type != reply::kind::array || e.elements.size() != 2 ||
        e.elements[0].type != reply::kind::string) {
      ++found.foreign;
      continue;
    }
    const std::string& id = e.elements[0].text;
    const reply& fields = e.elements[1];
    if (fields.type != reply::kind::array) { // deleted (trimmed) while pending
      found.skip_ids.push_back(id);
      continue;
    }
    auto pos = parse_stream_id(id);
    const std::string* t = nullptr;
    const std::string* r = nullptr;
    if (fields.elements.size() == 4) {
      for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
        const auto& k = fields.elements[i].text;
        if (k == k_time_field)
          t = &fields.elements[i + 1].text;
        else if (k == k_record_field)
          r = &fields.elements[i + 1].text;
      }
    }
    std::int64_t ns = 0;
    if (!pos || t == nullptr || r == nullptr || !parse_i64(*t, ns)) {
      ++found.foreign;
      found.skip_ids.push_back(id);
      continue;
    }
    out.records.push_back(record{*pos, ns, *r});
    out.bytes += r->size();
  }
}

const reply* stream_entries(const reply& r) {
  if (r.type != reply::kind::array || r.elements.empty())
    return nullptr;
  const reply& s = r.elements[0];
  if (s.type != reply::kind::array || s.elements.size() != 2 ||
      s.elements[1].type != reply::kind::array)
    return nullptr;
  return &s.elements[1];
}

} // namespace sluice::queue::redis
