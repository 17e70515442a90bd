//! `affinity-sync sync`: the core's page step driven on one machine.
//!
//! An in-process queue holds the jobs; up to `concurrency` of them run at once. Each job is
//! one page: the core builds the request, this driver performs it (with the key, retries and
//! rate pacing), the core turns the response into batches and next jobs, the driver writes the
//! batches and only then queues the next jobs. When the queue is empty, every chain has
//! written its manifest, and the driver writes the sync manifest that marks the sync complete.

use super::api_key::ApiKey;
use super::sink::ObjectSink;
use affinity_sync::catalog::{self, Stream};
use affinity_sync::layout::{self, StreamSummary, SyncManifest};
use affinity_sync::step::{self, Auth, StepError};
use affinity_sync::{Config, Format, Job};
use anyhow::{Context, Result, anyhow, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Largest response body accepted: a page of 500 v1 records or 100 v2 records with every
/// field is a few MB; anything far bigger is not a page.
const MAX_BODY_BYTES: usize = 64 << 20;

pub struct Options {
    pub base_url: String,
    pub key: ApiKey,
    /// Where the key came from, for the 401 message.
    pub key_source: String,
    pub streams: Vec<&'static Stream>,
    pub format: Format,
    pub concurrency: usize,
    pub max_retries: u32,
    pub progress: bool,
}

/// What one stream did in a sync.
#[derive(Debug, Default, Clone)]
pub struct StreamTotals {
    pub chains: u64,
    pub pages: u64,
    pub records: u64,
    pub rows: u64,
    pub requests: u64,
}

pub struct Report {
    pub sync_id: String,
    pub streams: BTreeMap<&'static str, StreamTotals>,
    pub requests: u64,
    pub retries: u64,
    pub elapsed: Duration,
}

/// The streams to sync: the named ones plus the parents they fan out from, in catalog order.
pub fn select_streams(names: Option<&str>) -> Result<Vec<&'static Stream>> {
    let Some(names) = names else {
        return Ok(catalog::STREAMS.iter().filter(|s| s.default).collect());
    };
    let mut wanted: Vec<&str> = vec![];
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let mut s = catalog::stream(name).ok_or_else(|| {
            let known: Vec<&str> = catalog::STREAMS.iter().map(|s| s.name).collect();
            anyhow!(
                "unknown stream {name:?}; the streams are: {}",
                known.join(", ")
            )
        })?;
        wanted.push(s.name);
        while let Some(p) = s.parent {
            wanted.push(p.stream);
            s = catalog::stream(p.stream).expect("parents exist");
        }
    }
    if wanted.is_empty() {
        bail!("--streams names no stream");
    }
    Ok(catalog::STREAMS
        .iter()
        .filter(|s| wanted.contains(&s.name))
        .collect())
}

/// Paces requests by the rate-limit headers every Affinity response carries: when the
/// per-minute budget is nearly spent, wait for its reset instead of collecting 429s.
struct Governor {
    state: Mutex<Pace>,
    reserve: u64,
}

struct Pace {
    remaining: Option<u64>,
    reset_at: Instant,
}

impl Governor {
    fn new(reserve: u64) -> Self {
        Governor {
            state: Mutex::new(Pace {
                remaining: None,
                reset_at: Instant::now(),
            }),
            reserve,
        }
    }

    /// Waits until a request may be sent, and counts it.
    async fn admit(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().expect("governor");
                let now = Instant::now();
                if now >= s.reset_at {
                    if s.remaining == Some(0) {
                        s.remaining = None;
                    }
                    None
                } else {
                    match s.remaining {
                        Some(r) if r <= self.reserve => Some(s.reset_at - now),
                        Some(r) => {
                            s.remaining = Some(r - 1);
                            None
                        }
                        None => None,
                    }
                }
            };
            match wait {
                Some(d) => tokio::time::sleep(d.min(Duration::from_secs(61))).await,
                None => return,
            }
        }
    }

    fn observe(&self, headers: &reqwest::header::HeaderMap) {
        let num = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let (Some(remaining), Some(reset)) = (
            num("x-ratelimit-limit-user-remaining"),
            num("x-ratelimit-limit-user-reset"),
        ) {
            let mut s = self.state.lock().expect("governor");
            s.remaining = Some(remaining);
            s.reset_at = Instant::now() + Duration::from_secs(reset);
        }
    }

    /// After a 429: nothing left until the reset the response names (at least a second).
    fn exhausted(&self, headers: &reqwest::header::HeaderMap) {
        let reset = headers
            .get("x-ratelimit-limit-user-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        let mut s = self.state.lock().expect("governor");
        s.remaining = Some(0);
        s.reset_at = Instant::now() + Duration::from_secs(reset);
    }
}

struct Shared<S> {
    cfg: Config,
    http: reqwest::Client,
    key: ApiKey,
    key_source: String,
    sink: S,
    governor: Governor,
    max_retries: u32,
}

/// What one finished job reports back to the coordinator.
struct Done {
    job: Job,
    records: usize,
    rows: usize,
    requests: u64,
    retries: u64,
    last_page: bool,
    jobs: Vec<Job>,
}

fn backoff(attempt: u32) -> Duration {
    let base = 250u64 * (1 << attempt.min(7));
    Duration::from_millis(base.min(20_000) + rand::random_range(0..250))
}

/// One job: fetch its page (retrying what can be retried), write its batches, return its jobs.
async fn run_job<S: ObjectSink>(shared: Arc<Shared<S>>, job: Job) -> Result<Done> {
    let request = step::request(&shared.cfg, &job)?;
    let (mut requests, mut retries) = (0u64, 0u64);
    let outcome = loop {
        shared.governor.admit().await;
        requests += 1;
        let mut req = shared.http.get(&request.url);
        req = match request.auth {
            Auth::Basic => req.basic_auth("", Some(shared.key.expose())),
            Auth::Bearer => req.bearer_auth(shared.key.expose()),
        };
        let result: Result<(u16, reqwest::header::HeaderMap, Vec<u8>), String> = async {
            let res = req
                .send()
                .await
                .map_err(|e| format!("request failed: {}", without_url(&e)))?;
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            if res
                .content_length()
                .is_some_and(|l| l as usize > MAX_BODY_BYTES)
            {
                return Err(format!(
                    "response of {} bytes is over the {MAX_BODY_BYTES}-byte limit",
                    res.content_length().unwrap()
                ));
            }
            let body = res
                .bytes()
                .await
                .map_err(|e| format!("reading the body failed: {}", without_url(&e)))?;
            if body.len() > MAX_BODY_BYTES {
                return Err(format!(
                    "response of {} bytes is over the {MAX_BODY_BYTES}-byte limit",
                    body.len()
                ));
            }
            Ok((status, headers, body.to_vec()))
        }
        .await;
        let failure = match result {
            Ok((status, headers, body)) => {
                shared.governor.observe(&headers);
                match step::handle(&shared.cfg, &job, status, &body) {
                    Ok(outcome) => break outcome,
                    Err(StepError::Unauthorized) => bail!(
                        "Affinity rejected the API key from {} (401 Unauthorized): check that it is a current key for {}",
                        shared.key_source,
                        shared.cfg.base_url()
                    ),
                    Err(e) if e.retryable() => {
                        if e == StepError::RateLimited {
                            shared.governor.exhausted(&headers);
                        }
                        e.to_string()
                    }
                    Err(e) => {
                        return Err(anyhow!(e))
                            .context(format!("stream {} page {}", job.stream, job.page));
                    }
                }
            }
            Err(transport) => transport,
        };
        if retries >= shared.max_retries as u64 {
            bail!(
                "stream {} page {}: gave up after {} attempts: {failure}",
                job.stream,
                job.page,
                retries + 1
            );
        }
        retries += 1;
        tracing::warn!(stream = %job.stream, page = job.page, attempt = retries, "retrying: {failure}");
        tokio::time::sleep(backoff(retries as u32)).await;
    };

    // Batches first, the chain's manifest after them, and only then the next jobs.
    let mut rows = 0;
    for b in &outcome.batches {
        shared
            .sink
            .put(&b.key, &b.bytes)
            .await
            .with_context(|| format!("writing {}", b.key))?;
        rows += b.rows;
    }
    if let Some(m) = &outcome.manifest {
        shared
            .sink
            .put(&m.key, &m.bytes)
            .await
            .with_context(|| format!("writing {}", m.key))?;
    }
    let last_page = outcome.next.is_none();
    let mut jobs: Vec<Job> = outcome.children;
    jobs.extend(outcome.next);
    Ok(Done {
        job,
        records: outcome.records,
        rows,
        requests,
        retries,
        last_page,
        jobs,
    })
}

/// A transport error's text without its URL (URLs carry no secrets, but keep messages short).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "").replace(" ()", "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    affinity_sync::table::format_timestamp(secs.as_micros() as i64)
}

/// Runs a whole sync into `sink`.
pub async fn run<S: ObjectSink + 'static>(opts: Options, sink: S) -> Result<Report> {
    let began = Instant::now();
    let started_at = now_rfc3339();
    let cfg =
        Config::new(&opts.base_url, "", opts.format).map_err(|e| anyhow!("--base-url: {e}"))?;
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let sync_id = affinity_sync::job::sync_id(unix, &format!("{:04x}", rand::random::<u16>()));
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("affinity-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let selected: Vec<&'static str> = opts.streams.iter().map(|s| s.name).collect();
    let shared = Arc::new(Shared {
        cfg,
        http,
        key: opts.key,
        key_source: opts.key_source,
        sink,
        governor: Governor::new(opts.concurrency as u64),
        max_retries: opts.max_retries,
    });

    let bars = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{spinner} {prefix:<22} {msg}").expect("template");
    let mut bar_of: HashMap<&'static str, ProgressBar> = HashMap::new();

    let mut queue: VecDeque<Job> = opts
        .streams
        .iter()
        .filter(|s| s.parent.is_none())
        .map(|s| Job::first(&sync_id, s.name, BTreeMap::new()))
        .collect();
    let mut totals: BTreeMap<&'static str, StreamTotals> = selected
        .iter()
        .map(|s| (*s, StreamTotals::default()))
        .collect();
    let (mut requests, mut retries) = (0u64, 0u64);
    let mut running: JoinSet<Result<Done>> = JoinSet::new();
    loop {
        while running.len() < opts.concurrency.max(1) {
            let Some(job) = queue.pop_front() else { break };
            running.spawn(run_job(shared.clone(), job));
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let done = match joined {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                running.abort_all();
                bars.clear().ok();
                return Err(e.context(format!(
                    "sync {sync_id} stopped; it is incomplete and has no sync manifest"
                )));
            }
            Err(panic) => {
                running.abort_all();
                return Err(anyhow!("a page task failed: {panic}"));
            }
        };
        let stream = done.job.stream().expect("valid job");
        let t = totals.entry(stream.name).or_default();
        t.pages += 1;
        t.records += done.records as u64;
        t.rows += done.rows as u64;
        t.requests += done.requests;
        if done.last_page {
            t.chains += 1;
        }
        requests += done.requests;
        retries += done.retries;
        let bar = bar_of.entry(stream.name).or_insert_with(|| {
            let b = bars.add(
                ProgressBar::new_spinner()
                    .with_style(style.clone())
                    .with_prefix(stream.name),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        bar.set_message(format!("{} pages, {} records", t.pages, t.records));
        queue.extend(
            done.jobs
                .into_iter()
                .filter(|j| selected.contains(&j.stream.as_str())),
        );
    }
    for b in bar_of.values() {
        b.finish();
    }

    let manifest = SyncManifest {
        version: 1,
        sync_id: sync_id.clone(),
        format: opts.format.name().into(),
        started_at,
        finished_at: now_rfc3339(),
        streams: opts
            .streams
            .iter()
            .map(|s| {
                let t = totals.get(s.name).cloned().unwrap_or_default();
                StreamSummary {
                    stream: s.name.into(),
                    chains: t.chains,
                    pages: t.pages,
                    records: t.records,
                    tables: s.tables.iter().map(|t| t.name.to_string()).collect(),
                }
            })
            .collect(),
    };
    let key = layout::sync_manifest_key(shared.cfg.prefix(), &sync_id);
    shared
        .sink
        .put(&key, &serde_json::to_vec_pretty(&manifest)?)
        .await
        .with_context(|| format!("writing {key}"))?;
    Ok(Report {
        sync_id,
        streams: totals,
        requests,
        retries,
        elapsed: began.elapsed(),
    })
}

impl Report {
    /// The summary table printed at the end of a sync.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<24} {:>7} {:>7} {:>9} {:>9} {:>9}\n",
            "stream", "chains", "pages", "records", "rows", "requests"
        );
        for (name, t) in &self.streams {
            out.push_str(&format!(
                "{name:<24} {:>7} {:>7} {:>9} {:>9} {:>9}\n",
                t.chains, t.pages, t.records, t.rows, t.requests
            ));
        }
        let records: u64 = self.streams.values().map(|t| t.records).sum();
        out.push_str(&format!(
            "{:<24} {:>7} {:>7} {:>9} {:>9} {:>9}\n",
            "total",
            self.streams.values().map(|t| t.chains).sum::<u64>(),
            self.streams.values().map(|t| t.pages).sum::<u64>(),
            records,
            self.streams.values().map(|t| t.rows).sum::<u64>(),
            self.requests
        ));
        out.push_str(&format!(
            "sync {} complete in {:.1} s ({} retries)",
            self.sync_id,
            self.elapsed.as_secs_f64(),
            self.retries
        ));
        out
    }
}
