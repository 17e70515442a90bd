//! Where objects go: every key is built here, from the job, so re-processing a job rewrites
//! the same objects and nothing else.
//!
//! ```text
//! <prefix>/<table>/sync_id=<sync>/part-[<parent>-<id>-]<page>.<parquet|ndjson.gz>
//! <prefix>/_manifests/sync_id=<sync>/chains/<stream>[__<parent>=<id>].json   a finished chain
//! <prefix>/_manifests/sync_id=<sync>/sync.json                              the finished sync
//! ```
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

/// The completion manifest of one chain (one stream, one set of parent ids).
pub fn chain_manifest_key(prefix: &str, stream: &Stream, job: &Job) -> String {
    let suffix: String = stream
        .parent_keys()
        .iter()
        .filter_map(|k| job.parents.get(*k).map(|v| format!("__{k}={v}")))
        .collect();
    format!(
        "{}/chains/{}{suffix}.json",
        manifests_dir(prefix, &job.sync),
        stream.name
    )
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
    }
}
