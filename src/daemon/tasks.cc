#include "daemon/tasks.h"

#include <algorithm>
#include <exception>

#include "base/log.h"
#include "daemon/process.h"

namespace sluice::daemon {

using std::chrono::milliseconds;

// ---- task_schedule ----

task_schedule::task_schedule(const config::task_config& task)
    : sleep_(std::chrono::duration_cast<duration>(task.sleep)),
      min_sleep_(std::chrono::duration_cast<duration>(task.min_sleep)) {
  if (task.timeout)
    timeout_ = std::chrono::duration_cast<duration>(*task.timeout);
}

task_schedule::time_point task_schedule::next_start(time_point scheduler_started) const {
  if (running_)
    return time_point::max();
  if (!last_start_)
    return scheduler_started + sleep_;
  time_point next = *last_start_ + sleep_;
  if (last_end_)
    next = std::max(next, *last_end_ + min_sleep_);
  return next;
}

void task_schedule::started(time_point t) {
  last_start_ = t;
  running_ = true;
}

void task_schedule::ended(time_point t) {
  last_end_ = t;
  running_ = false;
}

std::optional<task_schedule::time_point> task_schedule::deadline() const {
  if (!running_ || !timeout_ || !last_start_)
    return std::nullopt;
  return *last_start_ + *timeout_;
}

// ---- task_runner ----

task_runner::task_runner(std::vector<config::task_config> tasks, task_actions actions,
                         const monotonic_clock& clock, std::filesystem::path exec_output)
    : clock_(clock), actions_(std::move(actions)), exec_output_(std::move(exec_output)) {
  slots_.reserve(tasks.size());
  for (auto& t : tasks) {
    task_schedule schedule(t);
    slots_.push_back(slot{std::move(t), schedule, {}, nullptr});
  }
}

task_runner::~task_runner() {
  stop(std::chrono::steady_clock::now() + k_kill_grace + std::chrono::seconds(1));
}

void task_runner::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable() || stopping_)
    return;
  scheduler_started_ = clock_.now();
  thread_ = std::thread([this] { loop(); });
}

void task_runner::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lk(mu_);
    if (!thread_.joinable())
      return;
    stopping_ = true;
    stop_by_ = deadline;
  }
  cv_.notify_all();
  thread_.join();
}

void task_runner::loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    std::vector<report> reports = collect_finished();
    if (!reports.empty()) {
      lk.unlock();
      deliver(reports);
      lk.lock();
      continue;
    }
    const time_point now = clock_.now();
    const time_point wake = step(now);
    const auto slice = clock_.wait_slice();
    // The earliest due time on the clock, but never more than a slice of real time.
    const auto wait = wake - now < slice ? wake - now : monotonic_clock::duration(slice);
    cv_.wait_for(lk, wait, [this] { return stopping_ || finished_pending_; });
  }
  shut_down(lk);
}

// Starts the runs due at `now`, times out the runs past their deadline; the next time due.
task_runner::time_point task_runner::step(time_point now) {
  time_point wake = time_point::max();
  for (auto& s : slots_) {
    if (!s.run) {
      const time_point next = s.schedule.next_start(scheduler_started_);
      if (now < next) {
        wake = std::min(wake, next);
        continue;
      }
      start_run(s, now);
    }
    const auto deadline = s.schedule.deadline();
    if (!deadline || s.run->timed_out || s.run->finished)
      continue;
    if (now < *deadline) {
      wake = std::min(wake, *deadline);
      continue;
    }
    s.run->timed_out = true;
    s.run->cancel = true;
    ++timed_out_;
    spdlog::warn("task {}: still running after {} ms: stopping it", s.task.name,
                 std::chrono::duration_cast<milliseconds>(now - s.started).count());
  }
  return wake;
}

void task_runner::start_run(slot& s, time_point now) {
  s.schedule.started(now);
  s.started = now;
  s.run = std::make_unique<run_state>();
  ++runs_started_;
  run_state* run = s.run.get();
  const config::task_config* task = &s.task;
  try {
    run->worker = std::thread([this, run, task] {
      std::string status = task->what == config::task_config::kind::exec ? run_exec(*task, *run)
                                                                         : run_drain(*task, *run);
      const time_point ended = clock_.now();
      std::lock_guard lk(mu_);
      run->status = std::move(status);
      run->ended = ended;
      run->finished = true;
      finished_pending_ = true;
      cv_.notify_all();
    });
  } catch (const std::system_error& e) {
    run->status = std::string("failed: cannot start a thread: ") + e.what();
    run->ended = now;
    run->finished = true;
    finished_pending_ = true;
  }
}

std::vector<task_runner::report> task_runner::collect_finished() {
  finished_pending_ = false;
  std::vector<report> reports;
  for (auto& s : slots_) {
    if (!s.run || !s.run->finished)
      continue;
    if (s.run->worker.joinable())
      s.run->worker.join(); // it only has to return: it set `finished` last
    s.schedule.ended(s.run->ended);
    std::string status = s.run->timed_out ? "timeout"
                         : s.run->stopped ? "stopped"
                                          : std::move(s.run->status);
    if (status != "exit 0" && status != "timeout" && status != "stopped") {
      ++failed_;
      spdlog::warn("task {}: {}", s.task.name, status);
    }
    const auto took = std::chrono::duration_cast<milliseconds>(s.run->ended - s.started);
    reports.push_back(report{&s.task, std::move(status), took});
    s.run.reset();
  }
  return reports;
}

void task_runner::deliver(const std::vector<report>& reports) {
  if (!actions_.done)
    return;
  for (const auto& r : reports) {
    try {
      actions_.done(*r.task, r.status, r.duration);
    } catch (const std::exception& e) {
      spdlog::warn("task {}: reporting the run failed: {}", r.task->name, e.what());
    }
  }
}

void task_runner::shut_down(std::unique_lock<std::mutex>& lk) {
  auto all_finished = [this] {
    return std::all_of(slots_.begin(), slots_.end(),
                       [](const slot& s) { return !s.run || s.run->finished; });
  };
  for (auto& s : slots_) {
    if (s.run && !s.run->finished) {
      s.run->stopped = true;
      s.run->cancel = true;
    }
  }
  if (!cv_.wait_until(lk, stop_by_, all_finished)) {
    spdlog::warn("tasks: runs still going at the stop deadline: killing exec runs, waiting for "
                 "drains");
    for (auto& s : slots_)
      if (s.run)
        s.run->hard_kill = true;
    cv_.wait(lk, all_finished);
  }
  std::vector<report> reports = collect_finished();
  lk.unlock();
  deliver(reports);
}

std::string task_runner::run_exec(const config::task_config& task, run_state& run) {
  auto c = child::spawn({.argv = task.argv,
                         .env_extra = {{"SLUICE_TASK", task.name}},
                         .stdout_stderr_to = exec_output_});
  if (!c)
    return "failed: " + c.error().message();
  // Polled in short slices: the cancel flag is an atomic, not something poll() can wait on.
  constexpr milliseconds k_poll{20};
  std::optional<std::chrono::steady_clock::time_point> terminated_at;
  bool killed = false;
  for (;;) {
    if (auto st = c->wait_for(k_poll))
      return describe_status(*st);
    if (run.cancel && !terminated_at) {
      c->terminate();
      terminated_at = std::chrono::steady_clock::now();
    }
    if (terminated_at && !killed &&
        (run.hard_kill || std::chrono::steady_clock::now() - *terminated_at >= k_kill_grace)) {
      spdlog::warn("task {}: pid {} still runs after SIGTERM: killing it", task.name, c->pid());
      c->kill();
      killed = true;
    }
  }
}

std::string task_runner::run_drain(const config::task_config& task, run_state& run) {
  if (!actions_.drain)
    return "failed: no drain action";
  try {
    result<int> r = actions_.drain(task, run.cancel);
    if (!r)
      return "failed: " + r.error().message();
    return "exit " + std::to_string(*r);
  } catch (const std::exception& e) {
    return std::string("failed: ") + e.what();
  }
}

} // namespace sluice::daemon
