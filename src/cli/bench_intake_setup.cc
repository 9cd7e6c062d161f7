#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/bench_intake.h"
#include "cli/bench_run.h"
#include "config/tables.h"

namespace sluice::cli::intake_bench {
namespace {
using bench::checked;
using bench::failure;
} // namespace

checked<void> start_firehoses(const fs::path& dir, const intake_request& req, std::uint64_t lines,
                              std::uint64_t rate, generator& g) {
  for (unsigned c = 0; c < req.connections; ++c) {
    firehose::server_options fo;
    fo.count = lines / req.connections + (c == 0 ? lines % req.connections : 0);
    fo.rate = rate / req.connections;
    fo.resume = true; // the source's reconnect after the end gets nothing more
    fo.gzip = req.gzip;
    auto fh = std::make_unique<firehose::server>(fo);
    bench::push_target at{.host = "127.0.0.1"};
    if (req.source == "unix") {
      at.unix_path = (dir / fmt::format("firehose-{}.sock", c)).string();
      if (auto r = fh->listen_unix(at.unix_path); !r)
        return failure("firehose: listen: " + r.error().message());
    } else {
      auto port =
          req.source == "http" ? fh->listen_http("127.0.0.1", 0) : fh->listen_tcp("127.0.0.1", 0);
      if (!port)
        return failure("firehose: listen: " + port.error().message());
      at.port = *port;
    }
    g.firehoses.push_back(std::move(fh));
    g.pulled.push_back(at);
  }
  return {};
}

namespace {
/// The settings of a pull-type run's source `name`, reading the firehose at `at`.
config::option_values pull_settings(const intake_request& req, const std::string& name,
                                    const bench::push_target& at) {
  auto reconnect = bench::slow_reconnect(name);
  if (req.source == "unix")
    return config::option_values::make(config::source_types, "unix", name,
                                       {{"address", at.unix_path}, {"reconnect", reconnect}});
  if (req.source == "http")
    return config::option_values::make(
        config::source_types, "http", name,
        {{"url", fmt::format("http://127.0.0.1:{}{}", at.port, k_http_path)},
         {"gzip", req.gzip},
         {"reconnect", reconnect}});
  return config::option_values::make(
      config::source_types, "tcp", name,
      {{"address", fmt::format("127.0.0.1:{}", at.port)}, {"reconnect", reconnect}});
}

} // namespace

config::pipeline_config make_config(const fs::path& dir, const intake_request& req,
                                    const generator& g) {
  config::pipeline_config cfg;
  cfg.data_dir = dir / "data";
  cfg.queue.fsync = bench::k_group_commit;
  auto add_source = [&](std::string name, config::option_values settings) {
    config::source_config src;
    src.name = std::move(name);
    src.format = req.format == "lines" ? config::record_format::lines : config::record_format::json;
    src.settings = std::move(settings);
    cfg.sources.push_back(std::move(src));
  };
  if (req.source == "stdin") {
    add_source("bench", config::option_values::make(config::source_types, "stdin", "bench", {}));
  } else if (req.pushed()) {
    std::string at = req.source == "listen-unix" ? "unix:" + g.push.unix_path
                                                 : fmt::format("tcp://127.0.0.1:{}", g.push.port);
    add_source("bench", config::option_values::make(config::source_types, "listen", "bench",
                                                    {{"listen", std::vector<std::string>{at}}}));
  } else {
    for (std::size_t c = 0; c < g.pulled.size(); ++c) {
      std::string name = fmt::format("bench{}", c);
      add_source(name, pull_settings(req, name, g.pulled[c]));
    }
  }
  if (req.has_sink()) {
    config::subscription_config sub;
    sub.name = "bench";
    sub.batch = bench::k_subscription_batch;
    sub.sink = config::option_values::make(config::sink_types, "eventlog", sub.name,
                                           {{"dir", (dir / "eventlog").string()}});
    cfg.subscriptions.push_back(std::move(sub));
  }
  return cfg;
}

checked<void> stdin_pipe::open() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    return failure("pipe: " + std::string(std::strerror(errno)));
  ::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  saved_ = ::dup(0);
  ::dup2(p[0], 0);
  ::close(p[0]);
  write_ = p[1];
  return {};
}

void stdin_pipe::restore() {
  if (saved_ >= 0) {
    ::dup2(saved_, 0);
    ::close(saved_);
    saved_ = -1;
  }
}

} // namespace sluice::cli::intake_bench
