#include "api/service.h"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/render.h"
#include "api/token.h"
#include "base/file.h"
#include "base/host_port.h"

namespace sluice::api {

result<std::unique_ptr<service>> service::start(const config::pipeline_config& cfg,
                                                std::function<void()> wake, std::string& error) {
  std::unique_ptr<service> s(new service());
  s->commands_ = std::make_unique<command_queue>(std::move(wake));
  s->routes_.views = &s->board_;
  s->routes_.commands = s->commands_.get();
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  s->routes_.host = host;
  s->routes_.pid = static_cast<int>(::getpid());
  const auto& a = cfg.api;
  // A file left by an earlier run names addresses nobody may be listening on now.
  s->address_file_ = cfg.data_dir / "api.address";
  std::error_code gone;
  std::filesystem::remove(s->address_file_, gone);
  if (!a.listen.empty()) {
    auto token_file = config::api_token_file(cfg);
    if (!token_file.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(cfg.data_dir, ec);
      auto t = load_or_create_token(token_file, error);
      if (!t)
        return fail(t.error());
      s->routes_.token = *t;
    }
    server_options o;
    o.listen = a.listen;
    o.max_connections = a.max_connections;
    o.max_header_bytes = a.max_header_bytes;
    o.max_body_bytes = a.max_body_bytes;
    o.request_rate = a.request_rate;
    o.idle_timeout = a.idle_timeout;
    o.request_timeout = a.request_timeout;
    auto* ctx = &s->routes_;
    s->server_ =
        std::make_unique<server>(o, [ctx](exchange& ex, std::function<void(response)> reply) {
          handle_request(*ctx, ex, std::move(reply));
        });
    s->routes_.stats = &s->server_->stats();
    auto bound = s->server_->start(error);
    if (!bound && a.listen_default) {
      spdlog::warn("api: {}; running without the API (set [api] listen to choose an address)",
                   error);
      error.clear();
      s->server_.reset();
      s->routes_.stats = nullptr;
    } else if (!bound) {
      return fail(bound.error());
    } else {
      std::string text;
      for (const auto& b : *bound) {
        text += b + "\n";
        spdlog::info("api: listening on {}", address_url(b));
      }
      (void)replace_file(s->address_file_, text.data(), text.size());
      s->addresses_ = *bound;
    }
  }
  if (cfg.graphite) {
    auto hp = parse_host_port(cfg.graphite->address);
    metrics::graphite_reporter::options go;
    go.host = hp->host;
    go.port = hp->port;
    go.prefix = cfg.graphite->prefix;
    go.interval = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.graphite->interval);
    auto* raw = s.get();
    s->graphite_ = std::make_unique<metrics::graphite_reporter>(
        s->graphite_io_, go, [raw]() -> std::vector<metrics::family> {
          auto v = raw->board_.current();
          if (!v)
            return {};
          return families(*v, raw->board_, raw->routes_.stats);
        });
    s->graphite_->start();
    s->graphite_thread_ = std::thread([raw] { raw->graphite_io_.run(); });
    spdlog::info("metrics: sending to Graphite at {} every {} ms", cfg.graphite->address,
                 go.interval.count());
  }
  return s;
}

service::~service() {
  stop();
}

void service::attach(pipeline::runner& r, config::document file, overlay o) {
  control_ = std::make_unique<api::control>(r, std::move(file), std::move(o), board_);
  control_->publish();
  next_publish_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  board_.set_ready(true);
}

void service::tick() {
  if (!control_)
    return;
  commands_->run_pending(*control_);
  auto now = std::chrono::steady_clock::now();
  if (now >= next_publish_) {
    control_->publish();
    next_publish_ = now + std::chrono::seconds(1);
  }
}

void service::draining() {
  board_.set_draining();
  commands_->close();
}

void service::stop() {
  if (graphite_) {
    graphite_->stop();
    graphite_io_.stop();
    if (graphite_thread_.joinable())
      graphite_thread_.join();
    graphite_.reset();
  }
  if (server_) {
    server_->stop();
    std::error_code gone;
    std::filesystem::remove(address_file_, gone);
  }
  if (commands_)
    commands_->close();
}

} // namespace sluice::api
