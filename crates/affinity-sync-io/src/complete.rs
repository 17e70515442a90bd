//! The end of a sync: once no page is pending or parked, the sync manifest (`sync.json`) is
//! added up from the chain manifests and the journal is removed. Loaders read only syncs
//! that have one.

use crate::journal;
use crate::sink::ObjectSink;
use affinity_sync_core::catalog::{self, Stream};
use affinity_sync_core::layout::{self, ChainManifest, JobState, SyncManifest, SyncRun};
use anyhow::{Context, Result, anyhow};

/// Writes the sync manifest of `run` from its chain manifests, then removes its journal.
/// Writing it twice (two drivers finishing at once, a retry) writes the same totals.
pub async fn write_manifest<S: ObjectSink>(sink: &S, run: &SyncRun) -> Result<SyncManifest> {
    let streams: Vec<&'static Stream> = run
        .streams
        .iter()
        .map(|n| {
            catalog::stream(n)
                .ok_or_else(|| anyhow!("sync {} names unknown stream {n:?}", run.sync_id))
        })
        .collect::<Result<_>>()?;
    let mut chains: Vec<ChainManifest> = vec![];
    for key in sink.list(&layout::chains_dir("", &run.sync_id)).await? {
        if let Some(bytes) = sink.get(&key).await? {
            chains.push(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("the chain manifest {key} is unreadable"))?,
            );
        }
    }
    let manifest = SyncManifest {
        version: 1,
        sync_id: run.sync_id.clone(),
        format: run.format.clone(),
        started_at: run.started_at.clone(),
        finished_at: crate::now_rfc3339(),
        streams: layout::summarize(&streams, &chains)
            .into_iter()
            .map(|mut s| {
                s.since = run.since.get(&s.stream).cloned();
                s
            })
            .collect(),
        quota: run.quota.clone(),
    };
    let key = layout::sync_manifest_key("", &run.sync_id);
    // One line: warehouses that read JSON an object a line (BigQuery's external tables,
    // `ddl --views`) read it as it is.
    let mut bytes = serde_json::to_vec(&manifest)?;
    bytes.push(b'\n');
    sink.put(&key, &bytes)
        .await
        .with_context(|| format!("writing {key}"))?;
    journal::close(sink, "", &run.sync_id).await?;
    Ok(manifest)
}

/// Completes sync `sync_id` if nothing of it is left: no pending page, no parked page, and
/// its root jobs were queued. `Ok(None)` when work remains or another driver completed it.
/// Safe to call from concurrent drivers: a job's children are journaled before the job is
/// acknowledged, so "nothing pending" is only ever seen after the last page is written.
pub async fn if_done<S: ObjectSink>(sink: &S, sync_id: &str) -> Result<Option<SyncManifest>> {
    let pending = sink
        .list(&layout::job_state_dir("", sync_id, JobState::Pending))
        .await?;
    if !pending.is_empty() {
        return Ok(None);
    }
    let failed = sink
        .list(&layout::job_state_dir("", sync_id, JobState::Failed))
        .await?;
    if !failed.is_empty() {
        return Ok(None);
    }
    let Some(run) = journal::load_run(sink, "", sync_id).await? else {
        return Ok(None); // completed by another driver
    };
    if !run.seeded {
        return Ok(None);
    }
    write_manifest(sink, &run).await.map(Some)
}
