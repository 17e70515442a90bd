//! `affinity-sync status`: the state of the syncs in a store, read from what every home
//! already writes (the sync manifests, the chain manifests and the job journal), so it works
//! the same for a sync the CLI, the Lambda function or the component ran.
//!
//! What it reads, and so what it costs on S3 (`store_requests` in the report counts them):
//! - two delimited listings for the sync ids (`_manifests/` and `_jobs/` folders);
//! - a complete sync: one GET (`sync.json`);
//! - an unfinished sync: one listing of its journal (pending and parked pages are counted
//!   from their key names, and the keys' times give its last activity), one GET of
//!   `run.json`, one listing of its chain manifests, one GET per finished chain and one per
//!   parked page (its reason, and what its chain wrote before it);
//! - webhook changes: three listings (events since the latest complete sync, started from
//!   that key; pending and failed refreshes), and nothing per event.
//!
//! A listing is one request per 1,000 keys. No page of a sync writes anything extra for
//! this: the tally of requests travels in the jobs into the chain manifests, and the
//! journal's key names and times are the rest.
//!
//! Nothing is written: the store is read through [`ReadOnly`], which refuses writes.

use affinity_sync_core::job::Tally;
use affinity_sync_core::layout::{
    self, ChainManifest, FailedJob, Home, JobState, StreamSummary, SyncManifest, SyncRun,
};
use affinity_sync_io::ObjectSink;
use affinity_sync_io::sink::Listed;
use anyhow::{Result, anyhow, bail};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// The version of the `--json` object (docs/status.md). Fields are only ever added.
pub const JSON_VERSION: u32 = 1;

/// What to report.
pub struct Options {
    /// One sync in detail, or (`None`) the latest syncs.
    pub sync_id: Option<String>,
    /// How many syncs the overview shows, newest first.
    pub last: usize,
    /// A sync with pending pages and nothing written for this long has stopped: longer than
    /// any page takes, retries' waits included (the queue-carried homes wait up to 15
    /// minutes before a retry).
    pub stalled_after_secs: i64,
    /// The store as the user named it, with the options to reach it (`--out s3://… --s3-endpoint …`),
    /// for the commands `status` prints.
    pub store_args: String,
    /// The store as the user named it.
    pub store: String,
    /// Now, in Unix seconds.
    pub now: i64,
}

/// The whole report: what `--json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub store: String,
    pub checked_at: String,
    /// `ok` (exit 0): the latest sync is complete, or running with no parked page;
    /// `attention` (exit 1): it stopped, or has parked pages.
    pub health: &'static str,
    pub syncs: Vec<SyncStatus>,
    pub changes: Changes,
    pub store_requests: StoreRequests,
}

/// One sync.
#[derive(Debug, Serialize)]
pub struct SyncStatus {
    pub sync_id: String,
    /// `full`, or `incremental` (some streams read only what changed since a given time).
    pub kind: &'static str,
    /// `complete`, `running` or `stopped`.
    pub state: &'static str,
    /// Why it is stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `cli`, `lambda` or `component`, when the sync recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_on: Option<String>,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The latest write of an unfinished sync (a page acknowledged, a chain finished).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<String>,
    /// Start to finish, or to the last activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    pub pages: Pages,
    /// Records written: of the whole sync when complete; otherwise of its finished chains
    /// and of the chains of its parked pages (a chain still running is counted when it
    /// finishes: reading each pending page would cost a request apiece).
    pub records: u64,
    /// Requests to Affinity, the retries among them and the 429 answers among them, as the
    /// chains recorded them (finished chains of an unfinished sync).
    #[serde(flatten)]
    pub tally: Tally,
    /// Per stream (`status <SYNC_ID>` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<Vec<StreamStatus>>,
    /// The parked pages and why (`status <SYNC_ID>` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parked: Option<Vec<Parked>>,
    /// The command that finishes the sync, when it needs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

#[derive(Debug, Serialize, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pages {
    pub done: u64,
    pub pending: u64,
    pub parked: u64,
}

#[derive(Debug, Serialize, Default)]
pub struct StreamStatus {
    pub stream: String,
    /// Chains finished (one per stream, or per parent such as a list, or per time filter).
    pub chains_done: u64,
    pub pages: Pages,
    pub records: u64,
    #[serde(flatten)]
    pub tally: Tally,
    /// Read incrementally: only what changed since then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Parked {
    pub stream: String,
    /// The parent ids of its chain (`{"list_id": 3001}`), if any.
    pub parents: BTreeMap<String, i64>,
    pub page: u32,
    pub error: String,
    pub attempts: u32,
    pub failed_at: String,
}

/// Webhook changes waiting to be applied on the latest complete sync.
#[derive(Debug, Serialize, Default)]
pub struct Changes {
    /// Events received that the latest complete sync does not hold (sent at or after its
    /// start less the clock margin loaders use); all events when no sync is complete.
    pub events_since_latest_sync: u64,
    /// The sync they are counted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_complete_sync: Option<String>,
    pub refreshes_pending: u64,
    pub refreshes_failed: u64,
    /// When the oldest pending refresh's event was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_pending_sent_at: Option<String>,
}

/// The requests this report made to the store.
#[derive(Debug, Serialize, Default)]
pub struct StoreRequests {
    /// Listings (each one request per 1,000 keys on S3).
    pub lists: u64,
    pub gets: u64,
}

/// The store, read only, with its requests counted.
pub struct ReadOnly<'a, S> {
    inner: &'a S,
    lists: AtomicU64,
    gets: AtomicU64,
}

impl<'a, S: ObjectSink> ReadOnly<'a, S> {
    pub fn new(inner: &'a S) -> Self {
        ReadOnly {
            inner,
            lists: AtomicU64::new(0),
            gets: AtomicU64::new(0),
        }
    }

    fn requests(&self) -> StoreRequests {
        StoreRequests {
            lists: self.lists.load(Ordering::Relaxed),
            gets: self.gets.load(Ordering::Relaxed),
        }
    }
}

impl<S: ObjectSink> ObjectSink for ReadOnly<'_, S> {
    async fn put(&self, key: &str, _: &[u8]) -> Result<()> {
        bail!("status writes nothing (asked to write {key})")
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        bail!("status removes nothing (asked to remove {key})")
    }
    async fn list_after(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<Listed>> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list_after(prefix, start_after).await
    }
    async fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.folders(prefix).await
    }
}

fn rfc3339(unix: i64) -> String {
    affinity_sync_core::table::format_timestamp(unix * 1_000_000)
}

fn unix(at: &str) -> Option<i64> {
    affinity_sync_core::table::parse_timestamp(at).map(|us| us.div_euclid(1_000_000))
}

/// The sync ids of the `sync_id=<id>` folders under `folder`; anything else there is not
/// ours.
async fn sync_ids<S: ObjectSink>(sink: &S, folder: &str, store: &str) -> Result<Vec<String>> {
    let mut ids = vec![];
    for name in sink.folders(folder).await? {
        match name.strip_prefix("sync_id=") {
            Some(id) if affinity_sync_core::job::valid_sync_id(id) => ids.push(id.to_string()),
            _ => {
                return Err(anyhow!(
                    "{store}: {folder}{name}/ is not a folder affinity-sync writes (it writes \
                     {folder}sync_id=<id>/): is this the --out of a sync?"
                ));
            }
        }
    }
    Ok(ids)
}

async fn read_json<S: ObjectSink, T: serde::de::DeserializeOwned>(
    sink: &S,
    key: &str,
    what: &str,
    store: &str,
) -> Result<Option<T>> {
    match sink.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            anyhow!(
                "{store}: {key} is not a readable {what} ({e}); it was changed by something \
                 other than affinity-sync: restore it, or remove that sync's objects"
            )
        }),
    }
}

/// The manifest of sync `id`, if it is complete.
async fn sync_manifest<S: ObjectSink>(
    sink: &S,
    id: &str,
    store: &str,
) -> Result<Option<SyncManifest>> {
    let key = layout::sync_manifest_key("", id);
    read_json(sink, &key, "sync manifest", store).await
}

/// Whether two sync ids began in the same second (`20261205T233916Z-…`).
fn same_second(a: &str, b: &str) -> bool {
    a.get(..16).is_some_and(|t| b.get(..16) == Some(t))
}

/// A journal key's chain and page: `<chain>-<page>.json`.
fn chain_and_page(key: &str) -> Option<(&str, u32)> {
    let file = key.rsplit('/').next()?.strip_suffix(".json")?;
    let (chain, page) = file.rsplit_once('-')?;
    Some((chain, page.parse().ok()?))
}

/// The stream of a chain id (`list_entries__list_id=3001` → `list_entries`).
fn stream_of(chain: &str) -> &str {
    chain.split("__").next().unwrap_or(chain)
}

/// Reports on the store `sink`.
pub async fn report<S: ObjectSink>(sink: &S, opts: &Options) -> Result<Report> {
    let sink = ReadOnly::new(sink);
    let store = opts.store.as_str();
    let complete_ids: BTreeSet<String> = sync_ids(&sink, "_manifests/", store)
        .await?
        .into_iter()
        .collect();
    let journal_ids: BTreeSet<String> = sync_ids(&sink, "_jobs/", store)
        .await?
        .into_iter()
        .collect();
    // Newest first: ids begin with their start time.
    let all: BTreeSet<&String> = complete_ids.union(&journal_ids).collect();
    let ids: Vec<String> = all.into_iter().rev().cloned().collect();
    if ids.is_empty() {
        let top = sink.folders("").await?;
        return Err(if top.is_empty() {
            anyhow!(
                "{store} holds no syncs (nothing under it): check the location, or run \
                 `affinity-sync sync --out {store}` first"
            )
        } else {
            anyhow!(
                "{store} holds no affinity-sync syncs (no _manifests/ or _jobs/; it has {}): \
                 check the location",
                top.iter()
                    .take(5)
                    .map(|t| format!("{t}/"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }

    let mut manifests: BTreeMap<String, Option<SyncManifest>> = BTreeMap::new();
    let mut syncs = vec![];
    let chosen: Vec<String> = match &opts.sync_id {
        Some(id) if ids.contains(id) => vec![id.clone()],
        Some(id) => {
            return Err(anyhow!(
                "{store} has no sync {id}; the latest is {} (`affinity-sync status` lists them)",
                ids[0]
            ));
        }
        None => {
            // Ids order by their start second only (then a random suffix): take the syncs of
            // the last second in full, order by start time, and keep `last`.
            let last = opts.last.max(1).min(ids.len());
            let boundary = &ids[last - 1];
            ids.iter()
                .enumerate()
                .take_while(|(i, id)| *i < last || same_second(id, boundary))
                .map(|(_, id)| id.clone())
                .collect()
        }
    };
    for id in &chosen {
        let manifest = if complete_ids.contains(id) {
            sync_manifest(&sink, id, store).await?
        } else {
            None
        };
        manifests.insert(id.clone(), manifest.clone());
        let detail = opts.sync_id.is_some();
        let status = match manifest {
            Some(m) => complete(&m, detail),
            None => unfinished(&sink, id, detail, opts).await?,
        };
        syncs.push(status);
    }
    syncs.sort_by(|a, b| {
        let at = |s: &SyncStatus| affinity_sync_core::table::parse_timestamp(&s.started_at);
        at(b).cmp(&at(a)).then(b.sync_id.cmp(&a.sync_id))
    });
    syncs.truncate(opts.last.max(1));

    // The latest complete sync, for the webhook changes: read further back if needed (and
    // every complete sync of the same second as the first one found, for its start time).
    let mut latest_complete: Option<SyncManifest> = None;
    for id in ids.iter().filter(|id| complete_ids.contains(*id)) {
        if latest_complete
            .as_ref()
            .is_some_and(|m| !same_second(&m.sync_id, id))
        {
            break;
        }
        let m = match manifests.get(id) {
            Some(m) => m.clone(),
            None => sync_manifest(&sink, id, store).await?,
        };
        let at = |m: &SyncManifest| affinity_sync_core::table::parse_timestamp(&m.started_at);
        if let Some(m) = m
            && latest_complete.as_ref().is_none_or(|l| at(&m) > at(l))
        {
            latest_complete = Some(m);
        }
    }
    let changes = changes(&sink, latest_complete.as_ref()).await?;

    let judged = &syncs[0];
    let healthy =
        judged.state == "complete" || (judged.state == "running" && judged.pages.parked == 0);
    Ok(Report {
        version: JSON_VERSION,
        store: opts.store.clone(),
        checked_at: rfc3339(opts.now),
        health: if healthy { "ok" } else { "attention" },
        syncs,
        changes,
        store_requests: sink.requests(),
    })
}

fn kind(incremental: bool) -> &'static str {
    if incremental { "incremental" } else { "full" }
}

fn stream_status(s: &StreamSummary) -> StreamStatus {
    StreamStatus {
        stream: s.stream.clone(),
        chains_done: s.chains,
        pages: Pages {
            done: s.pages,
            ..Pages::default()
        },
        records: s.records,
        tally: s.tally,
        since: s.since.clone(),
    }
}

fn complete(m: &SyncManifest, detail: bool) -> SyncStatus {
    let sum = |f: fn(&StreamSummary) -> u64| m.streams.iter().map(f).sum();
    let tally = m
        .streams
        .iter()
        .fold(Tally::default(), |t, s| t.plus(s.tally));
    SyncStatus {
        sync_id: m.sync_id.clone(),
        kind: kind(m.streams.iter().any(|s| s.since.is_some())),
        state: "complete",
        reason: None,
        runs_on: None,
        started_at: m.started_at.clone(),
        finished_at: Some(m.finished_at.clone()),
        last_activity: None,
        duration_seconds: match (
            affinity_sync_core::table::parse_timestamp(&m.started_at),
            affinity_sync_core::table::parse_timestamp(&m.finished_at),
        ) {
            (Some(a), Some(b)) => Some(((b - a) as f64 / 1e6 * 10.0).round() / 10.0),
            _ => None,
        },
        pages: Pages {
            done: sum(|s| s.pages),
            ..Pages::default()
        },
        records: sum(|s| s.records),
        tally,
        streams: detail.then(|| m.streams.iter().map(stream_status).collect()),
        parked: detail.then(Vec::new),
        next_step: None,
    }
}

async fn unfinished<S: ObjectSink>(
    sink: &S,
    id: &str,
    detail: bool,
    opts: &Options,
) -> Result<SyncStatus> {
    let store = opts.store.as_str();
    let journal = sink
        .list_after(&format!("{}/", layout::jobs_dir("", id)), None)
        .await?;
    let run_key = layout::run_key("", id);
    let run: Option<SyncRun> = if journal.iter().any(|l| l.key == run_key) {
        read_json(sink, &run_key, "sync run (run.json)", store).await?
    } else {
        None
    };
    let chain_keys = sink.list_after(&layout::chains_dir("", id), None).await?;
    // One GET per finished chain, 16 at a time: a sync that fans out (a chain per list, per
    // note) has thousands.
    let chains: Vec<ChainManifest> = futures_util::stream::iter(&chain_keys)
        .map(|l| read_json::<_, ChainManifest>(sink, &l.key, "chain manifest", store))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    let pending_dir = layout::job_state_dir("", id, JobState::Pending);
    let failed_dir = layout::job_state_dir("", id, JobState::Failed);
    // Open chains: (stream, page) of each pending or parked page.
    let open = |dir: &str| -> Vec<(String, u32)> {
        journal
            .iter()
            .filter(|l| l.key.starts_with(dir))
            .filter_map(|l| chain_and_page(&l.key))
            .map(|(chain, page)| (stream_of(chain).to_string(), page))
            .collect()
    };
    let (pending, parked_pages) = (open(&pending_dir), open(&failed_dir));

    let mut per_stream: BTreeMap<String, StreamStatus> = BTreeMap::new();
    let names: Vec<String> = match &run {
        Some(r) => r.streams.clone(),
        None => vec![],
    };
    for name in &names {
        per_stream.insert(
            name.clone(),
            StreamStatus {
                stream: name.clone(),
                since: run.as_ref().and_then(|r| r.since.get(name).cloned()),
                ..StreamStatus::default()
            },
        );
    }
    for c in &chains {
        let s = per_stream
            .entry(c.stream.clone())
            .or_insert_with(|| StreamStatus {
                stream: c.stream.clone(),
                ..StreamStatus::default()
            });
        s.chains_done += 1;
        s.pages.done += c.pages as u64;
        s.records += c.records;
        s.tally = s.tally.plus(c.tally);
    }
    for (list, parked) in [(&pending, false), (&parked_pages, true)] {
        for (stream, page) in list {
            let s = per_stream
                .entry(stream.clone())
                .or_insert_with(|| StreamStatus {
                    stream: stream.clone(),
                    ..StreamStatus::default()
                });
            // Pages 0 to page - 1 of an open chain are written.
            s.pages.done += *page as u64;
            if parked {
                s.pages.parked += 1;
            } else {
                s.pages.pending += 1;
            }
        }
    }
    // A parked page's job holds what its chain wrote and spent before it: read them (their
    // reasons are needed anyway), so a stopped sync counts those records too.
    let mut parked = vec![];
    for l in journal.iter().filter(|l| l.key.starts_with(&failed_dir)) {
        if let Some(f) = read_json::<_, FailedJob>(sink, &l.key, "parked page", store).await? {
            if let Some(s) = per_stream.get_mut(&f.job.stream) {
                s.records += f.job.records;
                s.tally = s.tally.plus(f.job.tally);
            }
            parked.push(Parked {
                stream: f.job.stream.clone(),
                parents: f.job.parents.clone(),
                page: f.job.page,
                error: f.error,
                attempts: f.attempts,
                failed_at: f.failed_at,
            });
        }
    }
    let streams: Vec<StreamStatus> = per_stream.into_values().collect();
    let total = |f: fn(&StreamStatus) -> u64| streams.iter().map(f).sum::<u64>();
    let pages = Pages {
        done: total(|s| s.pages.done),
        pending: total(|s| s.pages.pending),
        parked: total(|s| s.pages.parked),
    };

    let last = journal
        .iter()
        .chain(chain_keys.iter())
        .filter_map(|l| l.modified)
        .max();
    let started_at = run
        .as_ref()
        .map(|r| r.started_at.clone())
        .unwrap_or_default();
    let idle = last.map(|t| opts.now - t);
    let recent = idle.is_some_and(|i| i <= opts.stalled_after_secs);
    let seeded = run.as_ref().is_some_and(|r| r.seeded);
    let (state, reason) = if run.is_none() {
        (
            "stopped",
            Some(
                "its journal (_jobs/…/run.json) is gone and it has no sync.json: it cannot be \
                 finished; start a new sync"
                    .to_string(),
            ),
        )
    } else if pages.pending > 0 && recent {
        ("running", None)
    } else if pages.pending > 0 {
        let minutes = idle.map(|i| i / 60).unwrap_or(0);
        (
            "stopped",
            Some(format!(
                "{} page(s) pending and nothing written for {minutes} min: whatever ran it \
                 stopped (a crash, a killed process, a spent quota, messages that went to the \
                 dead-letter queue)",
                pages.pending
            )),
        )
    } else if pages.parked > 0 {
        (
            "stopped",
            Some(format!(
                "{} page(s) failed for good and are parked",
                pages.parked
            )),
        )
    } else if !seeded && recent {
        ("running", None)
    } else {
        (
            "stopped",
            Some(if seeded {
                "every page is written but sync.json is not: the process stopped at the very end"
                    .to_string()
            } else {
                "it stopped before its first pages were queued".to_string()
            }),
        )
    };
    let home = run.as_ref().and_then(|r| r.home.clone());
    let next_step = (state == "stopped" || pages.parked > 0)
        .then(|| next_step(id, home.as_ref(), run.is_some(), opts))
        .flatten();

    let parked = detail.then_some(parked);
    Ok(SyncStatus {
        sync_id: id.to_string(),
        kind: kind(run.as_ref().is_some_and(|r| !r.since.is_empty())),
        state,
        reason,
        runs_on: home.map(|h| h.runs_on),
        duration_seconds: match (unix(&started_at), last) {
            (Some(a), Some(b)) => Some((b - a).max(0) as f64),
            _ => None,
        },
        started_at,
        finished_at: None,
        last_activity: last.map(rfc3339),
        pages,
        records: total(|s| s.records),
        tally: streams
            .iter()
            .fold(Tally::default(), |t, s| t.plus(s.tally)),
        streams: detail.then_some(streams),
        parked,
        next_step,
    })
}

/// The command that finishes sync `id`, for the home that runs it.
fn next_step(id: &str, home: Option<&Home>, has_run: bool, opts: &Options) -> Option<String> {
    if !has_run {
        return None;
    }
    let resume = format!("affinity-sync resume {} --sync-id {id}", opts.store_args);
    let Some(home) = home.filter(|h| h.runs_on != "cli") else {
        return Some(resume);
    };
    let arn = home
        .dead_letter_arn
        .clone()
        .or_else(|| home.dead_letter_url.as_deref().and_then(arn_of_queue_url));
    let source = match (arn, &home.dead_letter_url) {
        (Some(arn), _) => arn,
        (None, Some(url)) => format!(
            "\"$(aws sqs get-queue-attributes --queue-url {url} --attribute-names QueueArn \
             --query Attributes.QueueArn --output text)\""
        ),
        (None, None) => return Some(resume),
    };
    Some(format!(
        "aws sqs start-message-move-task --source-arn {source}"
    ))
}

/// `arn:aws:sqs:<region>:<account>:<name>` of an AWS queue URL
/// (`https://sqs.<region>.amazonaws.com/<account>/<name>`); `None` for other endpoints.
fn arn_of_queue_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://sqs.")?;
    let (host, path) = rest.split_once('/')?;
    let region = host.strip_suffix(".amazonaws.com")?;
    let (account, name) = path.trim_end_matches('/').split_once('/')?;
    (account.bytes().all(|b| b.is_ascii_digit()) && !name.contains('/') && !region.contains('.'))
        .then(|| format!("arn:aws:sqs:{region}:{account}:{name}"))
}

async fn changes<S: ObjectSink>(sink: &S, latest: Option<&SyncManifest>) -> Result<Changes> {
    let events_dir = layout::changes_dir("", "events");
    // Change ids begin with the event's send time (Unix seconds), so the events since a
    // time are the keys after `part-<time>`: the listing starts there.
    let after = latest
        .and_then(|m| unix(&m.started_at))
        .map(|started| format!("{events_dir}part-{}", started - layout::CLOCK_SKEW_SECS));
    let events = sink.list_after(&events_dir, after.as_deref()).await?;
    let pending = sink
        .list_after(&layout::refresh_dir("", JobState::Pending), None)
        .await?;
    let failed = sink
        .list_after(&layout::refresh_dir("", JobState::Failed), None)
        .await?;
    let oldest = pending
        .iter()
        .filter_map(|l| {
            let file = l.key.rsplit('/').next()?;
            file.split('-').next()?.parse::<i64>().ok()
        })
        .min();
    Ok(Changes {
        events_since_latest_sync: events.len() as u64,
        latest_complete_sync: latest.map(|m| m.sync_id.clone()),
        refreshes_pending: pending.len() as u64,
        refreshes_failed: failed.len() as u64,
        oldest_pending_sent_at: oldest.map(rfc3339),
    })
}

/// The exit status a report asks for: 0 healthy, 1 needs attention.
pub fn exit_code(report: &Report) -> i32 {
    if report.health == "ok" { 0 } else { 1 }
}

/// `n` with thousands separated: 1,234,567.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds else { return "-".into() };
    let s = s.round() as i64;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A table in plain text, columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// `2026-12-05 23:39:16` of an RFC 3339 time: to the second, for the table.
fn short(at: &str) -> String {
    at.get(..19).unwrap_or(at).replace('T', " ")
}

fn pages_cell(p: &Pages) -> String {
    format!("{}/{}/{}", p.done, p.pending, p.parked)
}

/// The report as text for a person.
pub fn render(report: &Report, detail: bool) -> String {
    let mut out = vec![format!(
        "{}: {} (checked {})",
        report.store,
        if report.health == "ok" {
            "healthy"
        } else {
            "needs attention"
        },
        report.checked_at
    )];
    out.push(String::new());
    let rows: Vec<Vec<String>> = report
        .syncs
        .iter()
        .map(|s| {
            vec![
                s.sync_id.clone(),
                s.kind.to_string(),
                s.state.to_string(),
                short(&s.started_at),
                s.finished_at
                    .as_deref()
                    .or(s.last_activity.as_deref())
                    .map(short)
                    .unwrap_or_else(|| "-".into()),
                duration(s.duration_seconds),
                pages_cell(&s.pages),
                thousands(s.records),
                thousands(s.tally.requests),
                thousands(s.tally.retries),
                thousands(s.tally.throttled),
            ]
        })
        .collect();
    out.push(table(
        &[
            "SYNC",
            "KIND",
            "STATE",
            "STARTED",
            "FINISHED / LAST ACTIVITY",
            "TIME",
            "PAGES done/pending/parked",
            "RECORDS",
            "REQUESTS",
            "RETRIES",
            "429s",
        ],
        &rows,
    ));
    for s in &report.syncs {
        if detail && let Some(streams) = &s.streams {
            out.push(String::new());
            let rows: Vec<Vec<String>> = streams
                .iter()
                .map(|t| {
                    vec![
                        t.stream.clone(),
                        t.chains_done.to_string(),
                        pages_cell(&t.pages),
                        thousands(t.records),
                        thousands(t.tally.requests),
                        thousands(t.tally.retries),
                        thousands(t.tally.throttled),
                        t.since.clone().unwrap_or_else(|| "full".into()),
                    ]
                })
                .collect();
            out.push(table(
                &[
                    "STREAM",
                    "CHAINS DONE",
                    "PAGES done/pending/parked",
                    "RECORDS",
                    "REQUESTS",
                    "RETRIES",
                    "429s",
                    "SINCE",
                ],
                &rows,
            ));
        }
        if let Some(parked) = s.parked.as_ref().filter(|p| !p.is_empty()) {
            out.push(String::new());
            out.push("parked pages:".into());
            for p in parked {
                let parents: Vec<String> =
                    p.parents.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let chain = if parents.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", parents.join(", "))
                };
                out.push(format!(
                    "  {}{chain} page {}: {} [{} attempt(s), {}]",
                    p.stream, p.page, p.error, p.attempts, p.failed_at
                ));
            }
        }
        if let Some(reason) = &s.reason {
            out.push(String::new());
            out.push(format!("sync {} stopped: {reason}", s.sync_id));
        }
        if let Some(step) = &s.next_step {
            out.push(format!("to finish sync {}: {step}", s.sync_id));
        }
    }
    let c = &report.changes;
    out.push(String::new());
    out.push(format!(
        "webhook changes: {} event(s) since {}; {} refresh(es) pending{}, {} failed",
        c.events_since_latest_sync,
        c.latest_complete_sync
            .as_deref()
            .map(|id| format!("sync {id}"))
            .unwrap_or_else(|| "the start (no complete sync)".into()),
        c.refreshes_pending,
        c.oldest_pending_sent_at
            .as_deref()
            .map(|t| format!(" (oldest sent {t})"))
            .unwrap_or_default(),
        c.refreshes_failed
    ));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_keys_name_their_stream_and_page() {
        assert_eq!(
            chain_and_page("_jobs/sync_id=s/pending/list_entries__list_id=3001-000007.json"),
            Some(("list_entries__list_id=3001", 7))
        );
        assert_eq!(stream_of("list_entries__list_id=3001"), "list_entries");
        assert_eq!(stream_of("notes__created"), "notes");
        assert_eq!(chain_and_page("_jobs/sync_id=s/run.json"), None);
    }

    #[test]
    fn an_aws_queue_url_gives_its_arn_and_others_none() {
        assert_eq!(
            arn_of_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/affinity-dlq")
                .as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:affinity-dlq")
        );
        assert_eq!(
            arn_of_queue_url("http://localhost:5000/123456789012/dlq"),
            None
        );
    }

    #[test]
    fn the_next_step_is_the_homes_own() {
        let opts = Options {
            sync_id: None,
            last: 10,
            stalled_after_secs: 1200,
            store_args: "--out s3://b/p".into(),
            store: "s3://b/p".into(),
            now: 0,
        };
        let home = |runs_on: &str, url: Option<&str>, arn: Option<&str>| Home {
            runs_on: runs_on.into(),
            queue_url: url.map(str::to_string),
            dead_letter_url: url.map(str::to_string),
            dead_letter_arn: arn.map(str::to_string),
        };
        let step = |h: Option<Home>| next_step("s1", h.as_ref(), true, &opts).unwrap();
        assert_eq!(
            step(Some(home("cli", None, None))),
            "affinity-sync resume --out s3://b/p --sync-id s1"
        );
        assert_eq!(
            step(None),
            "affinity-sync resume --out s3://b/p --sync-id s1"
        );
        assert_eq!(
            step(Some(home(
                "lambda",
                Some("https://x/q"),
                Some("arn:aws:sqs:r:1:dlq")
            ))),
            "aws sqs start-message-move-task --source-arn arn:aws:sqs:r:1:dlq"
        );
        // The component's deployment may not know the ARN: it is derived from an AWS URL, or
        // looked up by the command itself.
        assert_eq!(
            step(Some(home(
                "component",
                Some("https://sqs.us-east-1.amazonaws.com/123456789012/dlq"),
                None
            ))),
            "aws sqs start-message-move-task --source-arn arn:aws:sqs:us-east-1:123456789012:dlq"
        );
        assert_eq!(
            step(Some(home(
                "component",
                Some("http://localhost:4566/000000000000/dlq"),
                None
            ))),
            "aws sqs start-message-move-task --source-arn \"$(aws sqs get-queue-attributes \
             --queue-url http://localhost:4566/000000000000/dlq --attribute-names QueueArn \
             --query Attributes.QueueArn --output text)\""
        );
        assert_eq!(next_step("s1", None, false, &opts), None);
    }

    #[test]
    fn numbers_and_durations_read_easily() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(duration(Some(75.0)), "1m 15s");
        assert_eq!(duration(Some(7300.0)), "2h 01m");
        assert_eq!(duration(None), "-");
    }
}
