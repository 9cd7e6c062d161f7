#include "daemon/hooks.h"

#include "base/log.h"
#include "daemon/process.h"

namespace sluice::daemon {

using std::chrono::milliseconds;

hook_runner::hook_runner(config::hooks_config cfg, std::string id, std::string context,
                         std::filesystem::path output)
    : cfg_(std::move(cfg)), id_(std::move(id)), context_(std::move(context)),
      output_(std::move(output)), thread_([this] { loop(); }) {}

hook_runner::~hook_runner() {
  std::size_t left = 0;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    left = queue_.size();
    queue_.clear();
  }
  cv_.notify_all();
  if (left > 0) {
    dropped_ += left;
    spdlog::warn("hooks: {} hook(s) not run at shutdown", left);
  }
  thread_.join();
}

const std::string& hook_runner::command_of(std::string_view event) const noexcept {
  static const std::string none;
  if (event == "start")
    return cfg_.on_start;
  if (event == "task_done")
    return cfg_.on_task_done;
  if (event == "stop")
    return cfg_.on_stop;
  if (event == "crash")
    return cfg_.on_crash;
  return none;
}

void hook_runner::fire(std::string_view event,
                       std::vector<std::pair<std::string, std::string>> vars) {
  if (event != "start" && event != "task_done" && event != "stop" && event != "crash") {
    SLUICE_WARN_LIMITED("hooks: unknown event \"{}\" ignored", event);
    return;
  }
  const std::string& command = command_of(event);
  if (command.empty())
    return;
  {
    std::lock_guard lk(mu_);
    if (!stopping_ && queue_.size() < k_max_queued) {
      queue_.push_back(job{std::string(event), command, std::move(vars)});
      cv_.notify_all();
      return;
    }
  }
  ++dropped_;
  SLUICE_WARN_LIMITED("hooks: {} hooks already waiting, the {} hook is dropped ({} dropped so far)",
                      k_max_queued, event, dropped_.load());
}

bool hook_runner::wait_idle(milliseconds timeout) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [this] { return queue_.empty() && !running_; });
}

void hook_runner::loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) // and so stopping_
      return;
    job j = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    lk.unlock();
    run(j);
    lk.lock();
    running_ = false;
    cv_.notify_all(); // wait_idle
  }
}

void hook_runner::run(const job& j) {
  std::vector<std::pair<std::string, std::string>> env = {
      {"SLUICE_ID", id_}, {"SLUICE_CONTEXT", context_}, {"SLUICE_EVENT", j.event}};
  env.insert(env.end(), j.vars.begin(), j.vars.end());
  auto c = child::spawn({.argv = {"/bin/sh", "-c", j.command},
                         .env_extra = std::move(env),
                         .stdout_stderr_to = output_});
  if (!c) {
    ++failed_;
    SLUICE_WARN_LIMITED("hooks: cannot start the {} hook: {}", j.event, c.error().message());
    return;
  }
  const auto timeout = std::chrono::ceil<milliseconds>(cfg_.timeout);
  std::optional<int> status = c->wait_for(timeout);
  if (!status) {
    ++timed_out_;
    spdlog::warn("hooks: the {} hook (pid {}) still runs after {} ms: terminating it", j.event,
                 c->pid(), timeout.count());
    c->terminate();
    if (!c->wait_for(k_kill_grace)) {
      spdlog::warn("hooks: the {} hook (pid {}) ignored SIGTERM: killing it", j.event, c->pid());
      c->kill();
    }
    return; // the destructor of `c` reaps it
  }
  if (*status != 0) {
    ++failed_;
    SLUICE_WARN_LIMITED("hooks: the {} hook failed: {}", j.event, describe_status(*status));
  }
}

} // namespace sluice::daemon
