//! Argument groups several commands share, declared once so an option reads the same
//! everywhere (cargo's `arg_jobs()`, `arg_manifest_path()`): each command flattens the ones
//! it needs into its own `#[derive(Args)]` struct.

use crate::ops;
use crate::ops::store::{Store, WriteEncryption};
use affinity_mock::{FaultPlan, RateLimits, Sizes};
use affinity_sync_core::layout::SyncManifest;
use affinity_sync_io::s3_encryption::Encryption;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Which Affinity, with which key: `sync`, `resume`, `plan`, `serve` and `webhooks`.
#[derive(Args)]
pub struct Connection {
    /// Affinity's base URL (http is allowed for local test doubles).
    #[arg(
        long,
        env = "AFFINITY_BASE_URL",
        default_value = "https://api.affinity.co"
    )]
    pub base_url: String,
    /// Read the API key from this file (otherwise AFFINITY_API_KEY, then .dlt/secrets.toml).
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
}

impl Connection {
    pub fn key(&self) -> Result<ops::api_key::Resolved> {
        ops::api_key::resolve(
            self.api_key_file.as_deref(),
            std::env::var("AFFINITY_API_KEY").ok(),
            &std::env::current_dir().unwrap_or_default(),
        )
    }

    /// What a sync of `streams` will cost, knowing the latest complete sync in the output;
    /// `probe_lists` also fetches list sizes (one request).
    pub async fn plan(
        &self,
        key: &ops::api_key::Resolved,
        streams: &[&'static affinity_sync_core::catalog::Stream],
        previous: Option<SyncManifest>,
        probe_lists: bool,
    ) -> Result<ops::plan::Plan> {
        let http = affinity_sync_io::fetch::http_client()?;
        ops::plan::make(
            &http,
            &self.base_url,
            &key.key,
            &key.source,
            streams,
            previous,
            probe_lists,
        )
        .await
    }
}

/// Which streams a sync reads: `sync` and `plan`.
#[derive(Args)]
pub struct Streams {
    /// Comma-separated streams (default: all default streams); parents are added as needed.
    /// Opt-in streams: interactions, relationship_strengths, field_value_changes.
    #[arg(long)]
    streams: Option<String>,
}

impl Streams {
    pub fn select(&self) -> Result<Vec<&'static affinity_sync_core::catalog::Stream>> {
        ops::sync::select_streams(self.streams.as_deref())
    }
}

/// What a sync reads and where it writes: `sync` and `plan`.
#[derive(Args)]
pub struct Target {
    #[command(flatten)]
    pub connection: Connection,
    #[command(flatten)]
    pub streams: Streams,
    #[command(flatten)]
    pub output: Output,
}

/// Where batches go: `sync`, `resume`, `plan` and `serve`.
#[derive(Args)]
pub struct Output {
    /// Output directory, `s3://bucket/prefix` (AWS credentials from the standard chain) or
    /// `az://container/prefix` (Azure Blob Storage: AZURE_STORAGE_ACCOUNT, and a key, SAS,
    /// service principal or managed identity; README "Azure") or `gs://bucket/prefix` (Google
    /// Cloud Storage: a service-account key or application-default credentials).
    #[arg(long, default_value = "./affinity-data")]
    pub out: String,
    /// Endpoint of an S3-compatible store (MinIO, R2, moto) for an s3:// --out; path-style.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    pub s3_endpoint: Option<String>,
    /// Server-side encryption S3 is asked for on every write of an s3:// --out: aes256
    /// (SSE-S3), kms (the account's aws/s3 key), kms:<key id, alias or ARN>, or none (for
    /// S3-compatible stores without it).
    #[arg(long, env = "AFFINITY_SYNC_S3_SSE", default_value = "aes256", value_parser = Encryption::parse)]
    pub s3_sse: Encryption,
    /// The Cloud KMS key every write of a gs:// --out is encrypted with
    /// (projects/P/locations/L/keyRings/R/cryptoKeys/K); default: Google-managed.
    #[arg(long, env = "AFFINITY_SYNC_GCS_KMS_KEY")]
    pub gcs_kms_key: Option<String>,
    /// The encryption scope of the storage account every write of an az:// --out is
    /// encrypted with (one with a customer-managed key); default: the container's.
    #[arg(long, env = "AFFINITY_SYNC_AZURE_ENCRYPTION_SCOPE")]
    pub azure_encryption_scope: Option<String>,
}

impl Output {
    pub async fn open(&self) -> Result<Store> {
        let encryption = WriteEncryption {
            s3: self.s3_sse.clone(),
            gcs_kms_key: self.gcs_kms_key.clone(),
            azure_scope: self.azure_encryption_scope.clone(),
        };
        Store::open("--out", &self.out, self.s3_endpoint.as_deref(), &encryption).await
    }

    /// The latest complete sync there, without creating anything (for `plan`).
    pub async fn previous(&self) -> Result<Option<SyncManifest>> {
        if ops::store::is_remote(&self.out) {
            self.open().await?.latest_complete().await
        } else {
            Ok(ops::plan::previous_sync(Path::new(&self.out)))
        }
    }
}

/// How the pages of a sync are run: `sync` and `resume`.
#[derive(Args)]
pub struct RunArgs {
    /// Pages fetched at once (sharing one rate budget), a chain's next page read ahead
    /// included.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Retries of a page after rate limits, server errors and broken responses; then the
    /// page is parked and `resume` tries it again.
    #[arg(long, default_value_t = 6)]
    pub max_retries: u32,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Fault injection for the reliability tests: `crash-after-writes=N,redeliver=P,seed=S`.
    #[arg(long, hide = true, default_value = "")]
    pub inject: String,
    /// Sign queued jobs with the secret in this file (HMAC-SHA256; at least 16 bytes), and
    /// refuse unsigned or altered ones on resume. Otherwise AFFINITY_SYNC_JOB_SECRET.
    #[arg(long)]
    pub job_secret_file: Option<PathBuf>,
}

impl RunArgs {
    pub fn options(
        &self,
        connection: &Connection,
        key: ops::api_key::Resolved,
    ) -> Result<ops::sync::Options> {
        Ok(ops::sync::Options {
            base_url: connection.base_url.clone(),
            key: key.key,
            key_source: key.source,
            concurrency: self.concurrency.max(1),
            max_retries: self.max_retries,
            progress: !self.quiet,
            inject: ops::sync::Inject::parse(&self.inject)?,
            job_secret: self.job_secret()?,
            metrics: super::metrics_name(),
        })
    }

    /// The job signing secret from `--job-secret-file` or `AFFINITY_SYNC_JOB_SECRET`, if any.
    fn job_secret(&self) -> Result<Option<affinity_sync_core::job::JobSecret>> {
        let Some((text, source)) = secret_text(
            self.job_secret_file.as_deref(),
            "--job-secret-file",
            "AFFINITY_SYNC_JOB_SECRET",
            "job secret",
        )?
        else {
            return Ok(None);
        };
        affinity_sync_core::job::JobSecret::new(text.trim().as_bytes())
            .map(Some)
            .with_context(|| format!("the job secret from {source} is shorter than 16 bytes"))
    }
}

/// The receiver's secret: `--webhook-secret-file`, else AFFINITY_SYNC_WEBHOOK_SECRET
/// (`serve`, `webhooks subscribe`).
#[derive(Args)]
pub struct WebhookSecretArgs {
    /// File holding the webhook secret (at least 16 characters, e.g. `openssl rand -hex 24`);
    /// otherwise AFFINITY_SYNC_WEBHOOK_SECRET.
    #[arg(long)]
    pub webhook_secret_file: Option<PathBuf>,
}

impl WebhookSecretArgs {
    pub fn token(&self) -> Result<affinity_sync_io::queued::secrets::Token> {
        let (text, source) = secret_text(
            self.webhook_secret_file.as_deref(),
            "--webhook-secret-file",
            "AFFINITY_SYNC_WEBHOOK_SECRET",
            "webhook secret",
        )?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no webhook secret: set AFFINITY_SYNC_WEBHOOK_SECRET or pass --webhook-secret-file \
                 (a random string of at least 16 characters, e.g. `openssl rand -hex 24`)"
            )
        })?;
        affinity_sync_io::queued::secrets::Token::new(&text)
            .with_context(|| format!("the webhook secret from {source}"))
    }
}

/// A secret's text from the file `file` (the option `flag`), else from the environment
/// variable `var`, with where it came from (for errors, never the secret); `None` when
/// neither is set.
fn secret_text(
    file: Option<&Path>,
    flag: &str,
    var: &str,
    what: &str,
) -> Result<Option<(String, String)>> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
            Ok(Some((text, format!("{flag} {}", path.display()))))
        }
        None => Ok(std::env::var(var).ok().map(|v| (v, var.to_string()))),
    }
}

/// The test double's data set: a seed and sizes (defaults: `Sizes::default()`); `mock` and
/// `demo`.
#[derive(Args)]
pub struct DataArgs {
    /// Seed of the data set: the same seed and sizes always serve the same data.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
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
    pub fn sizes(&self) -> Sizes {
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

/// The test double's rate limits (`mock`).
#[derive(Args)]
pub struct LimitArgs {
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

impl LimitArgs {
    pub fn limits(&self) -> RateLimits {
        RateLimits {
            per_minute: self.per_minute,
            monthly: self.monthly,
            enforce: self.enforce_rate_limit,
            clock_scale: self.clock_scale,
            max_concurrent: self.max_concurrent,
        }
    }
}

/// The test double's faults on demand (`mock`).
#[derive(Args)]
pub struct FaultArgs {
    /// Probability that a request gets a fault from --fault-kinds.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Fault kinds to draw from: 429,500,503,slow,drop,truncated,malformed.
    #[arg(long, default_value = "429,500,503,slow,drop,truncated,malformed")]
    fault_kinds: String,
    /// Faults for given request numbers, e.g. `3=429,4-6=500,9=drop` (also `403`: a page the
    /// key may not read, never retried).
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
    pub fn plan(&self) -> Result<FaultPlan> {
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
