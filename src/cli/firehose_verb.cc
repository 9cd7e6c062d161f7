// `sluice firehose`: the fictional stream, over HTTP, TCP, a Unix socket or stdout.

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <pthread.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/host_port.h"
#include "cli/queue_verbs.h"
#include "cli/verbs.h"
#include "firehose/http_request.h"
#include "firehose/pipe_stream.h"
#include "firehose/server.h"

namespace sluice::cli {
namespace {

struct firehose_args {
  std::string listen = "127.0.0.1:4712";
  bool listen_given = false;
  std::string tcp;
  std::string unix_path;
  bool to_stdout = false;
  std::string track;
  std::string follow;
  double keep_alive_s = 30;
  unsigned threads = 1;
  std::vector<std::string> tls; // CERT KEY
  firehose::server_options server;
};

// The --track / --follow filter of the plain listeners and of --stdout.
std::optional<firehose::stream_filter> parse_filter(const firehose_args& a) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!a.track.empty())
    params.emplace_back("track", a.track);
  if (!a.follow.empty())
    params.emplace_back("follow", a.follow);
  auto req = firehose::parse_stream_request(params);
  if (!req)
    return std::nullopt;
  return req->filter;
}

int run_stdout(const firehose_args& a, const firehose::stream_filter& filter) {
  install_stop_handlers();
  firehose::pipe_options o;
  o.stream = a.server.stream;
  o.filter = filter;
  o.rate = a.server.rate;
  o.count = a.server.count;
  auto sent = firehose::write_stream(STDOUT_FILENO, o, [] { return stop_requested(); });
  if (!sent && sent.error() != std::errc::broken_pipe)
    return fail_with("firehose: write stdout", sent.error());
  return 0;
}

// Serves until SIGINT or SIGTERM: the signals are blocked in every thread and taken here.
int run_servers(const firehose_args& a) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); // the server's threads inherit the mask

  firehose::server srv(a.server);
  bool http = a.listen_given || (a.tcp.empty() && a.unix_path.empty());
  if (http) {
    auto hp = parse_host_port(a.listen);
    if (!hp)
      return fail_with("firehose", fmt::format("--listen {}: expected HOST:PORT", a.listen));
    auto port = srv.listen_http(hp->host, hp->port);
    if (!port)
      return fail_with(fmt::format("firehose: listen {}", a.listen), port.error());
    fmt::print("listening on {}:{}\n", hp->host, *port);
  }
  if (!a.tcp.empty()) {
    auto hp = parse_host_port(a.tcp);
    if (!hp)
      return fail_with("firehose", fmt::format("--tcp {}: expected HOST:PORT", a.tcp));
    auto port = srv.listen_tcp(hp->host, hp->port);
    if (!port)
      return fail_with(fmt::format("firehose: listen {}", a.tcp), port.error());
    fmt::print("listening on tcp://{}:{}\n", hp->host, *port);
  }
  if (!a.unix_path.empty()) {
    auto ok = srv.listen_unix(a.unix_path);
    if (!ok)
      return fail_with(fmt::format("firehose: listen {}", a.unix_path), ok.error());
    fmt::print("listening on unix:{}\n", a.unix_path);
  }
  std::fflush(stdout);
  srv.start(a.threads);
  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  spdlog::info("firehose: stopping on signal {}", sig);
  srv.stop();
  return 0;
}

int run_firehose(firehose_args a) {
  auto filter = parse_filter(a);
  if (!filter)
    return fail_with("firehose", "--follow takes comma-separated numeric user ids");
  a.server.keep_alive = std::chrono::milliseconds(static_cast<long long>(a.keep_alive_s * 1000));
  a.server.raw_filter = *filter;
  if (a.tls.size() == 2) {
    a.server.tls_cert = a.tls[0];
    a.server.tls_key = a.tls[1];
  }
  if (a.to_stdout)
    return run_stdout(a, *filter);
  return run_servers(a);
}

} // namespace

void add_firehose_commands(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<firehose_args>();
  auto& s = args->server;
  auto* cmd = root.add_subcommand(
      "firehose",
      "Serve a fictional Twitter-like stream (statuses/filter.json) for demos and tests");
  auto* listen = cmd->add_option("--listen", args->listen,
                                 "HTTP HOST:PORT (port 0: a free one, printed on stdout)")
                     ->capture_default_str();
  cmd->add_option("--tcp", args->tcp, "Also serve plain NDJSON on HOST:PORT");
  cmd->add_option("--unix", args->unix_path, "Also serve plain NDJSON on a Unix socket");
  auto* out = cmd->add_flag("--stdout", args->to_stdout, "Write the stream to stdout instead");
  cmd->add_option("--rate", s.rate, "Events per second per connection (0: as fast as possible)")
      ->capture_default_str();
  cmd->add_option("--count", s.count, "End the stream after this many events (0: endless)")
      ->capture_default_str();
  cmd->add_option("--seed", s.stream.seed, "Seed: the same seed gives the same events")
      ->capture_default_str();
  cmd->add_option("--delete-every", s.stream.delete_every,
                  "A delete notice every N events (0: none)")
      ->capture_default_str();
  cmd->add_option("--limit-every", s.stream.limit_every, "A limit notice every N events (0: none)")
      ->capture_default_str();
  cmd->add_option("--limit-skipped", s.stream.limit_skipped,
                  "Each limit notice adds this many skipped tweets to a count cumulative per "
                  "connection (0: the stream-wide count)")
      ->capture_default_str();
  auto* tls =
      cmd->add_option("--tls", args->tls, "Serve HTTPS with this PEM certificate and private key")
          ->expected(2)
          ->type_name("CERT KEY");
  cmd->add_option("--tls-client-ca", s.tls_client_ca,
                  "Require a client certificate that verifies against the CA certificates in "
                  "this PEM file")
      ->type_name("FILE")
      ->needs(tls);
  cmd->add_flag("--gzip", s.gzip,
                "gzip the stream for clients that accept it (flushed at each batch)");
  auto* basic = cmd->add_option("--require-auth", s.require_basic,
                                "Stream requests need this basic auth (user:pass), else 401");
  cmd->add_option("--require-bearer", s.require_bearer,
                  "Stream requests need this bearer token, else 401")
      ->excludes(basic);
  cmd->add_option("--track", args->track,
                  "Comma-separated terms filtering --tcp, --unix and --stdout (HTTP clients send "
                  "their own)");
  cmd->add_option("--follow", args->follow, "Comma-separated user ids, as --track");
  cmd->add_option("--keep-alive", args->keep_alive_s,
                  "Seconds of silence before a keep-alive newline")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  cmd->add_option("--threads", args->threads, "Server threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  auto* faults = cmd->add_option_group("Faults");
  faults->add_option("--disconnect-every", s.disconnect_every,
                     "Drop each connection after it sent N events");
  faults->add_option("--stall-after", s.stall_after,
                     "Stop sending after N events on a connection, keeping it open");
  auto* status = faults
                     ->add_option("--status", s.status,
                                  "Answer stream requests with this HTTP status (420, 401, 503...)")
                     ->check(CLI::Range(400u, 599u));
  faults
      ->add_option("--status-first", s.status_first,
                   "Only the first K stream requests get --status (default: all)")
      ->needs(status);
  faults
      ->add_option("--retry-after", s.retry_after,
                   "Add Retry-After: S (seconds) to the --status answers")
      ->needs(status);
  faults->add_option("--garbage-every", s.stream.garbage_every,
                     "Every Nth event is a bad line: truncated JSON, invalid UTF-8, over 1 MiB");
  faults->add_flag("--resume", s.resume,
                   "A new connection continues after the last event any connection sent");
  out->excludes(listen);
  cmd->callback([args, listen, &exit_code] {
    firehose_args a = *args;
    a.listen_given = listen->count() > 0;
    if (a.to_stdout && (!a.tcp.empty() || !a.unix_path.empty())) {
      std::fprintf(stderr, "sluice firehose: --stdout excludes --tcp and --unix\n");
      exit_code = 2;
      return;
    }
    exit_code = run_firehose(std::move(a));
  });
}

} // namespace sluice::cli
