// `sluice start | collect | stop | status | running | restart | reload`: the daemon runtime
// around `sluice run` (docs/daemon.md).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <optional>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/server.h"
#include "cli/live_counts.h"
#include "cli/verbs.h"
#include "config/pipeline.h"
#include "daemon/pid_file.h"
#include "daemon/state_file.h"
#include "daemon/supervisor.h"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

struct daemon_args {
  std::string id;
  std::string context = "default";
  std::string conf_dir;
  std::string run_dir;
  std::string log_dir;
  std::string file;
  double timeout_s = 30;
  bool kill = false;
  bool json = false;
};

/// How long `start` waits for the pipeline to become ready.
constexpr auto k_ready_timeout = std::chrono::seconds(120);
constexpr auto k_poll = std::chrono::milliseconds(20);

void add_identity(CLI::App* cmd, daemon_args& a) {
  cmd->add_option("--id", a.id, "The daemon's name (its files are ID-CONTEXT.pid, .log)")
      ->required();
  cmd->add_option("--context", a.context, "A second name, to run one id several times")
      ->capture_default_str();
  cmd->add_option("--conf-dir", a.conf_dir,
                  "Where ID.toml is looked for (default /etc/sluice as root, else "
                  "~/.config/sluice)");
  cmd->add_option("--run-dir", a.run_dir, "Where the pid file goes (overrides [daemon] run_dir)");
  cmd->add_option("--log-dir", a.log_dir, "Where the log goes (overrides [daemon] log_dir)");
  cmd->add_option("-c,--config", a.file, "Configuration file (default: CONF_DIR/ID.toml)");
}

/// The configuration file: -c FILE, else CONF_DIR/ID.toml; absolute.
std::optional<fs::path> config_path(const daemon_args& a, std::string& error) {
  fs::path p;
  if (!a.file.empty()) {
    p = a.file;
  } else {
    fs::path dir = a.conf_dir.empty() ? daemon::default_conf_dir() : fs::path(a.conf_dir);
    p = dir / (a.id + ".toml");
  }
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    error = a.file.empty()
                ? fmt::format("no configuration for \"{}\": {} does not exist (give -c FILE)", a.id,
                              p.string())
                : fmt::format("{} does not exist", p.string());
    return std::nullopt;
  }
  return fs::absolute(p, ec).lexically_normal();
}

/// The paths of a daemon: the command line wins over [daemon], which wins over the defaults.
daemon::daemon_paths paths_of(const daemon_args& a, const config::pipeline_config* cfg,
                              const fs::path& config_file) {
  daemon::daemon_paths p;
  p.id = a.id;
  p.context = a.context;
  p.config_file = config_file;
  std::error_code ec;
  auto pick = [&](const std::string& cli, const fs::path& from_cfg, const fs::path& def) {
    fs::path v = !cli.empty() ? fs::path(cli) : !from_cfg.empty() ? from_cfg : def;
    return fs::absolute(v, ec).lexically_normal();
  };
  p.run_dir = pick(a.run_dir, cfg ? cfg->daemon.run_dir : fs::path(), daemon::default_run_dir());
  p.log_dir = pick(a.log_dir, cfg ? cfg->daemon.log_dir : fs::path(), daemon::default_log_dir());
  p.common_log = cfg && !cfg->daemon.common_log.empty() ? fs::absolute(cfg->daemon.common_log, ec)
                                                        : p.log_dir / "common.log";
  return p;
}

/// The configuration the verb names (or the default file) when it exists and is valid.
std::optional<config::pipeline_config> config_if_any(const daemon_args& a) {
  std::string error;
  auto file = config_path(a, error);
  if (file) {
    try {
      return config::load_pipeline_file(*file);
    } catch (const config::config_exception&) {
    }
  }
  return std::nullopt;
}

/// For the verbs that only find a daemon (stop, status, reload): the configuration is read when
/// there is one, for its [daemon] directories; a missing or invalid file falls back to the
/// command line and the defaults.
daemon::daemon_paths find_paths(const daemon_args& a) {
  std::string error;
  auto file = config_path(a, error);
  auto cfg = config_if_any(a);
  return paths_of(a, cfg ? &*cfg : nullptr, file.value_or(fs::path()));
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string duration_text(std::int64_t s) {
  if (s < 60)
    return fmt::format("{}s", s);
  if (s < 3600)
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400)
    return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
  return fmt::format("{}d{:02}h", s / 86400, (s / 3600) % 24);
}

// ---- start ---------------------------------------------------------------------------------

/// The supervisor side of the double fork: never returns.
[[noreturn]] void become_supervisor(const daemon::daemon_paths& paths,
                                    const config::pipeline_config& cfg, int start_fd) {
  ::umask(027);
  // Its own process group (the pipeline joins it), so that `stop --kill` ends both at once.
  ::setpgid(0, 0);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::close(null_fd);
  }
  int log = ::open(paths.log_file().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log < 0) {
    auto line = fmt::format("fail {} cannot open the log {}: {}\n", k_exit_failure,
                            paths.log_file().string(), std::strerror(errno));
    (void)::write(start_fd, line.data(), line.size());
    ::_exit(k_exit_failure);
  }
  ::fchmod(log, 0640);
  ::dup2(log, STDOUT_FILENO);
  ::dup2(log, STDERR_FILENO);
  ::close(log);

  int holder = 0;
  bool stale = false;
  auto pid = daemon::pid_file::acquire(paths.pid_file(), &holder, &stale);
  if (!pid) {
    auto line = holder > 0
                    ? fmt::format("fail {} {} is already running (pid {})\n", k_exit_failure,
                                  paths.instance(), holder)
                    : fmt::format("fail {} cannot take the pid file {}: {}\n", k_exit_failure,
                                  paths.pid_file().string(), pid.error().message());
    (void)::write(start_fd, line.data(), line.size());
    ::_exit(k_exit_failure);
  }
  if (stale)
    spdlog::warn("took over the stale pid file {} (its process is gone)",
                 paths.pid_file().string());
  daemon::supervisor_options so;
  so.paths = paths;
  so.daemon = cfg.daemon;
  so.hooks = cfg.hooks;
  std::error_code ec;
  so.exe = fs::read_symlink("/proc/self/exe", ec);
  so.start_fd = start_fd;
  int status = daemon::run_supervisor(so);
  std::error_code rm;
  fs::remove(paths.info_file(), rm);
  // The pipeline removes it at its clean exit; one that was killed left it behind.
  fs::remove(paths.sources_file(), rm);
  pid->release();
  std::fflush(nullptr);
  ::_exit(status);
}

int start_daemon(const daemon_args& a) {
  std::string error;
  auto file = config_path(a, error);
  if (!file) {
    fmt::print(stderr, "sluice start: {}\n", error);
    return k_exit_config;
  }
  config::pipeline_config cfg;
  try {
    cfg = config::load_pipeline_file(*file);
  } catch (const config::config_exception& e) {
    fmt::print(stderr, "{}; nothing started\n", config::format_report(e.errors(), e.name()));
    return k_exit_config;
  }
  auto paths = paths_of(a, &cfg, *file);
  std::error_code ec;
  fs::create_directories(paths.run_dir, ec);
  if (ec) {
    fmt::print(stderr, "sluice start: cannot create the run directory {}: {}\n",
               paths.run_dir.string(), ec.message());
    return k_exit_failure;
  }
  fs::create_directories(paths.log_dir, ec);
  if (ec) {
    fmt::print(stderr, "sluice start: cannot create the log directory {}: {}\n",
               paths.log_dir.string(), ec.message());
    return k_exit_failure;
  }
  fs::permissions(paths.log_dir, fs::perms::others_all, fs::perm_options::remove, ec);
  bool stale = false;
  if (auto live = daemon::read_live_pid(paths.pid_file(), &stale)) {
    fmt::print(stderr, "sluice start: {} is already running (pid {})\n", paths.instance(), *live);
    return k_exit_failure;
  }

  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    fmt::print(stderr, "sluice start: pipe: {}\n", std::strerror(errno));
    return k_exit_failure;
  }
  std::fflush(nullptr);
  pid_t first = ::fork();
  if (first < 0) {
    fmt::print(stderr, "sluice start: fork: {}\n", std::strerror(errno));
    return k_exit_failure;
  }
  if (first == 0) {
    ::close(p[0]);
    ::setsid();
    pid_t second = ::fork();
    if (second != 0)
      ::_exit(second < 0 ? k_exit_failure : 0);
    become_supervisor(paths, cfg, p[1]);
  }
  ::close(p[1]);
  int raw = 0;
  ::waitpid(first, &raw, 0);

  std::string got;
  auto deadline = steady::now() + k_ready_timeout;
  while (got.find('\n') == std::string::npos && steady::now() < deadline) {
    pollfd pf{p[0], POLLIN, 0};
    int n = ::poll(&pf, 1, 200);
    if (n < 0 && errno != EINTR)
      break;
    if (n <= 0)
      continue;
    char buf[512];
    ssize_t r = ::read(p[0], buf, sizeof buf);
    if (r <= 0)
      break;
    got.append(buf, static_cast<std::size_t>(r));
  }
  ::close(p[0]);
  auto line = got.substr(0, got.find('\n'));
  if (line.starts_with("ready ")) {
    fmt::print("sluice start: {} running (pid {}, log {})\n", paths.instance(), line.substr(6),
               paths.log_file().string());
    return 0;
  }
  if (line.starts_with("fail ")) {
    auto rest = line.substr(5);
    auto sp = rest.find(' ');
    int code = std::atoi(rest.substr(0, sp).c_str());
    fmt::print(stderr, "sluice start: {} did not start: {} (see {})\n", paths.instance(),
               sp == std::string::npos ? rest : rest.substr(sp + 1), paths.log_file().string());
    return code > 0 ? code : k_exit_failure;
  }
  fmt::print(stderr, "sluice start: {} did not report ready within {} s (see {})\n",
             paths.instance(),
             std::chrono::duration_cast<std::chrono::seconds>(k_ready_timeout).count(),
             paths.log_file().string());
  return k_exit_failure;
}

// ---- stop, status, reload ----------------------------------------------------------------

/// Waits until nobody holds the pid file; false at the deadline.
bool wait_gone(const fs::path& pid_file, steady::time_point deadline) {
  for (;;) {
    bool stale = false;
    if (!daemon::read_live_pid(pid_file, &stale))
      return true;
    if (steady::now() >= deadline)
      return false;
    std::this_thread::sleep_for(k_poll);
  }
}

int stop_daemon(const daemon_args& a) {
  auto paths = find_paths(a);
  bool stale = false;
  auto pid = daemon::read_live_pid(paths.pid_file(), &stale);
  if (!pid) {
    fmt::print("sluice stop: {} is not running{}\n", paths.instance(),
               stale ? " (a stale pid file is left)" : "");
    return 0;
  }
  if (::kill(*pid, SIGTERM) != 0) {
    fmt::print(stderr, "sluice stop: cannot signal pid {}: {}\n", *pid, std::strerror(errno));
    return k_exit_failure;
  }
  auto timeout = std::chrono::duration<double>(a.timeout_s);
  if (wait_gone(paths.pid_file(),
                steady::now() + std::chrono::duration_cast<steady::duration>(timeout))) {
    fmt::print("sluice stop: {} stopped (pid {})\n", paths.instance(), *pid);
    return 0;
  }
  if (!a.kill) {
    fmt::print(stderr,
               "sluice stop: {} (pid {}) is still running after {} s; it may be finishing a "
               "batch against a slow sink (see {}); --kill ends it at once\n",
               paths.instance(), *pid, a.timeout_s, paths.log_file().string());
    return k_exit_failure;
  }
  // The supervisor leads its own session and process group: KILL the whole group.
  ::kill(-*pid, SIGKILL);
  ::kill(*pid, SIGKILL);
  if (wait_gone(paths.pid_file(), steady::now() + std::chrono::seconds(5))) {
    fmt::print("sluice stop: {} killed (pid {})\n", paths.instance(), *pid);
    return 0;
  }
  fmt::print(stderr, "sluice stop: {} (pid {}) survived KILL\n", paths.instance(), *pid);
  return k_exit_failure;
}

/// The sources' states of the running pipeline `child` (0: not known), when its state file is
/// there and was written by a pipeline that is still alive: one left by a pipeline that crashed
/// (and is waiting to be started again) says nothing about the next one.
std::optional<daemon::source_states> current_sources(const daemon::daemon_paths& paths, int child) {
  auto st = daemon::read_source_states(paths.sources_file());
  if (!st || st->pid <= 0 || (child > 0 && st->pid != child))
    return std::nullopt;
  if (::kill(st->pid, 0) != 0 && errno != EPERM)
    return std::nullopt;
  return st;
}

/// "sources: firehose connected, backup failed (HTTP 401 from URL: check auth)"; the reason is
/// given for a source that failed or is waiting to reconnect.
std::string sources_text(const std::vector<daemon::source_entry>& sources) {
  std::string line = "sources:";
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const auto& s = sources[i];
    line += fmt::format("{} {} {}", i == 0 ? "" : ",", s.name, s.state);
    if ((s.state == "failed" || s.state == "backing_off") && !s.last_error.empty())
      line += fmt::format(" ({})", s.last_error);
  }
  if (sources.empty())
    line += " none";
  return line;
}

/// LSB: 0 running, 1 dead with a pid file left, 3 not running. A source that failed does not
/// change the status (the daemon runs); the human output says so on a line of its own.
int status_daemon(const daemon_args& a) {
  auto paths = find_paths(a);
  bool stale = false;
  auto pid = daemon::read_live_pid(paths.pid_file(), &stale);
  nlohmann::json info;
  try {
    info = nlohmann::json::parse(read_text(paths.info_file()));
  } catch (const nlohmann::json::exception&) {
  }
  if (!info.is_object())
    info = nlohmann::json::object();
  std::string config_file = info.value("config", paths.config_file.string());
  if (pid) {
    auto started = info.value("started_at", std::int64_t{0});
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    auto up = started > 0 ? now - started : 0;
    int child = info.value("child", 0);
    auto sources = current_sources(paths, child);
    // The counts (rejections by reason, drops at the cap, ...) come from the pipeline's API.
    auto cfg = sources ? config_if_any(a) : std::nullopt;
    auto meta = sources ? fetch_meta(sources->api, cfg ? &*cfg : nullptr) : std::nullopt;
    if (a.json) {
      auto j = nlohmann::json{{"id", paths.id},        {"context", paths.context},
                              {"state", "running"},    {"pid", *pid},
                              {"child", child},        {"uptime_s", up},
                              {"config", config_file}, {"log", paths.log_file().string()}};
      if (sources) {
        auto& list = j["sources"] = nlohmann::json::array();
        for (const auto& s : sources->sources) {
          list.push_back({{"name", s.name},
                          {"type", s.type},
                          {"state", s.state},
                          {"last_error", s.last_error}});
          if (meta && meta->contains("sources") && (*meta)["sources"].is_array())
            for (const auto& m : (*meta)["sources"])
              if (m.is_object() && m.value("name", std::string()) == s.name && m.contains("counts"))
                list.back()["counts"] = m["counts"];
        }
        j["api"] = sources->api;
      }
      fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return 0;
    }
    fmt::print("{} is running: pid {} (pipeline {}), up {}, context {}, config {}\n",
               paths.instance(), *pid, child, duration_text(up), paths.context, config_file);
    if (sources) {
      fmt::print("{}\n{}", sources_text(sources->sources), meta ? source_counts_text(*meta) : "");
      std::string api;
      for (const auto& address : sources->api)
        api += (api.empty() ? "" : ", ") + sluice::api::address_url(address);
      fmt::print("api: {}\n", api.empty() ? "none" : api);
      auto failed = std::count_if(sources->sources.begin(), sources->sources.end(),
                                  [](const auto& s) { return s.state == "failed"; });
      if (failed > 0)
        fmt::print("WARNING: {} of {} sources failed and will not retry; the daemon runs on "
                   "without {} (see {})\n",
                   failed, sources->sources.size(), failed == 1 ? "it" : "them",
                   paths.log_file().string());
    }
    return 0;
  }
  if (stale) {
    auto text = read_text(paths.pid_file());
    int old = std::atoi(text.c_str());
    if (a.json)
      fmt::print("{}\n", nlohmann::json{{"id", paths.id},
                                        {"context", paths.context},
                                        {"state", "dead"},
                                        {"pid", old},
                                        {"pid_file", paths.pid_file().string()}}
                             .dump());
    else
      fmt::print("{} is dead: its pid file {} names pid {}, which is gone\n", paths.instance(),
                 paths.pid_file().string(), old);
    return 1;
  }
  if (a.json)
    fmt::print(
        "{}\n",
        nlohmann::json{{"id", paths.id}, {"context", paths.context}, {"state", "stopped"}}.dump());
  else
    fmt::print("{} is not running\n", paths.instance());
  return 3;
}

int reload_daemon(const daemon_args& a) {
  auto paths = find_paths(a);
  bool stale = false;
  auto pid = daemon::read_live_pid(paths.pid_file(), &stale);
  if (!pid) {
    fmt::print(stderr, "sluice reload: {} is not running\n", paths.instance());
    return 3;
  }
  // Checked here first, so that the errors reach whoever asked; the daemon checks again.
  if (!paths.config_file.empty()) {
    try {
      (void)config::load_pipeline_file(paths.config_file);
    } catch (const config::config_exception& e) {
      fmt::print(stderr, "{}; {} keeps running on its previous configuration\n",
                 config::format_report(e.errors(), e.name()), paths.instance());
      return k_exit_config;
    }
  }
  if (::kill(*pid, SIGHUP) != 0) {
    fmt::print(stderr, "sluice reload: cannot signal pid {}: {}\n", *pid, std::strerror(errno));
    return k_exit_failure;
  }
  fmt::print("sluice reload: {} (pid {}) rereads {}\n", paths.instance(), *pid,
             paths.config_file.string());
  return 0;
}

CLI::App* add_start(CLI::App& root, const std::string& name, const std::string& help,
                    const std::shared_ptr<daemon_args>& a, int& exit_code) {
  auto* cmd = root.add_subcommand(name, help);
  add_identity(cmd, *a);
  cmd->footer("Exit status: 0 once the pipeline runs; 1 when it failed or the daemon already "
              "runs (the message names its pid); 75 when another process holds the queue; 78 "
              "for an invalid configuration.");
  cmd->callback([a, &exit_code] { exit_code = start_daemon(*a); });
  return cmd;
}

} // namespace

void add_daemon_commands(CLI::App& root, int& exit_code) {
  auto start = std::make_shared<daemon_args>();
  add_start(root, "start", "Start the pipeline as a supervised daemon (docs/daemon.md)", start,
            exit_code);
  auto collect = std::make_shared<daemon_args>();
  add_start(root, "collect", "The same as start", collect, exit_code);

  auto stop = std::make_shared<daemon_args>();
  auto* s = root.add_subcommand("stop", "Stop a daemon: TERM, then wait for its clean exit");
  add_identity(s, *stop);
  s->add_option("--timeout", stop->timeout_s, "Seconds to wait")->capture_default_str();
  s->add_flag("--kill", stop->kill, "After the timeout, KILL it");
  s->callback([stop, &exit_code] { exit_code = stop_daemon(*stop); });

  for (const char* name : {"status", "running"}) {
    auto st = std::make_shared<daemon_args>();
    auto* c = root.add_subcommand(name, "Whether a daemon runs (LSB: 0 running, 1 dead with a "
                                        "pid file left, 3 not running)");
    add_identity(c, *st);
    c->add_flag("--json", st->json, "One JSON object");
    c->callback([st, &exit_code] { exit_code = status_daemon(*st); });
  }

  auto restart = std::make_shared<daemon_args>();
  auto* r = root.add_subcommand("restart", "stop, then start");
  add_identity(r, *restart);
  r->add_option("--timeout", restart->timeout_s, "Seconds the stop may take")
      ->capture_default_str();
  r->add_flag("--kill", restart->kill, "After the timeout, KILL it");
  r->callback([restart, &exit_code] {
    int st = stop_daemon(*restart);
    exit_code = st != 0 ? st : start_daemon(*restart);
  });

  auto reload = std::make_shared<daemon_args>();
  auto* rl = root.add_subcommand(
      "reload", "Make a daemon reread its configuration (HUP); an invalid file is refused");
  add_identity(rl, *reload);
  rl->callback([reload, &exit_code] { exit_code = reload_daemon(*reload); });
}

} // namespace sluice::cli
