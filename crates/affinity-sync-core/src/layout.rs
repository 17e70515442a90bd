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
use crate::job::Job;
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

/// `list_id-3001-` for a chain under list 3001, in the order of the stream's path.
fn chain_name(stream: &Stream, job: &Job) -> String {
    stream
        .parent_keys()
        .iter()
        .filter_map(|k| job.parents.get(*k).map(|v| format!("{k}-{v}-")))
        .collect()
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
    let suffix: String = stream
        .parent_keys()
        .iter()
        .filter_map(|k| job.parents.get(*k).map(|v| format!("__{k}={v}")))
        .collect();
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
                records: mine.map(|c| c.records).sum(),
                tables: s.tables.iter().map(|t| t.name.to_string()).collect(),
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
    pub tables: Vec<String>,
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
    fn a_sync_summary_adds_up_its_chain_manifests() {
        let chain = |stream: &str, pages, records| ChainManifest {
            version: 1,
            sync_id: "s".into(),
            stream: stream.into(),
            parents: BTreeMap::new(),
            pages,
            records,
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
            sum[1].tables,
            vec!["list_entries", "list_entries_field_values"]
        );
    }
}
