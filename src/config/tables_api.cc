// The option tables of [api] and [metrics]: the control API and the metrics sent out.

#include <fmt/format.h>

#include "base/host_port.h"
#include "config/tables.h"

namespace sluice::config {
namespace {

std::optional<std::string> check_api_endpoint(std::string_view text) {
  if (text.starts_with("unix:") && text.size() > 5)
    return std::nullopt;
  if (parse_host_port(text))
    return std::nullopt;
  return fmt::format("expected \"HOST:PORT\" (port 0: any free port) or \"unix:PATH\", got \"{}\"",
                     text);
}

std::optional<std::string> check_graphite_address(std::string_view text) {
  auto hp = parse_host_port(text);
  if (!hp || hp->port == 0)
    return fmt::format("expected \"HOST:PORT\" with a port from 1 to 65535, got \"{}\"", text);
  return std::nullopt;
}

constexpr option api_list[] = {
    {.name = "listen",
     .type = option_type::string_list,
     .default_doc = "[\"127.0.0.1:4711\"]",
     .help = "Where the control API listens: \"HOST:PORT\" (port 0: any free port) or "
             "\"unix:PATH\"; `[]`: no API. The addresses bound are written to "
             "`DATA_DIR/api.address`. When the file leaves it out and 127.0.0.1:4711 is taken "
             "(another sluice), the pipeline runs without an API and says so; an address the "
             "file sets that cannot be bound stops the start.",
     .check = check_api_endpoint},
    {.name = "token_file",
     .default_doc = "DATA_DIR/api.token",
     .help = "The bearer token every changing route needs (`Authorization: Bearer TOKEN`); "
             "created with a random token, mode 0600, when missing. `\"\"`: no token, allowed "
             "only when every address is loopback or a Unix socket."},
    {.name = "max_connections",
     .type = option_type::integer,
     .default_value = "4096",
     .help = "Connections held at once; one more is closed at once and counted.",
     .min = 1,
     .max = 1000000},
    {.name = "max_header_bytes",
     .type = option_type::size,
     .default_value = "16KiB",
     .unit = "bytes",
     .help = "Longest request line and headers; a longer request gets 431."},
    {.name = "max_body_bytes",
     .type = option_type::size,
     .default_value = "1MiB",
     .unit = "bytes",
     .help = "Longest request body; a longer one gets 413."},
    {.name = "request_rate",
     .type = option_type::integer,
     .default_value = "200",
     .unit = "requests/s",
     .help = "Requests per second one connection may make (bursts up to as many); more get "
             "429. 0: no limit.",
     .min = 0},
    {.name = "idle_timeout",
     .type = option_type::duration,
     .default_value = "60s",
     .help = "A connection with no request for this long is closed."},
    {.name = "request_timeout",
     .type = option_type::duration,
     .default_value = "10s",
     .help = "Time a started request has to arrive whole (headers and body), against slow "
             "clients; then 408 and the connection closes."},
};

constexpr option graphite_list[] = {
    {.name = "address",
     .required = true,
     .help = "The Graphite (carbon) plaintext listener, \"HOST:PORT\".",
     .check = check_graphite_address},
    {.name = "prefix", .default_value = "sluice", .help = "First element of every metric path."},
    {.name = "interval",
     .type = option_type::duration,
     .default_value = "10s",
     .help = "How often the figures are sent."},
};

constexpr option metrics_list[] = {
    {.name = "graphite",
     .type = option_type::table,
     .default_doc = "none",
     .help = "Send the metrics to Graphite: see [metrics.graphite].",
     .fields = &graphite_options},
};

} // namespace

const option_table api_options{
    .title = "[api]",
    .help = "The control API (docs/api.md): REST routes, `/meta.json`, `/metrics` for "
            "Prometheus. Reading routes are open to loopback clients; changing routes need the "
            "token, and so does everything on a non-loopback address except /healthz and "
            "/readyz. Changes to [api] and [metrics] take a restart.",
    .options = api_list,
};

const option_table metrics_options{
    .title = "[metrics]",
    .help = "Metrics pushed out of the daemon (Prometheus pulls `/metrics` from the API).",
    .options = metrics_list,
};

const option_table graphite_options{
    .title = "[metrics.graphite]",
    .help = "The Graphite plaintext protocol over TCP. While Graphite is away sluice reconnects "
            "with backoff and keeps at most 1 MiB of lines, dropping the oldest (counted); "
            "nothing in the pipeline waits for it.",
    .options = graphite_list,
};

} // namespace sluice::config
