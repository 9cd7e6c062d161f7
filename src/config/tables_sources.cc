#include <string>

#include <fmt/format.h>

#include "base/host_port.h"
#include "config/queue_settings.h"
#include "config/tables.h"

namespace sluice::config {
namespace {

// "127.0.0.1:4713", "localhost:80", "[::1]:4713".
std::optional<std::string> check_host_port(std::string_view text) {
  auto hp = parse_host_port(text);
  if (!hp || hp->port == 0)
    return fmt::format("expected \"HOST:PORT\" with a port from 1 to 65535, got \"{}\"", text);
  return std::nullopt;
}

std::optional<std::string> check_path(std::string_view text) {
  if (text.empty())
    return std::string("expected a socket path, got \"\"");
  return std::nullopt;
}

std::optional<std::string> check_endpoint(std::string_view text) {
  if (text.starts_with("tcp://") && !check_host_port(text.substr(6)))
    return std::nullopt;
  if (text.starts_with("unix:") && text.size() > 5)
    return std::nullopt;
  return fmt::format("expected \"tcp://HOST:PORT\" or \"unix:PATH\", got \"{}\"", text);
}

std::optional<std::string> check_url(std::string_view text) {
  for (std::string_view scheme : {"http://", "https://"})
    if (text.starts_with(scheme) && text.size() > scheme.size())
      return std::nullopt;
  return fmt::format("expected an http:// or https:// URL, got \"{}\"", text);
}

constexpr std::string_view format_values[] = {"json", "lines"};

constexpr option common_list[] = {
    {.name = "enabled",
     .type = option_type::boolean,
     .default_value = "true",
     .help = "false: the source is defined but not started (state \"stopped\"). The API's "
             "stop and start set it."},
    {.name = "max_record_bytes",
     .type = option_type::size,
     .default_value = "1MiB",
     .unit = "bytes",
     .help = "Longest record accepted; a longer one is rejected to the dead-letter file. At "
             "most 512MiB.",
     .max = static_cast<std::int64_t>(k_max_record_bytes)},
    {.name = "format",
     .type = option_type::enumeration,
     .default_value = "json",
     .help = "\"json\": each record must be valid JSON (others go to the dead-letter file); "
             "\"lines\": any line of UTF-8 text.",
     .values = format_values},
    {.name = "default_type",
     .default_value = "event",
     .help = "Type of an event that is not a control message (a JSON object with exactly one "
             "key whose value is an object, typed by that key: `delete`, `limit`, ...)."},
};

constexpr option reconnect_option{.name = "reconnect",
                                  .type = option_type::table,
                                  .help =
                                      "Backoff between reconnects; see [sources.NAME.reconnect].",
                                  .fields = &reconnect_options};

constexpr std::string_view method_values[] = {"GET", "POST"};

constexpr option http_list[] = {
    {.name = "url",
     .required = true,
     .help = "The streaming endpoint, `http://` or `https://`.",
     .check = check_url},
    {.name = "method",
     .type = option_type::enumeration,
     .default_value = "GET",
     .help = "\"GET\" sends `params` in the query string; \"POST\" sends them as a form body.",
     .values = method_values},
    {.name = "params",
     .type = option_type::table,
     .help = "Stream parameters, each a string or an array of strings (joined with commas): "
             "`params = { track = [\"Bears\", \"Packers\"] }`.",
     .entries = option_type::string_list},
    {.name = "headers",
     .type = option_type::table,
     .help = "Extra request headers: `headers = { \"User-Agent\" = \"sluice\" }`."},
    {.name = "auth",
     .type = option_type::table,
     .default_doc = "none",
     .help = "Basic or bearer authentication; see [sources.NAME.auth].",
     .fields = &auth_options},
    {.name = "user_agent",
     .default_doc = "sluice/VERSION",
     .help = "The User-Agent header (a `User-Agent` in `headers` wins)."},
    {.name = "gzip",
     .type = option_type::boolean,
     .default_value = "true",
     .help = "Ask for `Accept-Encoding: gzip` and decode a gzip body on the fly."},
    {.name = "ca_file",
     .default_doc = "the system's trust store",
     .help = "https: PEM file of the certificate authorities the server's certificate must "
             "chain to."},
    {.name = "client_cert",
     .default_doc = "none",
     .help = "https: PEM client certificate to present (with `client_key`)."},
    {.name = "client_key",
     .default_doc = "none",
     .help = "https: PEM private key of `client_cert`."},
    {.name = "insecure",
     .type = option_type::boolean,
     .default_value = "false",
     .help = "https: accept any certificate, without verification (logged as a warning at "
             "each connect). For tests only."},
    {.name = "stall_timeout",
     .type = option_type::duration,
     .default_value = "90s",
     .help = "No byte at all (not even a keep-alive newline) for this long: the connection is "
             "dropped and reconnected, as a network error."},
    {.name = "backfill",
     .type = option_type::integer,
     .default_value = "0",
     .unit = "events",
     .help = "Ask every connection (the first after a start included) for the last N events "
             "sent before it (`count=-N`, the streaming APIs' backfill), so that what was in "
             "flight when sluice stopped or the connection dropped is sent again; events "
             "already queued are dropped by `dedupe_field`. A connection that ends having "
             "brought nothing new (the server sent less than the backfill) halves the next "
             "request's, until one brings new events; then N is asked for again. 0: no "
             "backfill.",
     .min = 0,
     .max = 1000000},
    {.name = "dedupe_field",
     .default_value = "id_str",
     .help = "The field (a dotted path for a nested one) that identifies an event: an event "
             "whose value was among the last `dedupe_window` of this source is a duplicate "
             "(a backfill, or two connections overlapping while `params` change) and is "
             "dropped and counted. An event without it is recognised by its exact bytes. "
             "\"\": no duplicate suppression."},
    {.name = "dedupe_window",
     .type = option_type::integer,
     .default_value = "10000",
     .unit = "events",
     .help = "How many recent ids are remembered (about 90 bytes each). At a start the "
             "window is refilled from this source's newest events in the queue, so it "
             "survives a crash. At least `backfill`.",
     .min = 1,
     .max = 10000000},
    {.name = "change_debounce",
     .type = option_type::duration,
     .default_value = "2s",
     .help = "A change of the request (`params`, `headers`, `auth`, ... by a reload) opens the "
             "new connection this long after the first change of a burst, with the last "
             "one's values, and switches to it once it delivers an event."},
    reconnect_option,
};

constexpr option tcp_list[] = {
    {.name = "address",
     .required = true,
     .help = "The server to connect to, `HOST:PORT`.",
     .check = check_host_port},
    reconnect_option,
};

constexpr option unix_list[] = {
    {.name = "address",
     .required = true,
     .help = "Path of the Unix socket to connect to.",
     .check = check_path},
    reconnect_option,
};

constexpr option listen_list[] = {
    {.name = "listen",
     .type = option_type::string_list,
     .required = true,
     .help = "Endpoints to accept pushers on: `\"tcp://HOST:PORT\"` or `\"unix:PATH\"`.",
     .check = check_endpoint},
    {.name = "ack",
     .type = option_type::boolean,
     .default_value = "false",
     .help = "Write `ack N` lines back on each connection, N being how many of its records "
             "are durable so far."},
};

constexpr option auth_list[] = {
    {.name = "user", .help = "Basic authentication: the user name (with `password`)."},
    {.name = "password", .help = "Basic authentication: the password."},
    {.name = "bearer", .help = "A bearer token (instead of `user` and `password`)."},
};

constexpr option reconnect_list[] = {
    {.name = "network_initial",
     .type = option_type::duration,
     .default_value = "250ms",
     .help = "Network errors (refused, reset, timeout, TLS failure, a stall, an ended "
             "response): the delay after the first."},
    {.name = "network_step",
     .type = option_type::duration,
     .default_value = "250ms",
     .help = "Network errors: added to the delay for each further attempt (linear)."},
    {.name = "network_max",
     .type = option_type::duration,
     .default_value = "16s",
     .help = "Network errors: cap on the delay."},
    {.name = "http_initial",
     .type = option_type::duration,
     .default_value = "5s",
     .help = "http: an error status (5xx, any status neither fatal nor rate limiting): the "
             "delay after the first; doubled for each further attempt."},
    {.name = "http_max",
     .type = option_type::duration,
     .default_value = "320s",
     .help = "http: cap on the delay after an error status."},
    {.name = "rate_limit_initial",
     .type = option_type::duration,
     .default_value = "60s",
     .help = "http: rate limiting (420, 429): the delay after the first; doubled for each "
             "further attempt. A larger `Retry-After` from the server wins."},
    {.name = "rate_limit_max",
     .type = option_type::duration,
     .default_value = "960s",
     .help = "http: cap on the delay after rate limiting."},
    {.name = "jitter",
     .type = option_type::integer,
     .default_value = "20",
     .unit = "percent",
     .help = "Each delay is shortened by a random share of up to this much of itself, so that "
             "many clients do not reconnect in step.",
     .min = 0,
     .max = 100},
    {.name = "stable_after",
     .type = option_type::duration,
     .default_value = "30s",
     .help = "A connection that has delivered data for this long resets every attempt "
             "counter."},
    {.name = "max_retries",
     .type = option_type::integer,
     .default_doc = "unlimited",
     .unit = "attempts",
     .help = "After this many failed attempts in a row (since the last reset) the source "
             "gives up: its state becomes `failed` with the last reason.",
     .min = 1},
};

constexpr const option_table* kinds[] = {&http_source_options, &tcp_source_options,
                                         &unix_source_options, &listen_source_options,
                                         &stdin_source_options};

} // namespace

const option_table source_common_options{
    .title = "[sources.NAME]",
    .help = "A source produces newline-delimited records (`\\r\\n` accepted, blank keep-alive "
            "lines ignored) and appends them to the queue. `type` selects the kind of source; "
            "these keys apply to every type. NAME is 1 to 128 of A-Z a-z 0-9 _ . -, not starting "
            "with '.'.",
    .options = common_list,
};

const option_table http_source_options{
    .title = "source type \"http\"",
    .kind = "http",
    .help = "A long-lived streaming HTTP or HTTPS request (chunked or plain, gzip decoded), "
            "reconnected by the reconnection policy of [sources.NAME.reconnect] (network "
            "errors, HTTP errors and rate limiting each with their own delays; fatal statuses "
            "stop the source).",
    .options = http_list,
};

const option_table tcp_source_options{
    .title = "source type \"tcp\"",
    .kind = "tcp",
    .help = "Connects to a TCP server and reads lines; reconnects by the network class of "
            "[sources.NAME.reconnect].",
    .options = tcp_list,
};

const option_table unix_source_options{
    .title = "source type \"unix\"",
    .kind = "unix",
    .help = "Connects to a Unix socket and reads lines; reconnects by the network class of "
            "[sources.NAME.reconnect].",
    .options = unix_list,
};

const option_table listen_source_options{
    .title = "source type \"listen\"",
    .kind = "listen",
    .help = "Accepts any number of pushers on TCP and Unix sockets, each sending lines. When "
            "the queue is at its cap it stops reading, so the pushers' writes block.",
    .options = listen_list,
};

const option_table stdin_source_options{
    .title = "source type \"stdin\"",
    .kind = "stdin",
    .help = "Lines from standard input until end of file. No options of its own.",
    .options = {},
};

const option_table auth_options{
    .title = "[sources.NAME.auth]",
    .help = "`auth = { user = \"...\", password = \"...\" }` or `auth = { bearer = \"...\" }`.",
    .options = auth_list,
};

const option_table reconnect_options{
    .title = "[sources.NAME.reconnect]",
    .help = "The reconnection policy (http, tcp, unix), per class of failure: network errors "
            "back off linearly, HTTP error statuses and rate limiting exponentially. Fatal "
            "statuses (401, 403, 404, 406, 413, 416) are not retried: the source fails. tcp "
            "and unix sources use the network class only. Each `*_initial` must not be above "
            "its `*_max`.",
    .options = reconnect_list,
};

const table_family source_types{
    .name = "source",
    .common = &source_common_options,
    .kinds = kinds,
};

} // namespace sluice::config
