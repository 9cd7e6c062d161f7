#include "sources/settings.h"

#include <algorithm>

namespace sluice::sources {

io::reconnect_settings reconnect_settings_of(const config::option_values& r) {
  io::reconnect_settings s;
  s.network_initial = r.duration("network_initial");
  s.network_step = r.duration("network_step");
  s.network_max = r.duration("network_max");
  s.http_initial = r.duration("http_initial");
  s.http_max = r.duration("http_max");
  s.rate_limit_initial = r.duration("rate_limit_initial");
  s.rate_limit_max = r.duration("rate_limit_max");
  s.jitter_percent = static_cast<unsigned>(std::clamp<std::int64_t>(r.integer("jitter"), 0, 100));
  s.stable_after = r.duration("stable_after");
  if (r.has("max_retries"))
    s.max_retries = static_cast<std::uint64_t>(r.integer("max_retries"));
  return s;
}

namespace {

io::stream_request request_of(const config::option_values& v) {
  io::stream_request r;
  r.url = v.string("url");
  r.post = v.string("method") == "POST";
  r.params = v.entries("params");
  for (auto& [key, values] : v.entries("headers"))
    r.headers.emplace_back(key, values.front());
  const auto& auth = v.table("auth");
  if (auth.has("bearer"))
    r.bearer = auth.string("bearer");
  else if (auth.has("user"))
    r.basic_auth.emplace(auth.string("user"), auth.string("password"));
  if (v.has("user_agent"))
    r.user_agent = v.string("user_agent");
  r.gzip = v.boolean("gzip");
  if (v.has("ca_file"))
    r.ca_file = v.string("ca_file");
  if (v.has("client_cert"))
    r.client_cert = v.string("client_cert");
  if (v.has("client_key"))
    r.client_key = v.string("client_key");
  r.insecure = v.boolean("insecure");
  return r;
}

} // namespace

http_settings http_settings::of(const config::option_values& v) {
  http_settings h;
  h.request = request_of(v);
  h.stall_timeout = v.duration("stall_timeout");
  h.backfill = static_cast<std::uint64_t>(v.integer("backfill"));
  h.dedupe_field = v.string("dedupe_field");
  h.dedupe_window = static_cast<std::uint64_t>(v.integer("dedupe_window"));
  h.change_debounce = v.duration("change_debounce");
  h.reconnect = reconnect_settings_of(v.table("reconnect"));
  return h;
}

client_settings client_settings::of(const config::option_values& v) {
  client_settings c;
  c.unix_socket = v.kind() == "unix";
  c.address = v.string("address");
  c.target = (c.unix_socket ? "unix:" : "tcp://") + c.address;
  c.reconnect = reconnect_settings_of(v.table("reconnect"));
  return c;
}

listen_settings listen_settings::of(const config::option_values& v) {
  listen_settings l;
  for (auto& e : v.string_list("listen")) {
    if (e.starts_with("tcp://"))
      l.endpoints.push_back({false, e.substr(6)});
    else
      l.endpoints.push_back({true, e.substr(5)}); // "unix:PATH", checked by the table
  }
  l.ack = v.boolean("ack");
  return l;
}

} // namespace sluice::sources
