//! The job queue of a local sync, written down in the output store (`_jobs/`, see `layout`).
//!
//! The in-process queue is fast but dies with the process; this journal is what survives.
//! A job is written as pending before the page that produced it is acknowledged, and its
//! entry is removed only after its own batches (and next jobs) are written. So at any crash
//! point the pending entries are a superset of the unfinished pages, and re-running a page
//! rewrites the same objects: nothing is lost and nothing is duplicated.

use crate::sink::ObjectSink;
use affinity_sync_core::catalog::{self, Stream};
use affinity_sync_core::job::JobSecret;
use affinity_sync_core::layout::{self, FailedJob, Home, JobState, SyncManifest, SyncRun};
use affinity_sync_core::{Format, Job};
use anyhow::{Context, Result, anyhow};
use std::collections::BTreeMap;

fn key(prefix: &str, job: &Job, state: JobState) -> Result<String> {
    Ok(layout::job_key(prefix, job.stream()?, job, state))
}

/// Queues `jobs` durably (signed, when a job secret is configured).
pub async fn enqueue<S: ObjectSink>(
    sink: &S,
    prefix: &str,
    jobs: &[Job],
    secret: Option<&JobSecret>,
) -> Result<()> {
    for job in jobs {
        let key = key(prefix, job, JobState::Pending)?;
        sink.put(&key, job.encode_for_queue(secret).as_bytes())
            .await
            .with_context(|| format!("queueing {key}"))?;
    }
    Ok(())
}

/// Marks `job` done: its batches and next jobs are written.
pub async fn ack<S: ObjectSink>(sink: &S, prefix: &str, job: &Job) -> Result<()> {
    sink.delete(&key(prefix, job, JobState::Pending)?).await
}

/// Parks `job` after it failed for good, with the reason, where `resume` will find it.
pub async fn park<S: ObjectSink>(sink: &S, prefix: &str, failed: &FailedJob) -> Result<()> {
    let key = key(prefix, &failed.job, JobState::Failed)?;
    let bytes = serde_json::to_vec_pretty(failed).expect("failed job json");
    sink.put(&key, &bytes)
        .await
        .with_context(|| format!("parking {key}"))?;
    ack(sink, prefix, &failed.job).await
}

/// Reads a journal entry strictly: the journal is input like any queue message, and with a
/// job secret only entries this deployment signed are accepted.
fn decode(key: &str, bytes: &[u8], state: JobState, secret: Option<&JobSecret>) -> Result<Job> {
    let job = match state {
        JobState::Pending => Job::decode_from_queue(bytes, secret).map_err(|e| anyhow!(e)),
        JobState::Failed => serde_json::from_slice::<FailedJob>(bytes)
            .map_err(|e| anyhow!("not a parked job: {e}"))
            .and_then(|f| {
                Job::decode_from_queue(f.queued.as_bytes(), secret).map_err(|e| anyhow!(e))
            }),
    };
    job.with_context(|| format!("the job journal entry {key} is unreadable; delete it or the sync"))
}

/// The jobs of sync `sync` in `state`.
pub async fn jobs<S: ObjectSink>(
    sink: &S,
    prefix: &str,
    sync: &str,
    state: JobState,
    secret: Option<&JobSecret>,
) -> Result<Vec<Job>> {
    let mut out = vec![];
    for key in sink
        .list(&layout::job_state_dir(prefix, sync, state))
        .await?
    {
        if let Some(bytes) = sink.get(&key).await? {
            let job = decode(&key, &bytes, state, secret)?;
            anyhow::ensure!(
                job.sync == sync,
                "the job journal entry {key} belongs to sync {}, not {sync}",
                job.sync
            );
            out.push(job);
        }
    }
    Ok(out)
}

/// The parked jobs of sync `sync`, with their reasons.
pub async fn failures<S: ObjectSink>(sink: &S, prefix: &str, sync: &str) -> Result<Vec<FailedJob>> {
    let mut out = vec![];
    for key in sink
        .list(&layout::job_state_dir(prefix, sync, JobState::Failed))
        .await?
    {
        if let Some(bytes) = sink.get(&key).await? {
            out.push(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("the parked job {key} is unreadable"))?,
            );
        }
    }
    Ok(out)
}

/// Moves the parked jobs of `sync` back to pending, for another try.
pub async fn unpark<S: ObjectSink>(
    sink: &S,
    prefix: &str,
    sync: &str,
    secret: Option<&JobSecret>,
) -> Result<usize> {
    let parked = jobs(sink, prefix, sync, JobState::Failed, secret).await?;
    for job in &parked {
        enqueue(sink, prefix, std::slice::from_ref(job), secret).await?;
        sink.delete(&key(prefix, job, JobState::Failed)?).await?;
    }
    Ok(parked.len())
}

/// A new sync of `streams` in `format`, starting now, under a fresh id (the time and 16
/// random bits: two syncs started in the same second still differ). `since`: the streams to
/// read incrementally (`layout::incremental_since`); `home`: who runs it.
pub fn new_run(
    streams: &[&'static Stream],
    format: Format,
    since: BTreeMap<String, String>,
    home: Home,
) -> SyncRun {
    let unix = crate::now_unix();
    SyncRun {
        version: 1,
        sync_id: affinity_sync_core::job::sync_id(unix, &format!("{:04x}", rand::random::<u16>())),
        format: format.name().into(),
        streams: streams.iter().map(|s| s.name.to_string()).collect(),
        started_at: crate::now_rfc3339(),
        seeded: false,
        since,
        home: Some(home),
        quota: None,
    }
}

/// The manifests of every complete sync in `sink`, oldest first: what an incremental sync
/// builds on. One delimited listing of `_manifests/` (not every chain manifest below it) and
/// one GET per sync: a sync without `sync.json` (unfinished) is not one.
pub async fn history<S: ObjectSink>(sink: &S) -> Result<Vec<SyncManifest>> {
    let mut out = vec![];
    for folder in sink.folders("_manifests/").await? {
        let Some(id) = folder.strip_prefix("sync_id=") else {
            continue;
        };
        let key = layout::sync_manifest_key("", id);
        if let Some(bytes) = sink.get(&key).await? {
            out.push(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("the sync manifest {key} is unreadable"))?,
            );
        }
    }
    layout::sort_by_start(&mut out);
    Ok(out)
}

/// The first page of every root stream of `run` (the streams that fan out from none).
pub fn root_jobs(run: &SyncRun) -> Result<Vec<Job>> {
    let mut roots = vec![];
    for name in &run.streams {
        let stream = catalog::stream(name)
            .ok_or_else(|| anyhow!("sync {} names unknown stream {name:?}", run.sync_id))?;
        if stream.parent.is_none() {
            let since = layout::root_since(stream, &run.since);
            roots.extend(Job::roots(&run.sync_id, stream, since));
        }
    }
    Ok(roots)
}

pub async fn save_run<S: ObjectSink>(sink: &S, prefix: &str, run: &SyncRun) -> Result<()> {
    let key = layout::run_key(prefix, &run.sync_id);
    sink.put(&key, &serde_json::to_vec_pretty(run).expect("run json"))
        .await
        .with_context(|| format!("writing {key}"))
}

pub async fn load_run<S: ObjectSink>(
    sink: &S,
    prefix: &str,
    sync: &str,
) -> Result<Option<SyncRun>> {
    let key = layout::run_key(prefix, sync);
    match sink.get(&key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{key} is unreadable")),
    }
}

/// The sync ids that have a journal (started, not finished), oldest first.
pub async fn unfinished<S: ObjectSink>(sink: &S, prefix: &str) -> Result<Vec<String>> {
    let mut ids: Vec<String> = sink
        .list(&layout::all_jobs_dir(prefix))
        .await?
        .iter()
        .filter_map(|k| {
            let rest = k.strip_prefix(&layout::all_jobs_dir(prefix))?;
            let (folder, file) = rest.split_once('/')?;
            (file == "run.json")
                .then(|| folder.strip_prefix("sync_id=").map(str::to_string))
                .flatten()
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// Removes what is left of a finished sync's journal.
pub async fn close<S: ObjectSink>(sink: &S, prefix: &str, sync: &str) -> Result<()> {
    for key in sink.list(&layout::jobs_dir(prefix, sync)).await? {
        sink.delete(&key).await?;
    }
    Ok(())
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::sink::LocalDir;

    #[tokio::test]
    async fn history_is_the_complete_syncs_oldest_first() {
        let root = std::env::temp_dir().join(format!("affinity-history-{}", std::process::id()));
        let d = LocalDir::open(&root).unwrap();
        let manifest = |id: &str, started: &str| SyncManifest {
            version: 1,
            sync_id: id.into(),
            format: "parquet".into(),
            started_at: started.into(),
            finished_at: started.into(),
            streams: vec![],
            quota: None,
        };
        for m in [
            manifest("20260102T000000Z-b", "2026-01-02T00:00:00Z"),
            manifest("20260101T000000Z-a", "2026-01-01T00:00:00Z"),
        ] {
            let key = layout::sync_manifest_key("", &m.sync_id);
            d.put(&key, &serde_json::to_vec(&m).unwrap()).await.unwrap();
        }
        // An unfinished sync has chain manifests and no sync.json: not history.
        d.put(
            "_manifests/sync_id=20260103T000000Z-c/chains/persons.json",
            b"{}",
        )
        .await
        .unwrap();
        let ids: Vec<String> = history(&d)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.sync_id)
            .collect();
        assert_eq!(ids, ["20260101T000000Z-a", "20260102T000000Z-b"]);
        std::fs::remove_dir_all(&root).ok();
    }
}
