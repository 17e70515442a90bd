//! What the dashboard reads from the store for a page: the same report `status --json`
//! prints (the latest syncs, the newest in detail, webhook changes waiting) and the
//! manifests of the complete syncs, read afresh for every page.

use crate::ops::status::{self, Report, SyncStatus};
use crate::ops::store::Store;
use affinity_sync_core::layout::SyncManifest;
use affinity_sync_io::sink::ObjectSink;
use anyhow::Result;

/// The syncs the history lists at most, newest first.
const HISTORY: usize = 200;

pub struct Snapshot {
    /// The latest syncs, newest first, as `status --json` reports them.
    pub report: Report,
    /// The newest sync in detail (its streams, its parked pages), as `status <SYNC_ID>`.
    pub latest: Option<SyncStatus>,
    /// Every complete sync's manifest, oldest first.
    pub complete: Vec<SyncManifest>,
}

/// Reads the snapshot from `store`, named `label` (`--from` as typed) in the commands the
/// report suggests.
pub async fn take(store: &Store, label: &str, store_args: &str) -> Result<Snapshot> {
    crate::with_sink!(store, s => read(s, label, store_args).await)
}

async fn read<S: ObjectSink>(sink: &S, label: &str, store_args: &str) -> Result<Snapshot> {
    let options = |sync_id: Option<String>, last: usize| status::Options {
        sync_id,
        last,
        stalled_after_secs: 20 * 60,
        store_args: store_args.to_string(),
        store: label.to_string(),
        now: affinity_sync_io::now_unix(),
    };
    let report = status::report(sink, &options(None, HISTORY)).await?;
    let latest = match report.syncs.first() {
        Some(s) => status::report(sink, &options(Some(s.sync_id.clone()), 1))
            .await?
            .syncs
            .into_iter()
            .next(),
        None => None,
    };
    let complete = affinity_sync_io::journal::history(sink).await?;
    Ok(Snapshot {
        report,
        latest,
        complete,
    })
}

/// A stream whose full read brought fewer records than the full read before it, by more
/// than a tenth: the first sign of lost data or a revoked permission.
#[derive(Debug, PartialEq)]
pub struct Fall {
    pub stream: String,
    pub sync_id: String,
    pub records: u64,
    pub previous_sync_id: String,
    pub previous_records: u64,
}

/// Every fall in `complete` (oldest first). Only full reads are compared: an incremental
/// read brings what changed, which is fewer by design.
pub fn falls(complete: &[SyncManifest]) -> Vec<Fall> {
    let mut last: std::collections::BTreeMap<&str, (&str, u64)> = Default::default();
    let mut out = vec![];
    for m in complete {
        for s in m.streams.iter().filter(|s| s.since.is_none()) {
            if let Some(&(previous, before)) = last.get(s.stream.as_str())
                && s.records * 10 < before * 9
            {
                out.push(Fall {
                    stream: s.stream.clone(),
                    sync_id: m.sync_id.clone(),
                    records: s.records,
                    previous_sync_id: previous.to_string(),
                    previous_records: before,
                });
            }
            last.insert(&s.stream, (&m.sync_id, s.records));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use affinity_sync_core::layout::StreamSummary;

    fn sync(id: &str, counts: &[(&str, u64, bool)]) -> SyncManifest {
        SyncManifest {
            version: 1,
            sync_id: id.into(),
            format: "parquet".into(),
            started_at: String::new(),
            finished_at: String::new(),
            streams: counts
                .iter()
                .map(|&(stream, records, incremental)| StreamSummary {
                    stream: stream.into(),
                    chains: 1,
                    pages: 1,
                    records,
                    tally: Default::default(),
                    tables: vec![],
                    since: incremental.then(|| "2026-01-01T00:00:00Z".into()),
                })
                .collect(),
            quota: None,
        }
    }

    #[test]
    fn a_full_read_more_than_a_tenth_below_the_previous_one_is_a_fall() {
        let history = [
            sync("a", &[("persons", 100, false), ("notes", 50, false)]),
            // Incremental: fewer by design, and not what the next full read is compared with.
            sync("b", &[("persons", 3, true), ("notes", 45, false)]),
            sync("c", &[("persons", 89, false), ("notes", 40, false)]),
        ];
        assert_eq!(
            falls(&history),
            vec![
                Fall {
                    stream: "persons".into(),
                    sync_id: "c".into(),
                    records: 89,
                    previous_sync_id: "a".into(),
                    previous_records: 100,
                },
                // 45 → 40 is a ninth less: more than a tenth.
                Fall {
                    stream: "notes".into(),
                    sync_id: "c".into(),
                    records: 40,
                    previous_sync_id: "b".into(),
                    previous_records: 45,
                },
            ]
        );
        // 50 → 45 is exactly a tenth: not a fall.
        assert!(falls(&history[..2]).is_empty());
    }
}
