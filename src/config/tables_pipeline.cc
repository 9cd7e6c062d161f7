#include <fmt/format.h>

#include "base/redis_url.h"
#include "config/queue_settings.h"
#include "config/tables.h"

namespace sluice::config {
namespace {

std::optional<std::string> check_redis_url(std::string_view text) {
  if (parse_redis_url(text))
    return std::nullopt;
  return fmt::format("expected \"redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]\" or "
                     "\"redis-sentinel://HOST:PORT,HOST:PORT/MASTER[/DB]\", got \"{}\"",
                     text);
}

std::optional<std::string> check_acks(std::string_view text) {
  if (parse_acks(text))
    return std::nullopt;
  return fmt::format("expected \"leader\" or \"replicas:N\" (N from 1 to 100), got \"{}\"", text);
}

constexpr option file_list[] = {
    {.name = "data_dir",
     .default_value = "./sluice-data",
     .help = "Directory of the queue, the cursors and the dead-letter files; created when "
             "missing. A relative path is relative to the working directory."},
    {.name = "shutdown_timeout",
     .type = option_type::duration,
     .default_value = "10s",
     .help = "On TERM or INT: how long the batches in flight may take to finish before sluice "
             "exits anyway (still without loss: what was not confirmed is redelivered)."},
    {.name = "queue",
     .type = option_type::table,
     .help = "The disk queue: see [queue].",
     .fields = &queue_options},
    {.name = "sources",
     .type = option_type::named_tables,
     .help = "The sources, one table [sources.NAME] each: see the source types.",
     .family = &source_types},
    {.name = "subscriptions",
     .type = option_type::named_tables,
     .help = "The subscriptions, one table [subscriptions.NAME] each: see [subscriptions.NAME].",
     .fields = &subscription_options},
    {.name = "daemon",
     .type = option_type::table,
     .help = "How `sluice start` runs the pipeline as a daemon: see [daemon].",
     .fields = &daemon_options},
    {.name = "tasks",
     .type = option_type::named_tables,
     .help = "Periodic tasks of the daemon, one table [tasks.NAME] each: see [tasks.NAME].",
     .fields = &task_options},
    {.name = "hooks",
     .type = option_type::table,
     .help = "Commands the daemon runs on its events: see [hooks].",
     .fields = &hook_options},
    {.name = "api",
     .type = option_type::table,
     .help = "The control API: see [api].",
     .fields = &api_options},
    {.name = "metrics",
     .type = option_type::table,
     .help = "Metrics sent out: see [metrics].",
     .fields = &metrics_options},
};

constexpr option daemon_list[] = {
    {.name = "run_dir",
     .default_doc = "/run/sluice as root, else $XDG_RUNTIME_DIR/sluice or /tmp/sluice-UID",
     .help = "Where `sluice start` writes the pid file NAME-CONTEXT.pid (`--run-dir` wins)."},
    {.name = "log_dir",
     .default_doc = "/var/log/sluice as root, else ~/.local/state/sluice",
     .help = "Where `sluice start` writes the daemon's log NAME-CONTEXT.log, mode 0640 "
             "(`--log-dir` wins)."},
    {.name = "common_log",
     .default_doc = "LOG_DIR/common.log",
     .help = "One file every daemon of the machine appends a line to at each start, stop, "
             "crash and restart."},
    {.name = "memory_limit",
     .type = option_type::size,
     .default_doc = "no limit",
     .unit = "bytes",
     .help = "With `memory_threshold`: when the pipeline's resident memory passes this "
             "percentage of the limit, it stops cleanly and its supervisor starts it again."},
    {.name = "memory_threshold",
     .type = option_type::integer,
     .default_value = "70",
     .unit = "percent",
     .help = "Percentage of `memory_limit` at which the pipeline restarts itself.",
     .min = 1,
     .max = 100},
    {.name = "memory_check_interval",
     .type = option_type::duration,
     .default_value = "10s",
     .help = "How often the pipeline checks its resident memory against the limit."},
    {.name = "restart_min",
     .type = option_type::duration,
     .default_value = "1s",
     .help = "The supervisor's first delay before restarting a pipeline that died; doubled at "
             "each further crash up to `restart_max`."},
    {.name = "restart_max",
     .type = option_type::duration,
     .default_value = "60s",
     .help = "Cap on the supervisor's restart delay."},
    {.name = "healthy_after",
     .type = option_type::duration,
     .default_value = "5m",
     .help = "A pipeline that ran this long without dying resets the restart delay."},
};

constexpr option task_list[] = {
    {.name = "run",
     .required = true,
     .help = "What the task does: \"drain:SUBSCRIPTION\" delivers that subscription's backlog "
             "once (a subscription with `deliver = \"drain\"`), \"exec:COMMAND ARGS...\" runs "
             "a command (split on spaces, no shell)."},
    {.name = "sleep",
     .type = option_type::duration,
     .required = true,
     .help = "A run starts this long after the previous run started..."},
    {.name = "min_sleep",
     .type = option_type::duration,
     .default_value = "0s",
     .help = "...but never sooner than this after the previous run ended, so slow runs do not "
             "pile up."},
    {.name = "timeout",
     .type = option_type::duration,
     .default_doc = "none",
     .help = "A run still going after this long is stopped (TERM, then KILL 5 s later) and "
             "reported as timed out."},
};

constexpr option hook_list[] = {
    {.name = "on_start",
     .help = "Run (with /bin/sh -c) once the pipeline is running. The event is in the "
             "environment: SLUICE_ID, SLUICE_CONTEXT, SLUICE_EVENT."},
    {.name = "on_task_done",
     .help = "Run after each task run, with SLUICE_TASK, SLUICE_DURATION_MS and SLUICE_STATUS "
             "(the exit status, or \"timeout\", \"failed\")."},
    {.name = "on_stop", .help = "Run when the daemon stops on request, with SLUICE_STATUS."},
    {.name = "on_crash",
     .help = "Run by the supervisor when the pipeline died unexpectedly, with SLUICE_STATUS "
             "(\"exit N\" or \"signal N\")."},
    {.name = "timeout",
     .type = option_type::duration,
     .default_value = "30s",
     .help = "A hook still running after this long is killed and logged; hooks never hold up "
             "the pipeline."},
};

constexpr std::string_view fsync_keywords[] = {"always", "never"};
constexpr std::string_view when_full_values[] = {"block", "drop_newest"};

constexpr std::string_view backend_values[] = {"disk", "redis", "redis-list"};
constexpr std::string_view spill_values[] = {"none", "disk"};

constexpr option queue_list[] = {
    {.name = "backend",
     .type = option_type::enumeration,
     .default_value = "disk",
     .help = "\"disk\": the embedded segment log in `DATA_DIR/queue`, for one machine. "
             "\"redis\": a Redis Stream at `url`, shared by every sluice instance pointed at it "
             "(docs/redis.md); `fsync`, `segment_bytes`, `max_disk` and `retain_bytes` are the "
             "disk's and do not apply. \"redis-list\": the older reliable queue on a Redis list "
             "(`stream` names the work list), for consumers written for it (docs/redis.md, \"The "
             "list backend\").",
     .values = backend_values},
    {.name = "fsync",
     .type = option_type::duration,
     .default_value = "10ms",
     .help = "When appended records are made durable: \"always\" (each append waits for its "
             "fsync, shared by concurrent appends), a duration (group commit: one fsync per "
             "interval) or \"never\" (the operating system writes back; a power loss can lose "
             "records).",
     .values = fsync_keywords},
    {.name = "segment_bytes",
     .type = option_type::size,
     .default_value = "64MiB",
     .unit = "bytes",
     .help = "Size at which the queue starts a new segment file."},
    {.name = "max_disk",
     .type = option_type::size,
     .default_doc = "no cap",
     .unit = "bytes",
     .help = "Cap on the queue's bytes on disk; when reached, `when_full` applies."},
    {.name = "when_full",
     .type = option_type::enumeration,
     .default_value = "block",
     .help = "At the cap: \"block\" pauses the sources until subscriptions let segments go; "
             "\"drop_newest\" drops the records that do not fit and counts them.",
     .values = when_full_values},
    {.name = "retain_bytes",
     .type = option_type::size,
     .default_doc = "none",
     .unit = "bytes",
     .help = "Keep at least this many bytes of segments every subscription has passed (for "
             "`sluice queue tail` and replays)."},
    {.name = "retain_age",
     .type = option_type::duration,
     .default_doc = "none",
     .help = "Keep segments every subscription has passed while younger than this (on Redis: "
             "entries every group has passed)."},
    {.name = "url",
     .default_doc = "none; required with backend = \"redis\"",
     .help = "The Redis server: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, or the primary "
             "that Redis Sentinel names: "
             "`redis-sentinel://[[USER]:PASSWORD@]HOST[:PORT],HOST[:PORT]/MASTER[/DB]` (sentinels "
             "on 26379 unless given; on a failover sluice asks them again and goes on).",
     .check = check_redis_url},
    {.name = "stream",
     .default_value = "sluice:events",
     .help = "The Redis Stream's key; its dead-letter stream is `STREAM:dead`."},
    {.name = "consumer",
     .default_doc = "the host name",
     .help = "This instance's consumer name in every group (subscription). Each instance "
             "sharing the stream needs its own; a restarted instance with the same name takes "
             "back what it had read and not acknowledged."},
    {.name = "claim_idle",
     .type = option_type::duration,
     .default_value = "30s",
     .help = "Entries pending this long on another consumer (one that stopped) are taken over."},
    {.name = "max_deliveries",
     .type = option_type::integer,
     .default_value = "10",
     .help = "An entry delivered more often than this without a confirmation goes to the "
             "dead-letter stream, with its delivery count, and is counted.",
     .min = 1},
    {.name = "acks",
     .default_value = "leader",
     .help = "When an append is safe: \"leader\" once the Redis primary has it (with whatever "
             "`appendfsync` it runs); \"replicas:N\" once N replicas have it too (WAIT).",
     .check = check_acks},
    {.name = "max_len",
     .type = option_type::integer,
     .default_doc = "no cap",
     .help = "Cap on the stream's entries; when reached, `when_full` applies (entries every "
             "group has passed are trimmed first).",
     .min = 1},
    {.name = "spill",
     .type = option_type::enumeration,
     .default_value = "none",
     .help = "With backend = \"redis\": \"none\" pauses the sources while Redis refuses "
             "appends; \"disk\" lets them go on into a local disk queue in `DATA_DIR/spill` "
             "(with this table's disk options), forwarded to Redis in order once it is back.",
     .values = spill_values},
};

constexpr std::string_view start_values[] = {"beginning", "end"};
constexpr std::string_view deliver_values[] = {"continuous", "drain"};

constexpr option subscription_list[] = {
    {.name = "sink",
     .type = option_type::table,
     .required = true,
     .help = "Where the events go: `{ type = \"...\", ... }`; see the sink types.",
     .family = &sink_types},
    {.name = "filter",
     .type = option_type::table,
     .default_doc = "every event",
     .help = "Which events to deliver; see [subscriptions.NAME.filter]. Events filtered out "
             "still advance the subscription's cursor.",
     .fields = &filter_options},
    {.name = "batch",
     .type = option_type::integer,
     .default_value = "500",
     .unit = "records",
     .help = "Most records handed to the sink in one write.",
     .min = 1},
    {.name = "start",
     .type = option_type::enumeration,
     .default_value = "beginning",
     .help = "Where a new subscription starts: \"beginning\" replays what the queue still "
             "holds and then follows it live; \"end\" follows only what arrives from now on. "
             "Once the subscription has a cursor, it resumes from there.",
     .values = start_values},
    {.name = "deliver",
     .type = option_type::enumeration,
     .default_value = "continuous",
     .help = "\"continuous\": the running pipeline delivers it as events arrive; \"drain\": "
             "only `sluice drain` and drain tasks deliver it, each time its whole backlog (the "
             "cron-driven subscriber). Either way its cursor holds the queue's segments.",
     .values = deliver_values},
    {.name = "paused",
     .type = option_type::boolean,
     .default_value = "false",
     .help = "true: no delivery runs (the cursor keeps its place and holds the queue's "
             "segments) until the API resumes it. The API's pause and resume set it."},
    {.name = "retry",
     .type = option_type::table,
     .help = "How a failed batch is retried; see [subscriptions.NAME.retry].",
     .fields = &retry_options},
};

constexpr option filter_list[] = {
    {.name = "type",
     .type = option_type::string_list,
     .help = "Deliver only events of these types (`[\"tweet\"]`)."},
    {.name = "field",
     .help = "A JSON path into the event (`entities.hashtags[].text`, `[]` for each element "
             "of an array); with `any_of`, deliver the events where it holds one of the "
             "values."},
    {.name = "any_of",
     .type = option_type::string_list,
     .help = "The values `field` is matched against."},
};

constexpr option retry_list[] = {
    {.name = "initial",
     .type = option_type::duration,
     .default_value = "100ms",
     .help = "Delay before the first retry; each further retry doubles it."},
    {.name = "max",
     .type = option_type::duration,
     .default_value = "30s",
     .help = "Cap on the delay between retries."},
    {.name = "max_attempts",
     .type = option_type::integer,
     .default_doc = "retry forever",
     .unit = "attempts",
     .help = "After this many failed attempts the batch goes to the dead-letter file and the "
             "subscription moves on.",
     .min = 1},
};

} // namespace

const option_table file_options{
    .title = "Top level",
    .help = "Keys at the top of the file, outside any table.",
    .options = file_list,
};

const option_table daemon_options{
    .title = "[daemon]",
    .help = "The daemon runtime of `sluice start`: pid file and logs, the supervisor's restart "
            "backoff, and the memory limit. `sluice run` ignores it.",
    .options = daemon_list,
};

const option_table task_options{
    .title = "[tasks.NAME]",
    .help = "A periodic task of the daemon (`sluice start`).",
    .options = task_list,
};

const option_table hook_options{
    .title = "[hooks]",
    .help = "Commands run on the daemon's events. A slow or failing hook is logged and never "
            "blocks the pipeline.",
    .options = hook_list,
};

const option_table queue_options{
    .title = "[queue]",
    .help = "The queue every event is written to before any subscription sees it: the "
            "embedded disk queue in `DATA_DIR/queue` (a log of segment files), or a Redis "
            "Stream (`backend = \"redis\"`).",
    .options = queue_list,
};

const option_table subscription_options{
    .title = "[subscriptions.NAME]",
    .help =
        "A named consumer of the queue with its own committed cursor: it reads events, "
        "filters them, and writes them in batches to its sink; the cursor moves only after "
        "the sink confirmed a batch. NAME is 1 to 128 of A-Z a-z 0-9 _ . -, not starting with '.'.",
    .options = subscription_list,
};

const option_table filter_options{
    .title = "[subscriptions.NAME.filter]",
    .help = "`filter = { type = [...] }` or `filter = { field = \"...\", any_of = [...] }`; "
            "with both, an event must pass both.",
    .options = filter_list,
};

const option_table retry_options{
    .title = "[subscriptions.NAME.retry]",
    .help = "Exponential backoff for a batch the sink failed to write.",
    .options = retry_list,
};

} // namespace sluice::config
