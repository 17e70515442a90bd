//! docs/status.md: every field of `affinity-sync status --json`, written from [`FIELDS`]
//! (`affinity-sync status --doc` prints it; a test keeps the file equal to it, and another
//! checks that every field a real report has is listed here, and nothing more).

/// `(path, type, meaning)`: `syncs[]` is each element of the array `syncs`; `?` marks a
/// field that is left out when it has no value.
pub const FIELDS: &[(&str, &str, &str)] = &[
    (
        "version",
        "integer",
        "Version of this object, 1. Fields are only ever added within a version.",
    ),
    ("store", "string", "The store as given (`--out`)."),
    (
        "checked_at",
        "string",
        "When the report was made (RFC 3339, UTC).",
    ),
    (
        "health",
        "string",
        "`ok` (exit status 0): the latest sync (or the one asked for) is complete, or running with no parked page. `attention` (exit status 1): it stopped, or has parked pages.",
    ),
    (
        "syncs",
        "array",
        "The syncs, newest first (`--last`, default 10), or the one asked for.",
    ),
    (
        "syncs[].sync_id",
        "string",
        "The sync's id: its start time and a random suffix.",
    ),
    (
        "syncs[].kind",
        "string",
        "`full`, or `incremental` when some streams read only what changed since an earlier sync.",
    ),
    (
        "syncs[].state",
        "string",
        "`complete` (its `sync.json` is written: loaders read it), `running` (pages pending, something written within `--stalled-after` minutes), or `stopped`.",
    ),
    ("syncs[].reason?", "string", "Why a stopped sync stopped."),
    (
        "syncs[].runs_on?",
        "string",
        "`cli`, `lambda` or `component`: the home that started it (unfinished syncs that recorded it).",
    ),
    (
        "syncs[].started_at",
        "string",
        "When it started (RFC 3339).",
    ),
    ("syncs[].finished_at?", "string", "When it completed."),
    (
        "syncs[].last_activity?",
        "string",
        "An unfinished sync's latest write (a page acknowledged or a chain finished).",
    ),
    (
        "syncs[].duration_seconds?",
        "number",
        "Start to finish, or to the last activity.",
    ),
    ("syncs[].pages", "object", "Its pages."),
    ("syncs[].pages.done", "integer", "Pages written."),
    (
        "syncs[].pages.pending",
        "integer",
        "Pages queued and not yet written.",
    ),
    (
        "syncs[].pages.parked",
        "integer",
        "Pages that failed for good, waiting for `resume` or a dead-letter redrive.",
    ),
    (
        "syncs[].records",
        "integer",
        "Records written: the whole sync when complete; otherwise those of its finished chains and of the chains of its parked pages (a running chain counts when it finishes).",
    ),
    (
        "syncs[].requests",
        "integer",
        "Requests made to Affinity, as its chains recorded them (for an unfinished sync, the chains `records` counts; 0 in manifests written before chains recorded them).",
    ),
    (
        "syncs[].retries",
        "integer",
        "Of those requests, the ones that repeated a failed one.",
    ),
    (
        "syncs[].throttled",
        "integer",
        "Of those requests, the ones Affinity answered 429.",
    ),
    (
        "syncs[].streams?",
        "array",
        "Per stream (`status <SYNC_ID>` only).",
    ),
    (
        "syncs[].streams[].stream",
        "string",
        "The stream (docs/streams.md).",
    ),
    (
        "syncs[].streams[].chains_done",
        "integer",
        "Chains finished: one per stream, or one per parent (a list, a person's interaction window) or time filter.",
    ),
    (
        "syncs[].streams[].pages",
        "object",
        "Its pages, as `syncs[].pages`.",
    ),
    ("syncs[].streams[].pages.done", "integer", "Pages written."),
    (
        "syncs[].streams[].pages.pending",
        "integer",
        "Pages queued.",
    ),
    ("syncs[].streams[].pages.parked", "integer", "Pages parked."),
    (
        "syncs[].streams[].records",
        "integer",
        "Records, counted as `syncs[].records`.",
    ),
    (
        "syncs[].streams[].requests",
        "integer",
        "Requests, counted as `syncs[].requests`.",
    ),
    (
        "syncs[].streams[].retries",
        "integer",
        "Retries among them.",
    ),
    (
        "syncs[].streams[].throttled",
        "integer",
        "429 answers among them.",
    ),
    (
        "syncs[].streams[].since?",
        "string",
        "Read incrementally: only what changed since this time.",
    ),
    (
        "syncs[].parked?",
        "array",
        "Each parked page (`status <SYNC_ID>` only).",
    ),
    ("syncs[].parked[].stream", "string", "Its stream."),
    (
        "syncs[].parked[].parents",
        "object",
        "The parent ids of its chain, such as `{\"list_id\": 3001}` (empty for a root stream).",
    ),
    (
        "syncs[].parked[].page",
        "integer",
        "Its page number in the chain, from 0.",
    ),
    (
        "syncs[].parked[].error",
        "string",
        "Why it failed, and what to correct.",
    ),
    (
        "syncs[].parked[].attempts",
        "integer",
        "How often it was tried.",
    ),
    (
        "syncs[].parked[].failed_at",
        "string",
        "When it was parked.",
    ),
    (
        "syncs[].next_step?",
        "string",
        "The command that finishes the sync: `affinity-sync resume …` for a sync the CLI ran, `aws sqs start-message-move-task --source-arn <dead-letter queue>` for Lambda and the component.",
    ),
    ("changes", "object", "Webhook changes (docs/changes.md)."),
    (
        "changes.events_since_latest_sync",
        "integer",
        "Events received that the latest complete sync does not hold (sent at or after its start, less the 10-minute clock margin loaders use); all events when no sync is complete.",
    ),
    (
        "changes.latest_complete_sync?",
        "string",
        "The sync they are counted from.",
    ),
    (
        "changes.refreshes_pending",
        "integer",
        "Records still to fetch again for an event (`serve` or the queue works them off).",
    ),
    (
        "changes.refreshes_failed",
        "integer",
        "Refreshes that failed for good.",
    ),
    (
        "changes.oldest_pending_sent_at?",
        "string",
        "When the event of the oldest pending refresh was sent.",
    ),
    (
        "store_requests",
        "object",
        "What this report cost the store.",
    ),
    (
        "store_requests.lists",
        "integer",
        "Listings made (on S3, one request per 1,000 keys each).",
    ),
    ("store_requests.gets", "integer", "Objects read."),
];

/// docs/status.md.
pub fn markdown() -> String {
    let mut out = String::from(
        "# `affinity-sync status --json`\n\n\
         Generated by `affinity-sync status --doc` from `src/ops/status_doc.rs`; \
         `tests/status.rs` keeps this file current and checks every field of real reports \
         against it.\n\n\
         Exit status: 0 when the latest sync (or the one named) is complete or running with no \
         parked page, 1 when it stopped or has parked pages, 2 when the store cannot be read \
         (it does not exist, holds no syncs or objects affinity-sync did not write, or a \
         manifest is malformed) or the command line is wrong.\n\n\
         A `?` marks a field left out when it has no value. `[]` is each element of an \
         array.\n\n\
         | field | type | meaning |\n| --- | --- | --- |\n",
    );
    for (path, ty, meaning) in FIELDS {
        out.push_str(&format!("| `{path}` | {ty} | {meaning} |\n"));
    }
    out
}
