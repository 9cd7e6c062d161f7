// `sluice start | stop | status` as a user runs them (docs/daemon.md): the pid file and the
// common log, instances side by side, a second start refused, a daemon that does not stop, a
// stale pid file, an invalid configuration, and a failed source in `sluice status`.

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <signal.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unordered_map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "daemon_fixture.h"
#include "support/eventually.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(daemon_test, start_status_stop_write_the_pid_file_and_the_common_log) {
  auto d = daemon();
  simple_config(d);
  daemon_guard guard(d);

  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());
  ASSERT_GT(pid, 0) << file_text(d.pid_file());
  auto p = std::to_string(pid);
  EXPECT_EQ(file_text(d.pid_file()), p + "\n");
  EXPECT_EQ(start.out,
            "sluice start: t-default running (pid " + p + ", log " + d.log_file().string() + ")\n");
  EXPECT_EQ(::kill(pid, 0), 0) << std::strerror(errno);

  auto status = sluice(d.args("status"));
  EXPECT_EQ(status.status, 0) << status.out << status.err;
  EXPECT_TRUE(status.out.starts_with("t-default is running: pid " + p + " (pipeline "))
      << status.out;

  auto json = sluice(d.args("status", {"--json"}));
  EXPECT_EQ(json.status, 0) << json.out << json.err;
  auto j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << json.out;
  EXPECT_EQ(j.value("state", ""), "running") << json.out;
  EXPECT_EQ(j.value("pid", 0), pid) << json.out;

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
  EXPECT_EQ(stop.out, "sluice stop: t-default stopped (pid " + p + ")\n");
  EXPECT_FALSE(fs::exists(d.pid_file()));

  auto after = sluice(d.args("status"));
  EXPECT_EQ(after.status, 3) << after.out << after.err;
  EXPECT_EQ(after.out, "t-default is not running\n");

  EXPECT_EQ(joined(common_events(d.common_log())),
            "t-default start pid=" + p + " config=" + d.config.string() + "\n" +
                "t-default stop pid=" + p + " signal=TERM\n");
}

TEST_F(daemon_test, two_contexts_of_one_id_run_side_by_side) {
  auto a = daemon("a", "a");
  auto b = daemon("b", "b");
  simple_config(a, "data-a");
  simple_config(b, "data-b");
  daemon_guard guard_a(a);
  daemon_guard guard_b(b);

  auto start_a = sluice(a.args("start"));
  ASSERT_EQ(start_a.status, 0) << start_a.out << start_a.err << tail_of(a.log());
  auto start_b = sluice(b.args("start"));
  ASSERT_EQ(start_b.status, 0) << start_b.out << start_b.err << tail_of(b.log());
  EXPECT_EQ(a.pid_file(), root_ / "run" / "t-a.pid");
  EXPECT_EQ(b.pid_file(), root_ / "run" / "t-b.pid");
  int pid_a = pid_in(a.pid_file());
  int pid_b = pid_in(b.pid_file());
  EXPECT_GT(pid_a, 0);
  EXPECT_GT(pid_b, 0);
  EXPECT_NE(pid_a, pid_b);
  EXPECT_EQ(::kill(pid_a, 0), 0);
  EXPECT_EQ(::kill(pid_b, 0), 0);
  EXPECT_EQ(sluice(a.args("status")).status, 0);
  EXPECT_EQ(sluice(b.args("status")).status, 0);

  auto stop_a = sluice(a.args("stop"));
  EXPECT_EQ(stop_a.status, 0) << stop_a.out << stop_a.err;
  EXPECT_EQ(stop_a.out, "sluice stop: t-a stopped (pid " + std::to_string(pid_a) + ")\n");
  auto stop_b = sluice(b.args("stop"));
  EXPECT_EQ(stop_b.status, 0) << stop_b.out << stop_b.err;
  EXPECT_EQ(stop_b.out, "sluice stop: t-b stopped (pid " + std::to_string(pid_b) + ")\n");
  EXPECT_FALSE(fs::exists(a.pid_file()));
  EXPECT_FALSE(fs::exists(b.pid_file()));
}

TEST_F(daemon_test, a_second_start_of_the_same_instance_is_refused_with_its_pid) {
  auto d = daemon();
  simple_config(d);
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());

  auto again = sluice(d.args("start"));
  EXPECT_EQ(again.status, 1) << again.out << again.err;
  EXPECT_NE(again.err.find("t-default is already running (pid " + std::to_string(pid) + ")"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(pid_in(d.pid_file()), pid);
  EXPECT_EQ(::kill(pid, 0), 0);
}

// A pipeline that does not stop (frozen with SIGSTOP): stop says so after its timeout and exits
// 1; stop --kill then ends the whole process group.
TEST_F(daemon_test, stop_reports_a_daemon_that_does_not_stop_and_kill_ends_it) {
  auto d = daemon();
  simple_config(d);
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  int pid = pid_in(d.pid_file());
  int child = child_in(d.info_file());
  ASSERT_GT(child, 0);
  ASSERT_EQ(::kill(child, SIGSTOP), 0);

  auto stop = sluice(d.args("stop", {"--timeout", "1"}));
  EXPECT_EQ(stop.status, 1) << stop.out << stop.err;
  EXPECT_NE(stop.err.find("sluice stop: t-default (pid " + std::to_string(pid) +
                          ") is still running after 1 s"),
            std::string::npos)
      << stop.err;
  EXPECT_EQ(::kill(pid, 0), 0);

  auto kill = sluice(d.args("stop", {"--timeout", "1", "--kill"}));
  EXPECT_EQ(kill.status, 0) << kill.out << kill.err;
  EXPECT_EQ(kill.out, "sluice stop: t-default killed (pid " + std::to_string(pid) + ")\n");
  // Gone, or a zombie nobody reaps (its parent, the supervisor, was killed with it).
  auto dead = [](int p) {
    if (::kill(p, 0) != 0)
      return true;
    auto stat = file_text("/proc/" + std::to_string(p) + "/stat");
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
  };
  EXPECT_TRUE(eventually(std::chrono::seconds(30), [&] { return dead(child) && dead(pid); }));
  auto status = sluice(d.args("status"));
  EXPECT_NE(status.status, 0) << status.out;
}

TEST_F(daemon_test, a_stale_pid_file_is_taken_over) {
  auto d = daemon();
  simple_config(d);
  daemon_guard guard(d);
  pid_t gone = ::fork();
  ASSERT_GE(gone, 0) << std::strerror(errno);
  if (gone == 0)
    ::_exit(0);
  int raw = 0;
  ASSERT_EQ(::waitpid(gone, &raw, 0), gone);
  fs::create_directories(d.run_dir);
  std::ofstream(d.pid_file()) << gone << "\n";

  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  EXPECT_NE(d.log().find("took over the stale pid file"), std::string::npos) << tail_of(d.log());
  int pid = pid_in(d.pid_file());
  EXPECT_GT(pid, 0);
  EXPECT_NE(pid, gone);
  EXPECT_EQ(sluice(d.args("status")).status, 0);
}

TEST_F(daemon_test, an_invalid_configuration_starts_nothing) {
  auto d = daemon();
  std::ofstream(d.config) << "data_dir = " << toml_string((root_ / "data").string()) << "\n"
                          << "[queue]\nfsync = \"sometimes\"\n";
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  EXPECT_EQ(start.status, 78) << start.out << start.err;
  EXPECT_NE(start.err.find("queue.fsync (line 3)"), std::string::npos) << start.err;
  EXPECT_FALSE(fs::exists(d.pid_file()));
  EXPECT_FALSE(fs::exists(root_ / "data"));
}

// A source that fails while the daemon runs (an http source answered 401) shows in `sluice
// status`: failed with its reason in --json and in the human output, while the exit status stays
// 0 (the daemon runs); the pipeline's state file RUN/t-default.sources.json is gone after stop.
TEST_F(daemon_test, status_shows_a_failed_source_with_its_reason) {
  child_process fh({"firehose", "--listen", "127.0.0.1:0", "--status", "401"},
                   child_stdio{.pipe_stdin = false, .pipe_stdout = true, .log = root_ / "fh.log"});
  auto listening = fh.read_line(steady::now() + 10s);
  const std::string prefix = "listening on 127.0.0.1:";
  ASSERT_TRUE(listening && listening->starts_with(prefix)) << fh.log();
  const std::string url =
      "http://127.0.0.1:" + listening->substr(prefix.size()) + "/1.1/statuses/filter.json";
  auto d = daemon();
  const auto api_socket = "unix:" + (root_ / "api.sock").string();
  write_config(d.config, "data",
               listen_source() + "\n[sources.backup]\ntype = \"http\"\nurl = " + toml_string(url) +
                   "\n",
               {{"events", ""}}, "[api]\nlisten = [" + toml_string(api_socket) + "]\n");
  daemon_guard guard(d);
  auto start = sluice(d.args("start"));
  ASSERT_EQ(start.status, 0) << start.out << start.err << tail_of(d.log());
  const auto sources_file = d.run_dir / "t-default.sources.json";

  // What --json says of each source, by name.
  std::unordered_map<std::string, nlohmann::json> by_name;
  run_result json;
  bool failed = eventually(k_wait, [&] {
    json = sluice(d.args("status", {"--json"}));
    by_name.clear();
    auto j = nlohmann::json::parse(json.out, nullptr, false);
    if (json.status != 0 || !j.is_object() || !j.contains("sources") || !j["sources"].is_array())
      return false;
    for (const auto& s : j["sources"])
      by_name[s.value("name", "")] = s;
    // The state comes from the daemon's state file, the counts from the API's view, which
    // catches up within its refresh: wait for both.
    return by_name.count("backup") == 1 && by_name["backup"].value("state", "") == "failed" &&
           by_name["backup"].contains("counts") &&
           by_name["backup"]["counts"].value("disconnects_fatal", 0) > 0;
  });
  ASSERT_TRUE(failed) << json.status << " " << json.out << json.err << tail_of(d.log());
  EXPECT_EQ(json.status, 0);
  ASSERT_EQ(by_name.size(), 2u) << json.out;
  EXPECT_EQ(by_name["backup"].value("type", ""), "http") << json.out;
  auto why = by_name["backup"].value("last_error", "");
  EXPECT_TRUE(why.starts_with("HTTP 401 from " + url)) << json.out;
  EXPECT_EQ(by_name["push"].value("type", ""), "listen") << json.out;
  EXPECT_EQ(by_name["push"].value("state", ""), "connected") << json.out;
  EXPECT_EQ(by_name["push"].value("last_error", "x"), "") << json.out;
  EXPECT_EQ(nlohmann::json::parse(json.out)["api"], nlohmann::json::array({api_socket}))
      << json.out;
  // The counts come from the pipeline's API: one refused connection, which ended the source.
  ASSERT_TRUE(by_name["backup"].contains("counts")) << json.out;
  EXPECT_EQ(by_name["backup"]["counts"].value("connect_failures", 0), 1) << json.out;
  EXPECT_EQ(by_name["backup"]["counts"].value("disconnects_fatal", 0), 1) << json.out;
  EXPECT_EQ(by_name["push"]["counts"].value("events", 1), 0) << json.out;

  // The human output names it with its reason, and warns; `running` is the same verb.
  for (const char* verb : {"status", "running"}) {
    auto human = sluice(d.args(verb));
    EXPECT_EQ(human.status, 0) << verb << ": " << human.out << human.err;
    auto lines = lines_of(human.out);
    ASSERT_EQ(lines.size(), 5u) << verb << ": " << human.out;
    EXPECT_TRUE(lines[0].starts_with("t-default is running: pid ")) << human.out;
    EXPECT_TRUE(lines[1].starts_with("sources: ")) << human.out;
    EXPECT_NE(lines[1].find("push connected"), std::string::npos) << human.out;
    EXPECT_NE(lines[1].find("backup failed (" + why + ")"), std::string::npos) << human.out;
    EXPECT_EQ(lines[2], "  backup: connect_failures 1, disconnects_fatal 1") << human.out;
    EXPECT_EQ(lines[3], "api: " + api_socket) << human.out;
    EXPECT_EQ(lines[4], "WARNING: 1 of 2 sources failed and will not retry; the daemon runs on "
                        "without it (see " +
                            d.log_file().string() + ")")
        << human.out;
  }

  // The state file: 0640, written by the pipeline (the info file's child).
  struct stat st {};
  ASSERT_EQ(::stat(sources_file.c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  auto file = nlohmann::json::parse(file_text(sources_file), nullptr, false);
  ASSERT_TRUE(file.is_object()) << file_text(sources_file);
  EXPECT_EQ(file.value("pid", 0), child_in(d.info_file())) << file.dump();
  EXPECT_GT(file.value("updated_at", std::int64_t{0}), 0) << file.dump();

  auto stop = sluice(d.args("stop"));
  EXPECT_EQ(stop.status, 0) << stop.out << stop.err;
  EXPECT_FALSE(fs::exists(sources_file));
  EXPECT_FALSE(fs::exists(sources_file.string() + ".tmp"));
  auto after = sluice(d.args("status", {"--json"}));
  EXPECT_EQ(after.status, 3) << after.out << after.err;
  EXPECT_EQ(after.out.find("sources"), std::string::npos) << after.out;
}

} // namespace
} // namespace sluice::testing
