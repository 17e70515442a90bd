//! Where objects go: every key is built here, from the job, so re-processing a job rewrites
//! the same objects and nothing else.
//!
//! ```text
//! <prefix>/<table>/sync_id=<sync>/part-[<parent>-<id>-]<page>.<parquet|ndjson.gz>
//! <prefix>/_manifests/sync_id=<sync>/chains/<stream>[__<parent>=<id>].json   a finished chain
//! <prefix>/_manifests/sync_id=<sync>/sync.json                              the finished sync
//! <prefix>/_jobs/sync_id=<sync>/run.json                                    a sync under way
//! <prefix>/_jobs/sync_id=<sync>/pending/<stream>[__<parent>=<id>]-<page>.json   queued jobs
//! <prefix>/_jobs/sync_id=<sync>/failed/<stream>[__<parent>=<id>]-<page>.json    parked jobs
//! ```
//!
//! The `_jobs/` journal is the local driver's queue written down: a job is written there
//! before the page that produced it is acknowledged, and removed once its own page is written,
//! so a sync stopped at any point resumes from exactly the pages that were not finished.
//!
//! `sync_id=` is a Hive-style partition that DuckDB, Spark, BigQuery, Snowflake and Athena
//! discover. Parent ids (a list entry's `list_id`) are columns of the rows already, so they go
//! into the file name, not into `list_id=` folders: an engine would infer such a folder as a
//! second, differently typed `list_id` (pyarrow refuses the merge). Loaders read a sync only
//! once its `sync.json` exists.

use crate::batch::Format;
use crate::catalog::Stream;
use crate::job::{Job, Tally};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn join(prefix: &str, rest: String) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        rest
    } else {
        format!("{prefix}/{rest}")
    }
}

/// `list_id-3001-` for a chain under list 3001, in the order of the stream's path; an
/// incremental chain of records created or updated since adds `created-` or `updated-`.
fn chain_name(stream: &Stream, job: &Job) -> String {
    let mut name: String = stream
        .parent_keys()
        .iter()
        .filter_map(|k| job.parents.get(*k).map(|v| format!("{k}-{v}-")))
        .collect();
    if let Some(by) = job.since.and_then(|s| s.by) {
        name.push_str(by.name());
        name.push('-');
    }
    name
}

/// The object key of one page of one table.
pub fn batch_key(prefix: &str, table: &str, stream: &Stream, job: &Job, format: Format) -> String {
    let chain = chain_name(stream, job);
    let ext = format.extension();
    join(
        prefix,
        format!(
            "{table}/sync_id={}/part-{chain}{:06}.{ext}",
            job.sync, job.page
        ),
    )
}

/// The folder of a sync's manifests.
pub fn manifests_dir(prefix: &str, sync: &str) -> String {
    join(prefix, format!("_manifests/sync_id={sync}"))
}

/// `list_entries__list_id=3001`: one chain (one stream, one set of parent ids).
fn chain_id(stream: &Stream, job: &Job) -> String {
    let mut suffix: String = stream
        .parent_keys()
        .iter()
        .filter_map(|k| job.parents.get(*k).map(|v| format!("__{k}={v}")))
        .collect();
    if let Some(by) = job.since.and_then(|s| s.by) {
        suffix.push_str("__");
        suffix.push_str(by.name());
    }
    format!("{}{suffix}", stream.name)
}

/// The completion manifest of one chain (one stream, one set of parent ids).
pub fn chain_manifest_key(prefix: &str, stream: &Stream, job: &Job) -> String {
    format!(
        "{}/chains/{}.json",
        manifests_dir(prefix, &job.sync),
        chain_id(stream, job)
    )
}

/// The folder of the chain manifests of a sync.
pub fn chains_dir(prefix: &str, sync: &str) -> String {
    format!("{}/chains/", manifests_dir(prefix, sync))
}

/// The folder of a sync's job journal.
pub fn jobs_dir(prefix: &str, sync: &str) -> String {
    join(prefix, format!("_jobs/sync_id={sync}"))
}

/// The folder that holds every sync's job journal.
pub fn all_jobs_dir(prefix: &str) -> String {
    join(prefix, "_jobs/".to_string())
}

/// What a sync under way was asked to do ([`SyncRun`]).
pub fn run_key(prefix: &str, sync: &str) -> String {
    format!("{}/run.json", jobs_dir(prefix, sync))
}

/// Whether a queued job waits to run or was parked after failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Failed,
}

impl JobState {
    fn folder(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Failed => "failed",
        }
    }
}

/// The folder of a sync's jobs in `state`.
pub fn job_state_dir(prefix: &str, sync: &str, state: JobState) -> String {
    format!("{}/{}/", jobs_dir(prefix, sync), state.folder())
}

/// The journal key of a job: one key per page of a chain, so the same job queued twice is
/// one entry.
pub fn job_key(prefix: &str, stream: &Stream, job: &Job, state: JobState) -> String {
    format!(
        "{}{}-{:06}.json",
        job_state_dir(prefix, &job.sync, state),
        chain_id(stream, job),
        job.page
    )
}

/// A sync that has started: what it was asked for, so it can be resumed as it began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    pub version: u32,
    pub sync_id: String,
    pub format: String,
    pub streams: Vec<String>,
    pub started_at: String,
    /// Whether the first page of every root stream is queued. Written once they are: a sync
    /// stopped before that queues them again when resumed.
    #[serde(default)]
    pub seeded: bool,
    /// The streams this sync reads incrementally, and since when (RFC 3339): the start of
    /// the latest complete sync that had the stream, less a margin for clock skew.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub since: BTreeMap<String, String>,
    /// Which home runs the sync, so `status` can say how to finish it. Absent in runs written
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<Home>,
    /// The monthly quota before the sync began, copied into its manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaSeen>,
}

/// The home that runs a sync, and for a queue-carried one its queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Home {
    /// `cli`, `lambda` or `component`.
    pub runs_on: String,
    /// The queue that carries the jobs (queue-carried homes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    /// Where parked pages go (queue-carried homes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_url: Option<String>,
    /// The dead-letter queue's ARN, when the deployment knows it (the redrive command needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_arn: Option<String>,
}

/// A job parked after failing: the job and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedJob {
    /// The job, for people reading the record.
    pub job: Job,
    /// The job as it was queued (signed when jobs are): what a resume runs.
    pub queued: String,
    pub error: String,
    pub attempts: u32,
    pub failed_at: String,
}

/// The per-stream totals of a sync, from the manifests of its finished chains (so a resumed
/// sync counts the pages of every run, not just the last one).
pub fn summarize(streams: &[&Stream], chains: &[ChainManifest]) -> Vec<StreamSummary> {
    streams
        .iter()
        .map(|s| {
            let mine = chains.iter().filter(|c| c.stream == s.name);
            StreamSummary {
                stream: s.name.into(),
                chains: mine.clone().count() as u64,
                pages: mine.clone().map(|c| c.pages as u64).sum(),
                records: mine.clone().map(|c| c.records).sum(),
                tally: mine.fold(Tally::default(), |t, c| t.plus(c.tally)),
                tables: s.tables.iter().map(|t| t.name.to_string()).collect(),
                since: None,
            }
        })
        .collect()
}

/// The manifest that marks a whole sync complete.
pub fn sync_manifest_key(prefix: &str, sync: &str) -> String {
    format!("{}/sync.json", manifests_dir(prefix, sync))
}

/// What a finished chain wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainManifest {
    pub version: u32,
    pub sync_id: String,
    pub stream: String,
    pub parents: BTreeMap<String, i64>,
    pub pages: u32,
    pub records: u64,
    /// What the chain's pages cost: `requests`, `retries`, `throttled` (zero in manifests
    /// written before chains carried them).
    #[serde(flatten)]
    pub tally: Tally,
    pub format: String,
    pub tables: Vec<String>,
}

/// One stream's totals in a sync manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSummary {
    pub stream: String,
    pub chains: u64,
    pub pages: u64,
    pub records: u64,
    /// Requests to Affinity, retries among them, and 429 answers among them (zero in
    /// manifests written before chains carried them).
    #[serde(flatten)]
    pub tally: Tally,
    pub tables: Vec<String>,
    /// Set when the stream was read incrementally: its rows are what changed since then
    /// (RFC 3339), to upsert on the earlier syncs' rows, not the whole table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// Written last: the sync is complete, and this is what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncManifest {
    pub version: u32,
    pub sync_id: String,
    pub format: String,
    pub started_at: String,
    pub finished_at: String,
    pub streams: Vec<StreamSummary>,
    /// Affinity's monthly request quota as the sync saw it before it began (the CLI reads
    /// it to refuse a sync the quota cannot pay for); absent where a home did not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaSeen>,
}

/// Affinity's monthly request quota (`GET /rate-limit`) at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaSeen {
    pub monthly_limit: u64,
    pub monthly_remaining: u64,
    /// When the month's count starts again (RFC 3339).
    pub resets_at: String,
    /// When it was read (RFC 3339).
    pub read_at: String,
}

/// How far before an earlier sync's start an incremental sync (and webhook changes) reach
/// back: Affinity's clock and ours may disagree a little, and reading a change twice is
/// harmless (upserts), while missing one is not.
pub const CLOCK_SKEW_SECS: i64 = 600;

/// For `sync --incremental`: which of `streams` can run incrementally, and since when. A
/// stream runs incrementally when an earlier complete sync in `history` (any order) had it:
/// from that sync's start, less [`CLOCK_SKEW_SECS`]. Streams without one run in full.
pub fn incremental_since(
    streams: &[&Stream],
    history: &[SyncManifest],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in streams {
        if s.incremental == crate::catalog::Incremental::Full {
            continue;
        }
        // The latest start among the syncs that had the stream.
        let earlier = history
            .iter()
            .filter(|m| m.streams.iter().any(|x| x.stream == s.name))
            .filter_map(|m| crate::table::parse_timestamp(&m.started_at))
            .max();
        if let Some(micros) = earlier {
            let at = micros.div_euclid(1_000_000) - CLOCK_SKEW_SECS;
            out.insert(
                s.name.to_string(),
                crate::table::format_timestamp(at * 1_000_000),
            );
        }
    }
    out
}

/// Orders sync manifests oldest first by start time (ids order by the second only; two syncs
/// may start within one).
pub fn sort_by_start(syncs: &mut [SyncManifest]) {
    syncs.sort_by_key(|m| {
        (
            crate::table::parse_timestamp(&m.started_at).unwrap_or(i64::MIN),
            m.sync_id.clone(),
        )
    });
}

/// The `since` (Unix seconds) of the root chains of `root` in a sync reading `since`
/// incrementally: the earliest time of any stream fanning out from it (or its own).
pub fn root_since(root: &Stream, since: &BTreeMap<String, String>) -> Option<i64> {
    since
        .iter()
        .filter(|(name, _)| {
            crate::catalog::stream(name)
                .is_some_and(|s| crate::catalog::root_of(s).name == root.name)
        })
        .filter_map(|(_, at)| crate::table::parse_timestamp(at))
        .map(|micros| micros.div_euclid(1_000_000))
        .min()
}

/// The folder of one kind of change object: `events`, `tombstones`, or a table's name.
pub fn changes_dir(prefix: &str, kind: &str) -> String {
    join(prefix, format!("changes/{kind}/"))
}

/// The object that records one webhook event.
pub fn change_event_key(prefix: &str, change: &str) -> String {
    format!("{}part-{change}.ndjson.gz", changes_dir(prefix, "events"))
}

/// The tombstone of one record deleted by the change `change`.
pub fn tombstone_key(prefix: &str, change: &str, entity: &str, id: i64) -> String {
    format!(
        "{}part-{change}-{entity}-{id}.ndjson.gz",
        changes_dir(prefix, "tombstones")
    )
}

/// Where a refresh waits until its record is written (`state`: pending or failed), so a
/// receiver that stops loses none: `serve` runs the pending ones again when it starts.
pub fn refresh_key(prefix: &str, state: JobState, change: &str, entity: &str, id: i64) -> String {
    format!(
        "{}{}/{change}-{entity}-{id}.json",
        changes_dir(prefix, "_refresh"),
        state.folder()
    )
}

/// The folder of refreshes in `state`.
pub fn refresh_dir(prefix: &str, state: JobState) -> String {
    format!("{}{}/", changes_dir(prefix, "_refresh"), state.folder())
}

/// The rows of `table` that the change `change` fetched again for one record.
pub fn upsert_key(
    prefix: &str,
    table: &str,
    change: &str,
    entity: &str,
    id: i64,
    format: Format,
) -> String {
    format!(
        "{}part-{change}-{entity}-{id}.{}",
        changes_dir(prefix, table),
        format.extension()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn keys_are_deterministic_and_partitioned_by_sync() {
        let s = catalog::stream("list_entries").unwrap();
        let mut job = Job::first(
            "20260101T000000Z-a1",
            "list_entries",
            BTreeMap::from([("list_id".into(), 3001)]),
        );
        job.page = 7;
        assert_eq!(
            batch_key(
                "exports/affinity/",
                "list_entries",
                s,
                &job,
                Format::Parquet
            ),
            "exports/affinity/list_entries/sync_id=20260101T000000Z-a1/part-list_id-3001-000007.parquet"
        );
        assert_eq!(
            batch_key("", "list_entries_field_values", s, &job, Format::Ndjson),
            "list_entries_field_values/sync_id=20260101T000000Z-a1/part-list_id-3001-000007.ndjson.gz"
        );
        assert_eq!(
            chain_manifest_key("p", s, &job),
            "p/_manifests/sync_id=20260101T000000Z-a1/chains/list_entries__list_id=3001.json"
        );
        assert_eq!(sync_manifest_key("", "x"), "_manifests/sync_id=x/sync.json");
        assert_eq!(
            job_key("p", s, &job, JobState::Pending),
            "p/_jobs/sync_id=20260101T000000Z-a1/pending/list_entries__list_id=3001-000007.json"
        );
        assert_eq!(
            job_key("", s, &job, JobState::Failed),
            "_jobs/sync_id=20260101T000000Z-a1/failed/list_entries__list_id=3001-000007.json"
        );
        assert_eq!(run_key("", "x"), "_jobs/sync_id=x/run.json");
    }

    #[test]
    fn incremental_chains_have_their_own_keys_and_times() {
        let notes = crate::catalog::stream("notes").unwrap();
        let roots = Job::roots("s1", notes, Some(1_700_000_000));
        let keys: Vec<String> = roots
            .iter()
            .map(|j| batch_key("out", "notes", notes, j, Format::Parquet))
            .collect();
        assert_eq!(
            keys,
            [
                "out/notes/sync_id=s1/part-created-000000.parquet",
                "out/notes/sync_id=s1/part-updated-000000.parquet"
            ]
        );
        assert_ne!(
            chain_manifest_key("out", notes, &roots[0]),
            chain_manifest_key("out", notes, &roots[1])
        );

        // Since the latest complete sync that had the stream, less the clock margin.
        let manifest = |id: &str, started: &str, streams: &[&str]| SyncManifest {
            version: 1,
            sync_id: id.into(),
            format: "parquet".into(),
            started_at: started.into(),
            finished_at: started.into(),
            streams: streams
                .iter()
                .map(|s| StreamSummary {
                    stream: s.to_string(),
                    chains: 1,
                    pages: 1,
                    records: 1,
                    tally: Tally {
                        requests: 1,
                        ..Tally::default()
                    },
                    tables: vec![],
                    since: None,
                })
                .collect(),
            quota: None,
        };
        let history = [
            manifest(
                "20260101T000000Z-a",
                "2026-01-01T00:00:00Z",
                &["persons", "interactions", "notes"],
            ),
            manifest(
                "20260201T000000Z-b",
                "2026-02-01T00:00:00Z",
                &["notes", "note_replies"],
            ),
        ];
        let streams: Vec<&Stream> = [
            "persons",
            "interactions",
            "notes",
            "note_replies",
            "reminders",
        ]
        .iter()
        .map(|n| crate::catalog::stream(n).unwrap())
        .collect();
        let since = incremental_since(&streams, &history);
        assert_eq!(
            since,
            BTreeMap::from([
                (
                    "interactions".to_string(),
                    "2025-12-31T23:50:00Z".to_string()
                ),
                (
                    "note_replies".to_string(),
                    "2026-01-31T23:50:00Z".to_string()
                ),
                ("notes".to_string(), "2026-01-31T23:50:00Z".to_string()),
            ])
        );
        // Persons' root chain carries interactions' time; reminders' none.
        let persons = crate::catalog::stream("persons").unwrap();
        let reminders = crate::catalog::stream("reminders").unwrap();
        assert_eq!(
            root_since(persons, &since),
            crate::table::parse_timestamp("2025-12-31T23:50:00Z").map(|us| us / 1_000_000)
        );
        assert_eq!(root_since(reminders, &since), None);
        assert!(incremental_since(&streams, &[]).is_empty());
    }

    #[test]
    fn a_sync_summary_adds_up_its_chain_manifests() {
        let chain = |stream: &str, pages, records| ChainManifest {
            version: 1,
            sync_id: "s".into(),
            stream: stream.into(),
            parents: BTreeMap::new(),
            pages,
            records,
            // Each page one request, and one retry (a 429) per chain.
            tally: Tally {
                requests: pages as u64 + 1,
                retries: 1,
                throttled: 1,
            },
            format: "parquet".into(),
            tables: vec![],
        };
        let streams = [
            catalog::stream("lists").unwrap(),
            catalog::stream("list_entries").unwrap(),
        ];
        let sum = summarize(
            &streams,
            &[
                chain("list_entries", 2, 150),
                chain("list_entries", 1, 0),
                chain("lists", 1, 3),
            ],
        );
        assert_eq!(
            sum.iter()
                .map(|s| (s.stream.as_str(), s.chains, s.pages, s.records))
                .collect::<Vec<_>>(),
            vec![("lists", 1, 1, 3), ("list_entries", 2, 3, 150)]
        );
        assert_eq!(
            sum.iter()
                .map(|s| (s.tally.requests, s.tally.retries, s.tally.throttled))
                .collect::<Vec<_>>(),
            vec![(2, 1, 1), (5, 2, 2)]
        );
        assert_eq!(
            sum[1].tables,
            vec!["list_entries", "list_entries_field_values"]
        );
    }
}
