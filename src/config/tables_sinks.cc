#include "config/tables.h"

namespace sluice::config {
namespace {

constexpr option eventlog_list[] = {
    {.name = "dir",
     .required = true,
     .help = "Directory of the event log files; created when missing.",
     .path = true,
     .target = true},
    {.name = "envelope",
     .type = option_type::boolean,
     .default_value = "false",
     .help = "false: each line is the payload as received; true: each line is "
             "`{\"id\",\"source\",\"received_at\",\"type\",\"event\"}`."},
    {.name = "rotate_bytes",
     .type = option_type::size,
     .default_value = "64MiB",
     .unit = "bytes",
     .help = "Start a new file when the current one reaches this size."},
    {.name = "rotate_interval",
     .type = option_type::duration,
     .default_doc = "never",
     .help = "Start a new file when the current one is this old."},
    {.name = "rotate_events",
     .type = option_type::integer,
     .default_doc = "never",
     .unit = "events",
     .help = "Start a new file after this many events.",
     .min = 1},
};

constexpr option sqlite_list[] = {
    {.name = "path",
     .required = true,
     .help = "The SQLite database file; created when missing.",
     .path = true,
     .target = true},
    {.name = "table",
     .default_doc = "the subscription's name",
     .help = "Table of the events (created when missing): `id INTEGER PRIMARY KEY` (the queue "
             "position), `source`, `received_at`, `type`, `payload`.",
     .owner_default = true,
     .target = true},
};

constexpr const option_table* kinds[] = {&eventlog_sink_options, &sqlite_sink_options};

} // namespace

const option_table eventlog_sink_options{
    .title = "sink type \"eventlog\"",
    .kind = "eventlog",
    .help = "NDJSON files `events-YYYYmmddTHHMMSSZ-N.ndjson` in `dir`, with a `current` "
            "symlink; data is fsynced before a batch is confirmed, and a batch redelivered "
            "after a crash never writes a line twice.",
    .options = eventlog_list,
    .target_noun = "directory",
};

const option_table sqlite_sink_options{
    .title = "sink type \"sqlite\"",
    .kind = "sqlite",
    .help = "A SQLite database in WAL mode, one transaction per batch; `INSERT OR IGNORE` by "
            "queue position, so a redelivered batch never duplicates a row.",
    .options = sqlite_list,
    .target_noun = "table",
};

const option_table sink_common_options{
    .title = "[subscriptions.NAME.sink]",
    .help = "`sink = { type = \"...\", ... }`: `type` selects the kind of sink.",
    .options = {},
};

const table_family sink_types{
    .name = "sink",
    .common = &sink_common_options,
    .kinds = kinds,
};

} // namespace sluice::config
