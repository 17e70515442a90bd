//! `affinity-sync sync` and `resume`: the core's page step driven on one machine.
//!
//! An in-process queue holds the jobs; up to `concurrency` of them run at once. Each job is
//! one page: the core builds the request, this driver performs it (with the key, retries and
//! rate pacing), the core turns the response into batches and next jobs, the driver writes the
//! batches, then queues the next jobs in the journal (`journal`), and only then acknowledges
//! the page. A page that keeps failing is parked with its reason and the other chains go on.
//! When the queue is empty and nothing is parked, the driver writes the sync manifest, added
//! up from the chains' manifests, that marks the sync complete.

use super::api_key::ApiKey;
use affinity_sync_core::catalog::{self, Stream};
use affinity_sync_core::job::{JobSecret, Tally};
use affinity_sync_core::layout::{self, FailedJob, SyncRun};
use affinity_sync_core::metrics;
use affinity_sync_core::step::{self, StepError};
use affinity_sync_core::{Config, Format, Job};
use affinity_sync_io::budget::Governor;
use affinity_sync_io::{ObjectSink, complete, fetch, journal};
use anyhow::{Result, anyhow, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::{JoinHandle, JoinSet};

pub struct Options {
    pub base_url: String,
    pub key: ApiKey,
    /// Where the key came from, for the 401 message.
    pub key_source: String,
    pub concurrency: usize,
    pub max_retries: u32,
    pub progress: bool,
    pub inject: Inject,
    /// Signs the jobs this sync queues and refuses unsigned or altered ones.
    pub job_secret: Option<JobSecret>,
    /// Print a metric line per page and per completed sync (`--log-format json`: the same
    /// Embedded Metric Format lines Lambda writes), with this function name.
    pub metrics: Option<String>,
}

/// A new sync, or the rest of one that stopped.
pub enum Start {
    New {
        streams: Vec<&'static Stream>,
        format: Format,
        /// Read the streams that allow it only since the latest complete sync that had them.
        incremental: bool,
        /// The monthly quota read before the sync, recorded in its manifest.
        quota: Option<layout::QuotaSeen>,
    },
    /// The given sync, or the latest unfinished one in the output.
    Resume { sync_id: Option<String> },
}

/// Faults the driver injects into itself, for the reliability tests: a crash (the process
/// exits at once, as if killed) after a number of object writes, and queue redeliveries (a
/// finished job delivered again, as SQS may). Off unless `--inject` names them.
#[derive(Debug, Clone, Default)]
pub struct Inject {
    pub crash_after_writes: Option<u64>,
    /// Chance that a finished job is delivered once more.
    pub redeliver: f64,
    pub seed: u64,
}

/// The exit code of an injected crash.
pub const CRASH_EXIT_CODE: i32 = 86;

impl Inject {
    /// Parses `crash-after-writes=N,redeliver=P,seed=S` (any subset; empty for none).
    pub fn parse(text: &str) -> Result<Inject> {
        let mut inject = Inject::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| anyhow!("--inject: {part:?} is not name=value"))?;
            let bad = || anyhow!("--inject: {k}={v:?} is not a valid value");
            match k {
                "crash-after-writes" => {
                    inject.crash_after_writes = Some(v.parse().map_err(|_| bad())?)
                }
                "redeliver" => {
                    inject.redeliver = v.parse().map_err(|_| bad())?;
                    if !(0.0..=1.0).contains(&inject.redeliver) {
                        return Err(bad());
                    }
                }
                "seed" => inject.seed = v.parse().map_err(|_| bad())?,
                _ => bail!("--inject: unknown fault {k:?} (crash-after-writes, redeliver, seed)"),
            }
        }
        Ok(inject)
    }

    /// Whether the first delivery of `key` is delivered again: a fixed function of the seed
    /// and the job, so a schedule replays the same way.
    fn redelivers(&self, key: &str) -> bool {
        if self.redeliver <= 0.0 {
            return false;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in key.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        (h as f64 / u64::MAX as f64) < self.redeliver
    }
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
    /// Jobs delivered a second time by `--inject redeliver`.
    pub redelivered: u64,
    /// Pages fetched while the page before them was turned into batches.
    pub read_ahead: u64,
    pub elapsed: Duration,
    /// Pages parked after failing; the sync is complete only when there are none.
    pub failed: Vec<FailedJob>,
}

pub fn select_streams(names: Option<&str>) -> Result<Vec<&'static Stream>> {
    catalog::select(names).map_err(|e| anyhow!("--streams: {e}"))
}

struct Shared<S> {
    cfg: Config,
    http: reqwest::Client,
    key: ApiKey,
    key_source: String,
    sink: Crashing<S>,
    /// The minute's budget every request waits for, a reserve of `--concurrency` kept for
    /// the requests in flight.
    governor: Governor,
    max_retries: u32,
    /// The streams of this sync: child jobs of other streams are not queued.
    selected: Vec<&'static str>,
    job_secret: Option<JobSecret>,
    /// The function name of metric lines, when they are printed.
    metrics: Option<String>,
    /// Pages read ahead (`step::read_ahead`), by request URL, with their stream: fetched
    /// while the page before them is turned into batches, taken by the job that makes the
    /// same request.
    ahead: Mutex<HashMap<String, (&'static str, JoinHandle<Fetched>)>>,
    /// `--concurrency` requests at once, pages read ahead included.
    in_flight: tokio::sync::Semaphore,
}

type Fetched = Result<fetch::Response, String>;

/// One request, paced by the governor, which also learns the budget left from the answer.
async fn fetch_page<S>(shared: &Shared<S>, request: &step::Request) -> Fetched {
    let _slot = shared.in_flight.acquire().await.expect("never closed");
    shared.governor.admit().await;
    let result = fetch::get_page(&shared.http, request, &shared.key).await;
    if let Ok(response) = &result {
        shared.governor.observe(&response.headers);
    }
    result
}

/// Starts fetching the page after `job`'s, if `body` names it; the URL it fetches.
fn start_read_ahead<S: ObjectSink + 'static>(
    shared: &Arc<Shared<S>>,
    job: &Job,
    body: &[u8],
) -> Option<String> {
    let request = step::read_ahead(&shared.cfg, job, body)?;
    let stream = job.stream().ok()?.name;
    let mut ahead = shared.ahead.lock().expect("read-ahead map");
    if ahead.contains_key(&request.url) {
        return None;
    }
    let url = request.url.clone();
    let task = {
        let shared = shared.clone();
        tokio::spawn(async move { fetch_page(&shared, &request).await })
    };
    ahead.insert(url.clone(), (stream, task));
    Some(url)
}

/// Waits for a page read ahead that no job will take, and returns the requests it made (one,
/// or none if there was no such page).
async fn drop_read_ahead<S>(shared: &Shared<S>, url: Option<String>) -> u64 {
    let Some(url) = url else { return 0 };
    let task = shared.ahead.lock().expect("read-ahead map").remove(&url);
    match task {
        Some((_, task)) => {
            task.await.ok();
            1
        }
        None => 0,
    }
}

/// What one finished job reports back to the coordinator.
struct Done {
    job: Job,
    records: usize,
    rows: usize,
    requests: u64,
    retries: u64,
    /// Whether its page was read ahead.
    read_ahead: bool,
    last_page: bool,
    jobs: Vec<Job>,
}

/// How a job ended without finishing.
enum Failure {
    /// Nothing else can succeed either (the key was refused, the month's quota is spent, the
    /// output cannot be written): stop the sync; its journal keeps every unfinished page.
    Fatal(anyhow::Error),
    /// This page cannot be fetched: it is parked with the reason, the other chains go on.
    Parked {
        job: Job,
        requests: u64,
        retries: u64,
    },
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Fatal(e)
    }
}

fn backoff(attempt: u32) -> Duration {
    let base = 250u64 * (1 << attempt.min(7));
    Duration::from_millis(base.min(20_000) + rand::random_range(0..250))
}

/// Prints a metric line to the log (stderr), when `--log-format json` asked for them.
fn emit<S>(shared: &Shared<S>, line: impl FnOnce(&str, i64) -> String) {
    if let Some(name) = &shared.metrics {
        eprintln!("{}", line(name, affinity_sync_io::now_unix_ms()));
    }
}

/// One job: fetch its page (retrying what can be retried), write its batches, queue its jobs,
/// acknowledge it.
async fn run_job<S: ObjectSink + 'static>(
    shared: Arc<Shared<S>>,
    job: Job,
) -> Result<Done, Failure> {
    let prefix = shared.cfg.prefix();
    let started = Instant::now();
    let (mut requests, mut retries, mut was_read_ahead) = (0u64, 0u64, false);
    let mut throttled = 0u64;
    // The rate-limit figures of the latest answer, for the metric line.
    let mut remaining: (Option<u64>, Option<u64>) = (None, None);
    let page_metrics =
        |requests, retries, throttled, remaining: (Option<u64>, Option<u64>)| metrics::Page {
            stream: job.stream.clone(),
            sync_id: job.sync.clone(),
            page: job.page,
            requests,
            retries,
            throttled,
            user_remaining: remaining.0,
            org_remaining: remaining.1,
            page_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        };
    // The page after this one, once it is being read ahead.
    let mut ahead: Option<String> = None;
    let park = |job: Job, error: String, line: metrics::Page, ahead: Option<String>| {
        let shared = shared.clone();
        async move {
            let (requests, retries) = (line.requests, line.retries);
            let requests = requests + drop_read_ahead(&shared, ahead).await;
            emit(&shared, |f, t| {
                metrics::Page { parked: 1, ..line }.emf(f, t)
            });
            let failed = FailedJob {
                queued: job.encode_for_queue(shared.job_secret.as_ref()),
                job: job.clone(),
                error,
                attempts: retries as u32 + 1,
                failed_at: affinity_sync_io::now_rfc3339(),
            };
            tracing::error!(stream = %job.stream, page = job.page, "parked: {}", failed.error);
            journal::park(&shared.sink, shared.cfg.prefix(), &failed).await?;
            Err(Failure::Parked {
                job,
                requests,
                retries,
            })
        }
    };
    let request = match step::request(&shared.cfg, &job) {
        Ok(r) => r,
        Err(e) => {
            let line = page_metrics(0, 0, 0, (None, None));
            return park(job.clone(), e.to_string(), line, None).await;
        }
    };
    let outcome = loop {
        requests += 1;
        // The page read ahead while the one before it was handled, or else fetched now.
        let early = shared
            .ahead
            .lock()
            .expect("read-ahead map")
            .remove(&request.url);
        let result = match early {
            Some((_, task)) => {
                was_read_ahead = true;
                task.await
                    .unwrap_or_else(|e| Err(format!("reading the page ahead failed: {e}")))
            }
            None => fetch_page(&shared, &request).await,
        };
        let failure = match result {
            Ok(fetch::Response {
                status,
                headers,
                body,
            }) => {
                if status == 200 && ahead.is_none() {
                    ahead = start_read_ahead(&shared, &job, &body);
                }
                remaining = (
                    fetch::user_budget(&headers).map(|(left, _)| left),
                    fetch::org_remaining(&headers),
                );
                // The chain's tally gains this page's failed tries; `handle` adds this one.
                let spent = Tally {
                    requests: retries,
                    retries,
                    throttled,
                };
                match step::handle(&shared.cfg, &job.with_spent(spent), status, &body) {
                    Ok(outcome) => break outcome,
                    Err(StepError::Unauthorized) => {
                        return Err(Failure::Fatal(anyhow!(
                            "Affinity rejected the API key from {} (401 Unauthorized): check that it is a current key for {}",
                            shared.key_source,
                            shared.cfg.base_url()
                        )));
                    }
                    Err(StepError::RateLimited) if fetch::month_spent(&headers).is_some() => {
                        let reset = fetch::month_spent(&headers).unwrap_or(0);
                        return Err(Failure::Fatal(anyhow!(
                            "Affinity's monthly request quota is spent (429 with X-Ratelimit-Limit-Org-Remaining: 0); \
                             it resets in {:.1} days. The unfinished pages stay queued",
                            reset as f64 / 86_400.0
                        )));
                    }
                    Err(e) if e.retryable() => {
                        if e == StepError::RateLimited {
                            shared.governor.exhausted(&headers);
                            throttled += 1;
                        }
                        e.to_string()
                    }
                    Err(e) => {
                        let line = page_metrics(requests, retries, throttled, remaining);
                        return park(job.clone(), e.to_string(), line, ahead).await;
                    }
                }
            }
            Err(transport) => transport,
        };
        if retries >= shared.max_retries as u64 {
            let error = format!("gave up after {} attempts: {failure}", retries + 1);
            let line = page_metrics(requests, retries, throttled, remaining);
            return park(job.clone(), error, line, ahead).await;
        }
        retries += 1;
        tracing::warn!(stream = %job.stream, page = job.page, attempt = retries, "retrying: {failure}");
        tokio::time::sleep(backoff(retries as u32)).await;
    };

    // A page read ahead that is not the next job's (a guess the step did not confirm) was a
    // request all the same.
    let next_url = outcome
        .next
        .as_ref()
        .and_then(|n| step::request(&shared.cfg, n).ok())
        .map(|r| r.url);
    if ahead.is_some() && ahead != next_url {
        requests += drop_read_ahead(&shared, ahead).await;
    }

    // Batches first, the chain's manifest after them, then the next jobs, and only then is
    // this page acknowledged: a crash anywhere in between re-runs the page, which rewrites
    // the same objects.
    let written = affinity_sync_io::sink::write_page(&shared.sink, &outcome).await?;
    let (rows, bytes_written) = (written.rows, written.bytes);
    let last_page = outcome.next.is_none();
    let mut jobs: Vec<Job> = outcome.children;
    jobs.extend(outcome.next);
    jobs.retain(|j| shared.selected.contains(&j.stream.as_str()));
    journal::enqueue(&shared.sink, prefix, &jobs, shared.job_secret.as_ref()).await?;
    journal::ack(&shared.sink, prefix, &job).await?;
    emit(&shared, |f, t| {
        metrics::Page {
            written: true,
            records: outcome.records as u64,
            bytes_written,
            ..page_metrics(requests, retries, throttled, remaining)
        }
        .emf(f, t)
    });
    Ok(Done {
        job,
        records: outcome.records,
        rows,
        requests,
        retries,
        read_ahead: was_read_ahead,
        last_page,
        jobs,
    })
}

/// The sink, with the injected crash: after the given number of writes the process exits
/// at once, leaving whatever a real crash would leave.
struct Crashing<S> {
    inner: S,
    writes_left: Option<AtomicU64>,
}

impl<S: ObjectSink> ObjectSink for Crashing<S> {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.inner.put(key, bytes).await?;
        if let Some(left) = &self.writes_left
            && left.fetch_sub(1, Ordering::SeqCst) == 1
        {
            eprintln!("injected crash after writing {key}");
            std::process::exit(CRASH_EXIT_CODE);
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key).await
    }

    // Forwarded, not left to the trait's defaults: those derive from a full `list`, which on
    // S3 is every key below the prefix (`journal::history` for `--incremental` reads folders).
    async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<affinity_sync_io::sink::Listed>> {
        self.inner.list_after(prefix, start_after).await
    }

    async fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.folders(prefix).await
    }
}

/// The unfinished syncs in `sink` (a journal and no sync manifest), oldest first.
pub async fn unfinished<S: ObjectSink>(sink: &S) -> Result<Vec<String>> {
    let mut out = vec![];
    for id in journal::unfinished(sink, "").await? {
        if sink
            .get(&layout::sync_manifest_key("", &id))
            .await?
            .is_none()
        {
            out.push(id);
        }
    }
    Ok(out)
}

/// Queues the first page of every root stream of `run`, then notes that it did. A sync
/// stopped halfway through this is seeded again on resume (a root page run twice rewrites
/// the same objects).
async fn seed<S: ObjectSink>(
    sink: &S,
    run: &mut SyncRun,
    secret: Option<&JobSecret>,
) -> Result<Vec<Job>> {
    let roots = journal::root_jobs(run)?;
    journal::enqueue(sink, "", &roots, secret).await?;
    run.seeded = true;
    journal::save_run(sink, "", run).await?;
    Ok(roots)
}

/// Runs a new sync, or the rest of a stopped one, into `sink`.
pub async fn run<S: ObjectSink + 'static>(opts: Options, sink: S, start: Start) -> Result<Report> {
    let began = Instant::now();
    let sink = Crashing {
        inner: sink,
        writes_left: opts.inject.crash_after_writes.map(AtomicU64::new),
    };
    let http = fetch::http_client()?;

    // What to sync, and the jobs to begin with.
    let (run, queued): (SyncRun, Vec<Job>) = match start {
        Start::New {
            streams,
            format,
            incremental,
            quota,
        } => {
            let since = if incremental {
                layout::incremental_since(&streams, &journal::history(&sink).await?)
            } else {
                Default::default()
            };
            let home = layout::Home {
                runs_on: "cli".into(),
                queue_url: None,
                dead_letter_url: None,
                dead_letter_arn: None,
            };
            let mut run = journal::new_run(&streams, format, since, home);
            run.quota = quota;
            journal::save_run(&sink, "", &run).await?;
            let roots = seed(&sink, &mut run, opts.job_secret.as_ref()).await?;
            (run, roots)
        }
        Start::Resume { sync_id } => {
            let sync_id = match sync_id {
                Some(id) => id,
                // Any sync with a journal: one stopped right after its manifest only has its
                // journal left to remove, below.
                None => journal::unfinished(&sink, "")
                    .await?
                    .pop()
                    .ok_or_else(|| anyhow!("there is no unfinished sync to resume here"))?,
            };
            if sink
                .get(&layout::sync_manifest_key("", &sync_id))
                .await?
                .is_some()
            {
                // Stopped after its manifest was written: only the journal is left to remove.
                journal::close(&sink, "", &sync_id).await?;
                return Ok(Report {
                    sync_id,
                    streams: BTreeMap::new(),
                    requests: 0,
                    retries: 0,
                    redelivered: 0,
                    read_ahead: 0,
                    elapsed: began.elapsed(),
                    failed: vec![],
                });
            }
            let mut run = journal::load_run(&sink, "", &sync_id)
                .await?
                .ok_or_else(|| anyhow!("there is no unfinished sync {sync_id} here"))?;
            if !run.seeded {
                seed(&sink, &mut run, opts.job_secret.as_ref()).await?;
            }
            let unparked = journal::unpark(&sink, "", &sync_id, opts.job_secret.as_ref()).await?;
            if unparked > 0 {
                tracing::info!(sync = %sync_id, "{unparked} parked pages queued again");
            }
            let pending = journal::jobs(
                &sink,
                "",
                &sync_id,
                layout::JobState::Pending,
                opts.job_secret.as_ref(),
            )
            .await?;
            (run, pending)
        }
    };
    let sync_id = run.sync_id.clone();
    let format = Format::parse(&run.format)
        .ok_or_else(|| anyhow!("sync {sync_id} names unknown format {:?}", run.format))?;
    let streams: Vec<&'static Stream> = run
        .streams
        .iter()
        .map(|n| {
            catalog::stream(n).ok_or_else(|| anyhow!("sync {sync_id} names unknown stream {n:?}"))
        })
        .collect::<Result<_>>()?;
    let cfg = Config::new(&opts.base_url, "", format)
        .map_err(|e| anyhow!("--base-url: {e}"))?
        .reading(streams.iter().map(|s| s.name));
    let shared = Arc::new(Shared {
        cfg,
        http,
        key: opts.key,
        key_source: opts.key_source,
        sink,
        governor: Governor::new(opts.concurrency as u64),
        max_retries: opts.max_retries,
        selected: streams.iter().map(|s| s.name).collect(),
        job_secret: opts.job_secret.clone(),
        metrics: opts.metrics.clone(),
        ahead: Mutex::new(HashMap::new()),
        in_flight: tokio::sync::Semaphore::new(opts.concurrency.max(1)),
    });
    let stopped = |e: anyhow::Error| {
        e.context(format!(
            "sync {sync_id} stopped before it was complete; its unfinished pages are queued, and \
             `affinity-sync resume` continues it"
        ))
    };

    let bars = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{spinner} {prefix:<22} {msg}").expect("template");
    let mut bar_of: HashMap<&'static str, ProgressBar> = HashMap::new();

    // The in-process queue; `live` holds the journal keys of the jobs queued or running, so
    // a job queued twice (a page re-run after a crash) runs once.
    let key_of = |j: &Job| {
        layout::job_key(
            "",
            j.stream().expect("valid job"),
            j,
            layout::JobState::Pending,
        )
    };
    let mut queue: VecDeque<Job> = VecDeque::new();
    let mut live: HashSet<String> = HashSet::new();
    for job in queued {
        if live.insert(key_of(&job)) {
            queue.push_back(job);
        }
    }
    let mut redelivered_once: HashSet<String> = HashSet::new();
    let mut totals: BTreeMap<&'static str, StreamTotals> = streams
        .iter()
        .map(|s| (s.name, StreamTotals::default()))
        .collect();
    let (mut requests, mut retries, mut redelivered, mut read_ahead) = (0u64, 0u64, 0u64, 0u64);
    let mut running: JoinSet<Result<Done, Failure>> = JoinSet::new();
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
            Ok(Err(Failure::Parked {
                job,
                requests: r,
                retries: t,
            })) => {
                live.remove(&key_of(&job));
                requests += r;
                retries += t;
                totals
                    .entry(job.stream().expect("valid job").name)
                    .or_default()
                    .requests += r;
                continue;
            }
            Ok(Err(Failure::Fatal(e))) => {
                running.abort_all();
                bars.clear().ok();
                return Err(stopped(e));
            }
            Err(panic) => {
                running.abort_all();
                return Err(stopped(anyhow!("a page task failed: {panic}")));
            }
        };
        let key = key_of(&done.job);
        live.remove(&key);
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
        read_ahead += u64::from(done.read_ahead);
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
        // A chain's next page goes to the front, new chains to the back: a cursor chain can
        // only be walked one page after another, so the long ones (persons, companies) must
        // keep moving from the start instead of becoming the sync's slow tail.
        for job in done.jobs {
            if live.insert(key_of(&job)) {
                let continues = job.stream == done.job.stream && job.parents == done.job.parents;
                if continues {
                    queue.push_front(job);
                } else {
                    queue.push_back(job);
                }
            }
        }
        // Injected: the queue delivers this finished job once more.
        if opts.inject.redelivers(&key) && redelivered_once.insert(key.clone()) {
            journal::enqueue(
                &shared.sink,
                "",
                std::slice::from_ref(&done.job),
                shared.job_secret.as_ref(),
            )
            .await
            .map_err(stopped)?;
            if live.insert(key) {
                queue.push_back(done.job);
                redelivered += 1;
            }
        }
    }
    for b in bar_of.values() {
        b.finish();
    }
    // Pages read ahead for a job that was already queued or running (a page run twice).
    let left: Vec<(&'static str, JoinHandle<Fetched>)> = shared
        .ahead
        .lock()
        .expect("read-ahead map")
        .drain()
        .map(|(_, v)| v)
        .collect();
    for (stream, task) in left {
        task.await.ok();
        requests += 1;
        totals.entry(stream).or_default().requests += 1;
    }

    let failed = journal::failures(&shared.sink, "", &sync_id).await?;
    if failed.is_empty() {
        // Complete: the sync manifest adds up every chain, whichever run finished it.
        let manifest = complete::write_manifest(&shared.sink, &run).await?;
        emit(&shared, |f, t| {
            metrics::SyncDone::from_manifest(&manifest).emf(f, t)
        });
    }
    Ok(Report {
        sync_id,
        streams: totals,
        requests,
        retries,
        redelivered,
        read_ahead,
        elapsed: began.elapsed(),
        failed,
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
        let state = if self.failed.is_empty() {
            "complete"
        } else {
            "incomplete"
        };
        out.push_str(&format!(
            "sync {} {state} in {:.1} s ({} retries",
            self.sync_id,
            self.elapsed.as_secs_f64(),
            self.retries
        ));
        if self.redelivered > 0 {
            out.push_str(&format!(", {} redelivered jobs", self.redelivered));
        }
        if self.read_ahead > 0 {
            out.push_str(&format!(", {} pages read ahead", self.read_ahead));
        }
        out.push(')');
        for f in &self.failed {
            out.push_str(&format!(
                "\nparked: {} page {}{}: {}",
                f.job.stream,
                f.job.page,
                f.job
                    .parents
                    .iter()
                    .map(|(k, v)| format!(" {k}={v}"))
                    .collect::<String>(),
                f.error
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_faults_parse_and_redeliveries_are_a_fixed_function_of_the_seed() {
        let i = Inject::parse("crash-after-writes=12, redeliver=0.5,seed=3").unwrap();
        assert_eq!(i.crash_after_writes, Some(12));
        let again = Inject::parse("redeliver=0.5,seed=3").unwrap();
        let picks: Vec<bool> = (0..200).map(|n| i.redelivers(&format!("k{n}"))).collect();
        assert_eq!(
            picks,
            (0..200)
                .map(|n| again.redelivers(&format!("k{n}")))
                .collect::<Vec<_>>()
        );
        let share = picks.iter().filter(|p| **p).count();
        assert!((60..140).contains(&share), "about half: {share}");
        assert!(!Inject::default().redelivers("k"));
        for bad in ["redeliver=2", "crash-after-writes=x", "explode=1", "seed"] {
            assert!(Inject::parse(bad).is_err(), "{bad}");
        }
    }
}
