//! `load duckdb --from s3://…`: the objects a DuckDB load reads, copied from the store into a
//! local folder with the same keys, so the load runs the very SQL it runs on a directory
//! (`duckdb_load`), with no DuckDB extension to reach S3 (httpfs is downloaded at run time,
//! which a locked-down or offline machine cannot do).
//!
//! Only what the load reads is copied: every sync manifest (small), the batches of the syncs
//! each table is built from (the latest full sync of its stream and the incremental ones
//! after it), and the webhook changes. Sixteen objects are read at a time.

use super::plan::syncs_of;
use affinity_sync_core::layout::{self, SyncManifest};
use affinity_sync_io::{ObjectSink, journal};
use anyhow::{Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::BTreeSet;
use std::path::Path;

/// What was copied.
pub struct Staged {
    pub objects: usize,
    pub bytes: u64,
}

/// The keys a load of the latest complete sync in `sink` reads.
async fn needed<S: ObjectSink>(sink: &S, from: &str) -> Result<BTreeSet<String>> {
    let history: Vec<SyncManifest> = journal::history(sink).await?;
    let latest = history.last().with_context(|| {
        format!("no complete sync in {from}: run `affinity-sync sync --out {from}` first")
    })?;
    let mut keys: BTreeSet<String> = history
        .iter()
        .map(|m| layout::sync_manifest_key("", &m.sync_id))
        .collect();
    for s in &latest.streams {
        for sync in syncs_of(&history, &s.stream, from)? {
            for table in &s.tables {
                keys.extend(
                    sink.list(&format!("{table}/sync_id={}/", sync.sync_id))
                        .await?,
                );
            }
        }
    }
    // Webhook changes: the change records, tombstones and refreshed rows (not the queue of
    // refreshes still to run, which a load does not read).
    let refresh = layout::changes_dir("", "_refresh");
    keys.extend(
        sink.list(&layout::changes_dir("", ""))
            .await?
            .into_iter()
            .filter(|k| !k.starts_with(&refresh)),
    );
    Ok(keys)
}

/// Copies into `dir` what a DuckDB load of `sink` (named `from`) reads.
pub async fn stage<S: ObjectSink>(sink: &S, from: &str, dir: &Path) -> Result<Staged> {
    let keys = needed(sink, from).await?;
    let sizes: Vec<u64> = futures_util::stream::iter(&keys)
        .map(|key| async move {
            let bytes = sink
                .get(key)
                .await?
                .with_context(|| format!("{from}: {key} was removed while it was being read"))?;
            let path = dir.join(key);
            tokio::fs::create_dir_all(path.parent().expect("keys have a folder"))
                .await
                .with_context(|| format!("creating {}", dir.display()))?;
            tokio::fs::write(&path, &bytes)
                .await
                .with_context(|| format!("writing {}", path.display()))?;
            anyhow::Ok(bytes.len() as u64)
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    Ok(Staged {
        objects: sizes.len(),
        bytes: sizes.iter().sum(),
    })
}
