//! The `affinity-sync` command line.

mod cli;
mod demo;

use affinity_mock::{FaultPlan, MockConfig, MockServer, RateLimits, Sizes};
use affinity_sync_io::s3_encryption::Encryption;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

// The system allocator, on purpose. mimalloc turns a page into batches faster in the core
// benchmark, but a whole sync held over three times the memory with it (peak RSS 125-137 MB
// against 38-39 MB for the benchmark's data set) and ran no measurably faster end to end:
// the page step is a small part of a sync's time (bench/RESULTS.md).

#[derive(Parser)]
#[command(
    name = "affinity-sync",
    version,
    about = "Affinity CRM to object storage, one page per step"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sync Affinity into a directory of Parquet or NDJSON batches.
    Sync(SyncArgs),
    /// Finish a sync that stopped (a crash, a parked page, a spent quota): runs its unfinished
    /// and parked pages, then marks it complete.
    Resume(ResumeArgs),
    /// Print what a sync of the selected streams will cost against the rate limits.
    Plan(PlanArgs),
    /// Load the latest complete sync of a directory into a database.
    Load {
        #[command(subcommand)]
        into: LoadInto,
    },
    /// Run SQL on the DuckDB database made by `load duckdb` and print the result.
    Query(QueryArgs),
    /// Print every stream and the columns of its tables (Markdown).
    Schema,
    /// Print the statements that create every table and load a complete sync's Parquet
    /// batches into it, for Snowflake, BigQuery, Redshift, Databricks, DuckDB or PostgreSQL.
    Ddl(DdlArgs),
    /// Serve the Affinity test double (API v1 and v2) until Ctrl-C.
    Mock(MockArgs),
    /// Carry a queue's jobs to an HTTP page step (the WebAssembly component under `spin up`
    /// or `wasmtime serve`): receive each SQS message, POST it, delete it when done.
    Worker(WorkerArgs),
    /// Receive Affinity webhooks: record each event, write tombstones for deletes and fetch
    /// created and updated records again (POST /webhook?token=SECRET; GET /health).
    Serve(ServeArgs),
    /// Manage Affinity's webhook subscriptions (at most three per account).
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Start the test double in-process, walk every endpoint to its last page and compare
    /// what was served with the double's ground truth.
    Demo(DemoArgs),
}

/// The receiver's secret: `--webhook-secret-file`, else AFFINITY_SYNC_WEBHOOK_SECRET.
#[derive(Args)]
struct WebhookSecretArgs {
    /// File holding the webhook secret (at least 16 characters, e.g. `openssl rand -hex 24`);
    /// otherwise AFFINITY_SYNC_WEBHOOK_SECRET.
    #[arg(long)]
    webhook_secret_file: Option<PathBuf>,
}

impl WebhookSecretArgs {
    fn token(&self) -> Result<affinity_sync_io::queued::secrets::Token> {
        let (text, source) = match &self.webhook_secret_file {
            Some(path) => (
                std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the webhook secret file {}", path.display())
                })?,
                format!("--webhook-secret-file {}", path.display()),
            ),
            None => (
                std::env::var("AFFINITY_SYNC_WEBHOOK_SECRET").map_err(|_| {
                    anyhow::anyhow!(
                        "no webhook secret: set AFFINITY_SYNC_WEBHOOK_SECRET or pass --webhook-secret-file \
                         (a random string of at least 16 characters, e.g. `openssl rand -hex 24`)"
                    )
                })?,
                "AFFINITY_SYNC_WEBHOOK_SECRET".to_string(),
            ),
        };
        affinity_sync_io::queued::secrets::Token::new(&text)
            .with_context(|| format!("the webhook secret from {source}"))
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    connection: Connection,
    /// Where change records, tombstones and refreshed records go (as `sync --out`).
    #[command(flatten)]
    output: Output,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Format of refreshed records: the format of your syncs (parquet or ndjson).
    #[arg(long, default_value = "parquet")]
    format: String,
    #[command(flatten)]
    secret: WebhookSecretArgs,
    /// Refreshes fetched at once.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Tries of a refresh before it is parked in changes/_refresh/failed/.
    #[arg(long, default_value_t = 6)]
    max_retries: u32,
}

#[derive(Subcommand)]
enum WebhooksAction {
    /// Subscribe a receiver: Affinity will POST events to URL?token=SECRET.
    Subscribe {
        #[command(flatten)]
        connection: Connection,
        /// The receiver's webhook URL without the token, e.g. https://hooks.example.com/webhook
        /// (the Lambda Function URL + /webhook, or `serve`'s address + /webhook).
        #[arg(long)]
        url: String,
        /// Comma-separated events (default: all).
        #[arg(long)]
        events: Option<String>,
        #[command(flatten)]
        secret: WebhookSecretArgs,
    },
    /// List the account's subscriptions (tokens masked).
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a subscription by id.
    Delete {
        #[command(flatten)]
        connection: Connection,
        id: i64,
    },
}

#[derive(Args)]
struct WorkerArgs {
    /// The SQS queue that carries the jobs.
    #[arg(long, env = "AFFINITY_SYNC_QUEUE_URL")]
    queue_url: String,
    /// Where each job is POSTed, e.g. http://127.0.0.1:3000/jobs (`spin up`).
    #[arg(long)]
    invoke: String,
    /// The step's bearer token (the component's AFFINITY_SYNC_TRIGGER_TOKEN).
    #[arg(long, env = "AFFINITY_SYNC_TRIGGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// An SQS-compatible endpoint (moto, ElasticMQ) instead of AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL_SQS")]
    sqs_endpoint: Option<String>,
    /// Exit once the queue has nothing visible, in flight or delayed (default: keep polling).
    #[arg(long)]
    until_empty: bool,
}

#[derive(Args)]
struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 18080)]
    port: u16,
    /// The API key the double accepts.
    #[arg(long, default_value = "test-key")]
    api_key: String,
    /// Base URL of v2 nextUrls (default: http:// + the request's Host header).
    #[arg(long)]
    public_url: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    faults: FaultArgs,
}

/// The data set: a seed and sizes (defaults: `Sizes::default()`).
#[derive(Args)]
struct DataArgs {
    /// Seed of the data set: the same seed and sizes always serve the same data.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Start from the small preset (a few hundred records) instead of the default sizes.
    #[arg(long)]
    small: bool,
    /// External persons.
    #[arg(long)]
    persons: Option<usize>,
    /// Internal persons (Affinity users).
    #[arg(long)]
    users: Option<usize>,
    #[arg(long)]
    companies: Option<usize>,
    #[arg(long)]
    opportunities: Option<usize>,
    /// Lists (cycling company, person, opportunity; the fourth is empty).
    #[arg(long)]
    lists: Option<usize>,
    #[arg(long)]
    entries_per_list: Option<usize>,
    #[arg(long)]
    notes: Option<usize>,
    #[arg(long)]
    interactions: Option<usize>,
    #[arg(long)]
    reminders: Option<usize>,
    #[arg(long)]
    entity_files: Option<usize>,
}

impl DataArgs {
    fn sizes(&self) -> Sizes {
        let mut s = if self.small {
            Sizes::small()
        } else {
            Sizes::default()
        };
        let set = |slot: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut s.persons, self.persons);
        set(&mut s.users, self.users);
        set(&mut s.companies, self.companies);
        set(&mut s.opportunities, self.opportunities);
        set(&mut s.lists, self.lists);
        set(&mut s.entries_per_list, self.entries_per_list);
        set(&mut s.notes, self.notes);
        set(&mut s.interactions, self.interactions);
        set(&mut s.reminders, self.reminders);
        set(&mut s.entity_files, self.entity_files);
        s
    }
}

#[derive(Args)]
struct LimitArgs {
    /// Answer 429 once the per-minute or monthly budget is spent (headers are always sent).
    #[arg(long)]
    enforce_rate_limit: bool,
    /// Requests per user per minute.
    #[arg(long, default_value_t = 900)]
    per_minute: u64,
    /// Requests per account per month.
    #[arg(long, default_value_t = 100_000)]
    monthly: u64,
    /// Speed of the double's clock: 60 makes a rate-limit minute last one second.
    #[arg(long, default_value_t = 1.0)]
    clock_scale: f64,
    /// Concurrent requests allowed before 429.
    #[arg(long)]
    max_concurrent: Option<usize>,
}

#[derive(Args)]
struct FaultArgs {
    /// Probability that a request gets a fault from --fault-kinds.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Fault kinds to draw from: 429,500,503,slow,drop,truncated,malformed.
    #[arg(long, default_value = "429,500,503,slow,drop,truncated,malformed")]
    fault_kinds: String,
    /// Faults for given request numbers, e.g. `3=429,4-6=500,9=drop`.
    #[arg(long, default_value = "")]
    fault_script: String,
    /// Seed of the fault draw.
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// Delay of `slow` faults in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    slow_ms: u64,
}

impl FaultArgs {
    fn plan(&self) -> Result<FaultPlan> {
        if !(0.0..=1.0).contains(&self.fault_rate) {
            anyhow::bail!(
                "--fault-rate must be between 0 and 1, got {}",
                self.fault_rate
            );
        }
        Ok(FaultPlan {
            probability: self.fault_rate,
            kinds: FaultPlan::parse_kinds(&self.fault_kinds).map_err(anyhow::Error::msg)?,
            script: FaultPlan::parse_script(&self.fault_script).map_err(anyhow::Error::msg)?,
            seed: self.fault_seed,
            slow_ms: self.slow_ms,
        })
    }
}

/// Which Affinity, with which key: shared by `sync`, `resume` and `plan`.
#[derive(Args)]
struct Connection {
    /// Affinity's base URL (http is allowed for local test doubles).
    #[arg(
        long,
        env = "AFFINITY_BASE_URL",
        default_value = "https://api.affinity.co"
    )]
    base_url: String,
    /// Read the API key from this file (otherwise AFFINITY_API_KEY, then .dlt/secrets.toml).
    #[arg(long)]
    api_key_file: Option<PathBuf>,
}

impl Connection {
    fn key(&self) -> Result<cli::api_key::Resolved> {
        cli::api_key::resolve(
            self.api_key_file.as_deref(),
            std::env::var("AFFINITY_API_KEY").ok(),
            &std::env::current_dir().unwrap_or_default(),
        )
    }
}

/// Where to read from and write to, shared by `sync` and `plan`.
#[derive(Args)]
struct Target {
    #[command(flatten)]
    connection: Connection,
    /// Comma-separated streams (default: all default streams); parents are added as needed.
    /// Opt-in streams: interactions, relationship_strengths, field_value_changes.
    #[arg(long)]
    streams: Option<String>,
    #[command(flatten)]
    output: Output,
}

/// Where batches go: shared by `sync`, `resume` and `plan`.
#[derive(Args)]
struct Output {
    /// Output directory, or `s3://bucket/prefix` (AWS credentials from the standard chain).
    #[arg(long, default_value = "./affinity-data")]
    out: String,
    /// Endpoint of an S3-compatible store (MinIO, R2, moto) for an s3:// --out; path-style.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    s3_endpoint: Option<String>,
    /// Server-side encryption S3 is asked for on every write of an s3:// --out: aes256
    /// (SSE-S3), kms (the account's aws/s3 key), kms:<key id, alias or ARN>, or none (for
    /// S3-compatible stores without it).
    #[arg(long, env = "AFFINITY_SYNC_S3_SSE", default_value = "aes256", value_parser = parse_sse)]
    s3_sse: Encryption,
}

fn parse_sse(text: &str) -> Result<Encryption> {
    Encryption::parse(text)
}

/// The sink an `--out` names.
enum Sink {
    Local(affinity_sync_io::sink::LocalDir),
    S3(affinity_sync_io::s3::S3Sink),
}

impl Output {
    async fn open(&self) -> Result<Sink> {
        Sink::open(
            "--out",
            &self.out,
            self.s3_endpoint.as_deref(),
            self.s3_sse.clone(),
        )
        .await
    }

    /// The latest complete sync there, without creating anything (for `plan`).
    async fn previous(&self) -> Result<Option<affinity_sync::layout::SyncManifest>> {
        if self.out.starts_with("s3://") {
            self.open().await?.latest_complete().await
        } else {
            Ok(cli::plan::previous_sync(std::path::Path::new(&self.out)))
        }
    }
}

impl Sink {
    /// The sink at `location` (a directory or `s3://bucket/prefix`), named `flag` in errors;
    /// `encryption` is what S3 is asked for on writes.
    async fn open(
        flag: &str,
        location: &str,
        s3_endpoint: Option<&str>,
        encryption: Encryption,
    ) -> Result<Sink> {
        if location.starts_with("s3://") {
            Ok(Sink::S3(
                affinity_sync_io::s3::S3Sink::open(location, s3_endpoint)
                    .await?
                    .with_encryption(encryption),
            ))
        } else if location.contains("://") {
            anyhow::bail!("{flag} {location}: only a directory or s3://bucket/prefix is supported")
        } else {
            Ok(Sink::Local(affinity_sync_io::sink::LocalDir::open(
                std::path::Path::new(location),
            )?))
        }
    }

    /// The latest complete sync in this sink.
    async fn latest_complete(&self) -> Result<Option<affinity_sync::layout::SyncManifest>> {
        match self {
            Sink::Local(s) => cli::plan::latest_complete(s).await,
            Sink::S3(s) => cli::plan::latest_complete(s).await,
        }
    }
}

/// Runs a sync or resume on whichever sink `--out` named.
async fn run_on(
    sink: Sink,
    options: cli::sync::Options,
    start: cli::sync::Start,
    quiet: bool,
    out: &str,
) -> Result<cli::sync::Report> {
    async fn go<S: affinity_sync_io::ObjectSink + 'static>(
        sink: S,
        options: cli::sync::Options,
        start: cli::sync::Start,
        quiet: bool,
        out: &str,
    ) -> Result<cli::sync::Report> {
        if !quiet && matches!(start, cli::sync::Start::New { .. }) {
            for id in cli::sync::unfinished(&sink).await? {
                eprintln!(
                    "note: sync {id} in {out} stopped before it was complete; \
                     `affinity-sync resume --out {out} --sync-id {id}` finishes it"
                );
            }
        }
        cli::sync::run(options, sink, start).await
    }
    match sink {
        Sink::Local(s) => go(s, options, start, quiet, out).await,
        Sink::S3(s) => go(s, options, start, quiet, out).await,
    }
}

impl Target {
    fn key(&self) -> Result<cli::api_key::Resolved> {
        self.connection.key()
    }

    /// What a sync of `streams` will cost, knowing the latest complete sync in the output;
    /// `probe_lists` also fetches list sizes (one request).
    async fn plan(
        &self,
        key: &cli::api_key::Resolved,
        streams: &[&'static affinity_sync::catalog::Stream],
        previous: Option<affinity_sync::layout::SyncManifest>,
        probe_lists: bool,
    ) -> Result<cli::plan::Plan> {
        let http = affinity_sync_io::fetch::http_client()?;
        cli::plan::make(
            &http,
            &self.connection.base_url,
            &key.key,
            &key.source,
            streams,
            previous,
            probe_lists,
        )
        .await
    }
}

#[derive(Args)]
struct SyncArgs {
    #[command(flatten)]
    target: Target,
    /// Batch format: parquet or ndjson (gzip).
    #[arg(long, default_value = "parquet")]
    format: String,
    /// Start even when the plan needs more requests than the monthly quota has left.
    #[arg(long)]
    ignore_quota: bool,
    /// Read notes (and their replies) and interactions only since the latest complete sync
    /// in --out that had them; `load duckdb` adds them to that sync's rows. Other streams,
    /// which Affinity cannot filter by change time, are read in full.
    #[arg(long)]
    incremental: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// How the pages of a sync are run: shared by `sync` and `resume`.
#[derive(Args)]
struct RunArgs {
    /// Pages fetched at once (sharing one rate budget), a chain's next page read ahead
    /// included.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Retries of a page after rate limits, server errors and broken responses; then the
    /// page is parked and `resume` tries it again.
    #[arg(long, default_value_t = 6)]
    max_retries: u32,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Fault injection for the reliability tests: `crash-after-writes=N,redeliver=P,seed=S`.
    #[arg(long, hide = true, default_value = "")]
    inject: String,
    /// Sign queued jobs with the secret in this file (HMAC-SHA256; at least 16 bytes), and
    /// refuse unsigned or altered ones on resume. Otherwise AFFINITY_SYNC_JOB_SECRET.
    #[arg(long)]
    job_secret_file: Option<PathBuf>,
}

/// The job signing secret from `--job-secret-file` or `AFFINITY_SYNC_JOB_SECRET`, if any.
fn job_secret(file: Option<&std::path::Path>) -> Result<Option<affinity_sync::job::JobSecret>> {
    let (text, source) = match file {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the job secret file {}", path.display()))?,
            format!("--job-secret-file {}", path.display()),
        ),
        None => match std::env::var("AFFINITY_SYNC_JOB_SECRET") {
            Ok(v) => (v, "AFFINITY_SYNC_JOB_SECRET".to_string()),
            Err(_) => return Ok(None),
        },
    };
    affinity_sync::job::JobSecret::new(text.trim().as_bytes())
        .map(Some)
        .with_context(|| format!("the job secret from {source} is shorter than 16 bytes"))
}

impl RunArgs {
    fn options(
        &self,
        connection: &Connection,
        key: cli::api_key::Resolved,
    ) -> Result<cli::sync::Options> {
        Ok(cli::sync::Options {
            base_url: connection.base_url.clone(),
            key: key.key,
            key_source: key.source,
            concurrency: self.concurrency.max(1),
            max_retries: self.max_retries,
            progress: !self.quiet,
            inject: cli::sync::Inject::parse(&self.inject)?,
            job_secret: job_secret(self.job_secret_file.as_deref())?,
        })
    }
}

#[derive(Args)]
struct ResumeArgs {
    #[command(flatten)]
    connection: Connection,
    /// Where the sync writes (its --out).
    #[command(flatten)]
    output: Output,
    /// The sync to finish (default: the latest unfinished one in --out).
    #[arg(long)]
    sync_id: Option<String>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum LoadInto {
    /// One DuckDB table per table of the sync (replacing earlier loads, in one transaction),
    /// plus wide views with one column per field: persons_wide, companies_wide, list_<id>_wide.
    Duckdb(LoadDuckdbArgs),
    /// One PostgreSQL table per table of the sync, in a schema of its own, replaced stream by
    /// stream in one transaction each (binary COPY), then the webhook changes applied.
    Postgres(LoadPostgresArgs),
}

#[derive(Args)]
struct LoadPostgresArgs {
    /// What `sync` wrote: a directory, or `s3://bucket/prefix` (AWS credentials from the
    /// standard chain).
    #[arg(long, default_value = "./affinity-data")]
    from: String,
    /// Endpoint of an S3-compatible store (MinIO, R2, moto) for an s3:// --from; path-style.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    s3_endpoint: Option<String>,
    /// The database: `postgres://user:password@host:5432/database`. Prefer the environment
    /// variable, which keeps the password off the command line.
    #[arg(long, env = "AFFINITY_SYNC_POSTGRES_DSN", hide_env_values = true)]
    dsn: String,
    /// The schema the tables go in (created if missing).
    #[arg(long, default_value = "affinity")]
    schema: String,
}

#[derive(Args)]
struct LoadDuckdbArgs {
    /// The directory `sync` wrote.
    #[arg(long, default_value = "./affinity-data")]
    from: PathBuf,
    /// The DuckDB database file (created if missing).
    #[arg(long, default_value = "./affinity.duckdb")]
    db: PathBuf,
}

#[derive(Args)]
struct DdlArgs {
    /// The warehouse's SQL dialect.
    #[arg(long, value_enum)]
    dialect: cli::ddl::Dialect,
    /// Where the warehouse reads the batches: `s3://bucket/prefix`, `gs://…`, a path (default:
    /// --from's absolute path).
    #[arg(long)]
    location: Option<String>,
    /// A local output of `affinity-sync sync`: its latest complete sync is loaded, and tables
    /// without batches in it are only created.
    #[arg(long)]
    from: Option<PathBuf>,
    /// The sync to load (default: the latest complete one in --from).
    #[arg(long)]
    sync_id: Option<String>,
}

/// `affinity-sync ddl`: the sync to load and where, then the statements.
fn ddl(args: DdlArgs) -> Result<String> {
    let latest = args
        .from
        .as_deref()
        .and_then(|f| cli::plan::complete_syncs(f).pop());
    if let Some(m) = latest.as_ref().filter(|m| m.format != "parquet") {
        anyhow::bail!(
            "sync {} is {}; the warehouse statements load Parquet: sync with --format parquet",
            m.sync_id,
            m.format
        );
    }
    let sync_id = match (&args.sync_id, &latest) {
        (Some(id), _) => id.clone(),
        (None, Some(m)) => m.sync_id.clone(),
        (None, None) => anyhow::bail!(
            "no sync to load: pass --sync-id, or --from DIR to take the latest complete sync there"
        ),
    };
    if !affinity_sync::job::valid_sync_id(&sync_id) {
        anyhow::bail!("--sync-id {sync_id:?} is not a sync id (e.g. 20261124T065900Z-ab12)");
    }
    let location = match (&args.location, &args.from) {
        (Some(l), _) => l.clone(),
        (None, Some(from)) => std::fs::canonicalize(from)
            .with_context(|| format!("--from {}", from.display()))?
            .display()
            .to_string(),
        (None, None) => anyhow::bail!("pass --location (e.g. s3://bucket/prefix) or --from DIR"),
    };
    let from = args.from.clone();
    // Webhook changes: from the sync's manifest when --from has it, else the sync id's time.
    let started_at = args
        .from
        .as_deref()
        .and_then(|f| {
            cli::plan::complete_syncs(f)
                .into_iter()
                .find(|m| m.sync_id == sync_id)
        })
        .map(|m| m.started_at)
        .or_else(|| cli::ddl::started_at_of(&sync_id));
    // Which change batches there are: looked up in --from, or in a local --location; in a
    // bucket, the change records (NDJSON) and refreshed rows in Parquet are assumed.
    let local_changes = from
        .clone()
        .or_else(|| {
            let p = std::path::PathBuf::from(&location);
            (!location.contains("://") && p.is_dir()).then_some(p)
        })
        .map(|root| root.join("changes"));
    let has = |dir: &str, ext: &str| match &local_changes {
        Some(root) => cli::plan::has_batches(&root.join(dir), ext),
        None => {
            matches!((dir, ext), ("events" | "tombstones", "ndjson.gz"))
                || (!matches!(dir, "events" | "tombstones") && ext == "parquet")
        }
    };
    let changes = started_at.map(|sync_started_at| cli::ddl::ChangeBatches {
        sync_started_at,
        has: &has,
    });
    Ok(cli::ddl::render(
        args.dialect,
        &location,
        &sync_id,
        |table| {
            from.as_ref().is_none_or(|from| {
                let dir = from.join(table).join(format!("sync_id={sync_id}"));
                cli::plan::has_batches(&dir, ".parquet")
            })
        },
        changes.as_ref(),
    ))
}

/// `affinity-sync load postgres`.
async fn load_postgres(args: LoadPostgresArgs) -> Result<()> {
    if !args.from.contains("://") && !std::path::Path::new(&args.from).is_dir() {
        anyhow::bail!(
            "--from {}: no such directory; run `affinity-sync sync --out {}` first",
            args.from,
            args.from
        );
    }
    // Read only: objects of any server-side encryption read back the same.
    let sink = Sink::open(
        "--from",
        &args.from,
        args.s3_endpoint.as_deref(),
        Encryption::default(),
    )
    .await?;
    let loaded = match &sink {
        Sink::Local(s) => cli::postgres_load::load(s, &args.from, &args.dsn, &args.schema).await,
        Sink::S3(s) => cli::postgres_load::load(s, &args.from, &args.dsn, &args.schema).await,
    }?;
    for (table, rows) in &loaded.tables {
        println!("{table:<28} {rows:>9} rows");
    }
    let c = &loaded.changes;
    if c.events > 0 {
        println!(
            "webhook changes: {} events; {} records upserted and {} deleted since the sync started",
            c.events, c.upserted, c.deleted
        );
    }
    println!(
        "loaded sync {} into {} (schema {})",
        loaded.sync_id,
        cli::postgres_load::describe(&args.dsn),
        args.schema
    );
    Ok(())
}

#[derive(Args)]
struct QueryArgs {
    /// The SQL to run.
    sql: String,
    /// The DuckDB database file.
    #[arg(long, default_value = "./affinity.duckdb")]
    db: PathBuf,
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    target: Target,
}

#[derive(Args)]
struct DemoArgs {
    /// Where the demo writes its batches.
    #[arg(long, default_value = "./affinity-demo")]
    out: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AFFINITY_SYNC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Mock(args) => rt.block_on(mock(args)),
        Command::Sync(args) => rt.block_on(sync(args)),
        Command::Resume(args) => rt.block_on(resume(args)),
        Command::Plan(args) => rt.block_on(plan(args)),
        Command::Load {
            into: LoadInto::Postgres(args),
        } => rt.block_on(load_postgres(args)),
        #[cfg(not(feature = "duckdb"))]
        Command::Load {
            into: LoadInto::Duckdb(_),
        }
        | Command::Query(_) => anyhow::bail!(
            "this affinity-sync was built without DuckDB (--no-default-features): build it with the default features for `load duckdb` and `query`"
        ),
        #[cfg(feature = "duckdb")]
        Command::Load {
            into: LoadInto::Duckdb(args),
        } => {
            let loaded = cli::duckdb_load::load(&args.from, &args.db)?;
            for (table, rows) in &loaded.tables {
                println!("{table:<28} {rows:>9} rows");
            }
            println!("views: {}", loaded.views.join(", "));
            let c = &loaded.changes;
            if c.events > 0 {
                println!(
                    "webhook changes: {} events; {} records upserted and {} deleted since the sync started",
                    c.events, c.upserted, c.deleted
                );
            }
            println!("loaded sync {} into {}", loaded.sync_id, args.db.display());
            Ok(())
        }
        #[cfg(feature = "duckdb")]
        Command::Query(args) => {
            println!("{}", cli::duckdb_load::query(&args.db, &args.sql)?);
            Ok(())
        }
        Command::Schema => {
            print!("{}", affinity_sync::catalog::markdown());
            Ok(())
        }
        Command::Ddl(args) => {
            print!("{}", ddl(args)?);
            Ok(())
        }
        Command::Worker(a) => {
            let worked = rt.block_on(cli::worker::run(cli::worker::WorkerArgs {
                queue_url: a.queue_url,
                invoke: a.invoke,
                token: a.token,
                sqs_endpoint: a.sqs_endpoint,
                until_empty: a.until_empty,
            }))?;
            println!(
                "{} messages delivered: {} done, {} left for another delivery",
                worked.delivered, worked.done, worked.again
            );
            Ok(())
        }
        Command::Serve(args) => rt.block_on(serve(args)),
        Command::Webhooks { action } => rt.block_on(webhooks(action)),
        Command::Demo(args) => rt.block_on(demo::run(args.data.seed, args.data.sizes(), args.out)),
    }
}

async fn mock(args: MockArgs) -> Result<()> {
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| {
            format!(
                "--host {:?} --port {} is not a socket address",
                args.host, args.port
            )
        })?;
    let config = MockConfig {
        api_key: args.api_key.clone(),
        seed: args.data.seed,
        sizes: args.data.sizes(),
        limits: RateLimits {
            per_minute: args.limits.per_minute,
            monthly: args.limits.monthly,
            enforce: args.limits.enforce_rate_limit,
            clock_scale: args.limits.clock_scale,
            max_concurrent: args.limits.max_concurrent,
        },
        faults: args.faults.plan()?,
        public_url: args.public_url.clone(),
    };
    let server = MockServer::start(config, addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: is the port in use? Try --port 0"))?;
    let ds = server.dataset();
    let url = server.base_url();
    // The banner is best-effort: a closed stdout (`mock | head -1`) must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = (|| -> std::io::Result<()> {
        writeln!(out, "Affinity test double listening on {url}")?;
        writeln!(
            out,
            "  API key:  {} (the double's own test key)",
            args.api_key
        )?;
        writeln!(
            out,
            "  data:     seed {}: {} persons, {} companies, {} opportunities, {} lists, {} list entries, {} notes, {} interactions",
            ds.seed,
            ds.persons.len(),
            ds.companies.len(),
            ds.opportunities.len(),
            ds.lists.len(),
            ds.list_entries.len(),
            ds.notes.len(),
            ds.interactions.len()
        )?;
        writeln!(
            out,
            "  try:      curl -u :{} '{url}/persons?page_size=2'",
            args.api_key
        )?;
        writeln!(
            out,
            "            curl -H 'Authorization: Bearer {}' '{url}/v2/persons?limit=2&fieldTypes=enriched'",
            args.api_key
        )?;
        writeln!(
            out,
            "  truth:    curl {url}/__truth   stats: curl {url}/__stats"
        )?;
        writeln!(out, "Ctrl-C stops it.")?;
        out.flush()
    })();
    drop(out);
    server.run_until_ctrl_c().await;
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    let format = affinity_sync::Format::parse(&args.format)
        .with_context(|| format!("--format must be parquet or ndjson, got {:?}", args.format))?;
    let options = cli::serve::Options {
        listen: args.listen,
        base_url: args.connection.base_url.clone(),
        key: args.connection.key()?.key,
        format,
        secret: args.secret.token()?,
        workers: args.workers,
        max_retries: args.max_retries,
    };
    let out = args.output.out.clone();
    let ready = move |addr: SocketAddr| {
        println!(
            "receiving Affinity webhooks on http://{addr}/webhook?token=*** (writing to {out}); Ctrl-C stops"
        );
        let _ = std::io::stdout().flush();
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match args.output.open().await? {
        Sink::Local(s) => cli::serve::run(s, options, ready, stop).await,
        Sink::S3(s) => cli::serve::run(s, options, ready, stop).await,
    }
}

async fn webhooks(action: WebhooksAction) -> Result<()> {
    let client = |c: &Connection| -> Result<cli::webhooks::Client> {
        let key = c.key()?;
        cli::webhooks::Client::new(&c.base_url, key.key, key.source)
    };
    match action {
        WebhooksAction::Subscribe {
            connection,
            url,
            events,
            secret,
        } => {
            let events = cli::webhooks::events(events.as_deref())?;
            let full = cli::webhooks::url_with_token(&url, &secret.token()?)?;
            let created = client(&connection)?.subscribe(&full, &events).await?;
            println!("subscribed: {}", cli::webhooks::describe(&created));
            println!(
                "Affinity posts to (this URL holds the webhook secret; keep it out of tickets and logs):"
            );
            println!("  {full}");
        }
        WebhooksAction::List { connection } => {
            let all = client(&connection)?.list().await?;
            if all.is_empty() {
                println!("no webhook subscriptions");
            }
            for w in &all {
                println!("{}", cli::webhooks::describe(w));
            }
            println!("({} of {} allowed)", all.len(), cli::webhooks::LIMIT);
        }
        WebhooksAction::Delete { connection, id } => {
            client(&connection)?.delete(id).await?;
            println!("deleted webhook subscription {id}");
        }
    }
    Ok(())
}

async fn plan(args: PlanArgs) -> Result<()> {
    let t = &args.target;
    let streams = cli::sync::select_streams(t.streams.as_deref())?;
    let key = t.key()?;
    let plan = t
        .plan(&key, &streams, t.output.previous().await?, true)
        .await?;
    println!("{}", plan.table());
    Ok(())
}

async fn sync(args: SyncArgs) -> Result<()> {
    let t = &args.target;
    let format = affinity_sync::Format::parse(&args.format)
        .with_context(|| format!("--format must be parquet or ndjson, got {:?}", args.format))?;
    let streams = cli::sync::select_streams(t.streams.as_deref())?;
    affinity_sync::Config::new(&t.connection.base_url, "", format)
        .map_err(|e| anyhow::anyhow!("--base-url: {e}"))?;
    let key = t.key()?;
    let options = args.run.options(&t.connection, key.clone())?;
    let sink = t.output.open().await?;
    // The bill first: refuse a sync the monthly quota cannot pay for.
    let plan = t
        .plan(&key, &streams, sink.latest_complete().await?, false)
        .await?;
    let (need, left) = (plan.total(), plan.quota.monthly_remaining);
    let at_least = if plan.exact() { "" } else { "at least " };
    if need > left && !args.ignore_quota {
        anyhow::bail!(
            "this sync needs {at_least}{need} requests but only {left} of the monthly quota of {} remain \
             (it resets in {:.1} days); run `affinity-sync plan` for the breakdown, sync fewer --streams, \
             or pass --ignore-quota to start anyway",
            plan.quota.monthly_limit,
            plan.quota.monthly_reset_secs as f64 / 86_400.0
        );
    }
    if !args.run.quiet {
        eprintln!(
            "plan: {at_least}{need} requests; {left} of {} monthly requests left",
            plan.quota.monthly_limit
        );
    }
    let start = cli::sync::Start::New {
        streams,
        format,
        incremental: args.incremental,
    };
    let out = &t.output.out;
    let report = run_on(sink, options, start, args.run.quiet, out).await?;
    finish(report, out)
}

async fn resume(args: ResumeArgs) -> Result<()> {
    let options = args.run.options(&args.connection, args.connection.key()?)?;
    let out = &args.output.out;
    if !out.starts_with("s3://") && !std::path::Path::new(out).is_dir() {
        anyhow::bail!(
            "--out {out} does not exist: resume continues a sync in the directory it wrote to"
        );
    }
    let sink = args.output.open().await?;
    let start = cli::sync::Start::Resume {
        sync_id: args.sync_id.clone(),
    };
    let report = run_on(sink, options, start, args.run.quiet, out).await?;
    finish(report, out)
}

/// Prints the summary; a sync with parked pages is an error that says how to finish it.
fn finish(report: cli::sync::Report, out: &str) -> Result<()> {
    println!("{}", report.table());
    if !report.failed.is_empty() {
        anyhow::bail!(
            "sync {id} is incomplete: {} page(s) failed and are parked in {out}/_jobs/sync_id={id}/failed/; \
             fix the cause and run `affinity-sync resume --out {out} --sync-id {id}`",
            report.failed.len(),
            id = report.sync_id,
        );
    }
    println!("batches in {out}");
    Ok(())
}
