#include "queue/event.h"

#include <algorithm>
#include <cstring>

namespace sluice::queue {

void encode_event(char* out, std::string_view source, std::string_view type, std::string_view key,
                  std::string_view payload) noexcept {
  source = source.substr(0, 255);
  type = type.substr(0, 255);
  key = key.substr(0, 65535);
  out[0] = '\0';
  out[1] = 'E';
  out[2] = 1;
  out[3] = static_cast<char>(source.size());
  out[4] = static_cast<char>(type.size());
  auto k = static_cast<std::uint16_t>(key.size());
  std::memcpy(out + 5, &k, 2);
  char* p = out + k_event_header_bytes;
  for (auto part : {source, type, key, payload}) {
    if (!part.empty())
      std::memcpy(p, part.data(), part.size());
    p += part.size();
  }
}

void encode_event(std::string& out, std::string_view source, std::string_view type,
                  std::string_view key, std::string_view payload) {
  std::size_t at = out.size();
  out.resize(at + encoded_event_size(source.substr(0, 255), type.substr(0, 255),
                                     key.substr(0, 65535), payload));
  encode_event(out.data() + at, source, type, key, payload);
}

result<event_view> decode_event(const record& r) noexcept {
  event_view e;
  e.id = r.pos;
  e.received_ns = r.received_ns;
  e.unordered = r.unordered;
  std::string_view p = r.payload;
  if (p.size() < 2 || p[0] != '\0' || p[1] != 'E') {
    e.type = "event";
    e.payload = p;
    return e;
  }
  if (p.size() < k_event_header_bytes || p[2] != 1)
    return fail(errc::corrupt);
  auto s = static_cast<unsigned char>(p[3]);
  auto t = static_cast<unsigned char>(p[4]);
  std::uint16_t k;
  std::memcpy(&k, p.data() + 5, 2);
  std::size_t need = k_event_header_bytes + s + t + k;
  if (p.size() < need)
    return fail(errc::corrupt);
  e.source = p.substr(k_event_header_bytes, s);
  e.type = p.substr(k_event_header_bytes + s, t);
  e.key = p.substr(k_event_header_bytes + s + t, k);
  e.payload = p.substr(need);
  return e;
}

} // namespace sluice::queue
