//! The component's deployment of the queued driver, built from the environment for every
//! call (Spin gives each request a fresh instance), and the two things a caller can ask of
//! it: run one job, start a sync. The HTTP routes and the `affinity:sync/step` export are
//! two doors to these.

use crate::aws::Signer;
use crate::fetch::WasiFetcher;
use crate::s3::S3Store;
use crate::sqs::SqsQueue;
use affinity_sync_io::queued::Deployment;
use affinity_sync_io::queued::page::{self, Handled};
use affinity_sync_io::queued::secrets::Secrets;
use affinity_sync_io::queued::settings::Settings;
use affinity_sync_io::queued::start::{self, StartRequest, Started};
use anyhow::Result;

pub type App = Deployment<S3Store, SqsQueue, WasiFetcher>;

/// Logs go to stderr (Spin's and wasmtime's log of the component), one line each, never
/// with a secret. `AFFINITY_SYNC_LOG` sets the level (default `info`).
pub fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let level = std::env::var("AFFINITY_SYNC_LOG")
            .ok()
            .and_then(|l| l.parse::<tracing::Level>().ok())
            .unwrap_or(tracing::Level::INFO);
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_target(false)
            .with_writer(std::io::stderr)
            .init();
    });
}

/// The deployment, from the environment (Spin `--env`/`environment`, `wasmtime serve
/// --env`). Nothing is contacted: a wrong bucket or queue shows in the first call's error.
pub fn app() -> Result<App> {
    let var = |name: &str| std::env::var(name).ok();
    let settings = Settings::from_vars("component", var)?;
    let secrets = Secrets::from_vars(var)?;
    let sink = S3Store::new(
        &settings.out,
        settings.s3_endpoint.as_deref(),
        settings.s3_encryption.clone(),
        Signer::from_vars(var)?,
    )?;
    let queue = SqsQueue {
        url: settings.queue_url.clone(),
        dead_letter_url: settings.dead_letter_url.clone(),
        signer: Signer::from_vars(var)?,
    };
    Ok(Deployment {
        settings,
        secrets,
        sink,
        queue,
        fetcher: WasiFetcher,
    })
}

/// Runs one queue message. Every request inside completes before the next starts (see
/// `outbound`), so a plain executor drives the driver to its end.
pub fn run_job(app: &App, message: &str, attempt: u32) -> Result<Handled> {
    futures_executor::block_on(page::run(app, message, attempt))
}

/// Answers one Affinity webhook delivery (status and JSON body).
pub fn webhook(app: &App, token: &str, body: &[u8]) -> (u16, serde_json::Value) {
    futures_executor::block_on(affinity_sync_io::queued::webhook::handle(app, token, body))
}

/// Why a sync did not start.
pub enum StartError {
    /// The request was wrong: what, and how to ask.
    BadRequest(String),
    /// The store or the queue failed.
    Failed(anyhow::Error),
}

/// Starts a sync from a JSON request (empty for the defaults).
pub fn start(app: &App, body: &[u8]) -> Result<Started, StartError> {
    let request: StartRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            StartError::BadRequest(format!(
                "the body is not a start request ({e}): send {{\"streams\": \"persons,companies\", \"format\": \"parquet\", \"force\": false}}, every field optional"
            ))
        })?
    };
    let request = request
        .resolve(&app.settings)
        .map_err(StartError::BadRequest)?;
    futures_executor::block_on(start::start(app, request)).map_err(StartError::Failed)
}
