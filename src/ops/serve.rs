//! `affinity-sync serve`: the webhook receiver on one machine.
//!
//! `POST /webhook?token=SECRET` takes one Affinity event: the core checks it and names it
//! (`affinity_sync_core::changes::receive`), its change record, tombstones and pending refreshes
//! are written (`affinity_sync_io::changes::record`), and only then is it answered 200, so an
//! event Affinity saw acknowledged is never lost. Refreshes run behind the answer on a few
//! workers that share Affinity's rate limits with everything else the key does: they pace by
//! the rate-limit headers as a sync does (`affinity_sync_io::budget`), a 429 holds them all
//! until its `Retry-After`, other failures back off and are tried again, and one that keeps
//! failing is parked under `changes/_refresh/failed/` with its reason. Refreshes left pending
//! by a receiver that stopped are run again at start. `GET /health` reports the counts.
//!
//! The secret travels in the URL because Affinity does not sign webhooks; it is compared in
//! constant time and never logged.

use affinity_sync_core::Config;
use affinity_sync_core::changes::{self, EventError, Refresh};
use affinity_sync_io::ApiKey;
use affinity_sync_io::ObjectSink;
use affinity_sync_io::budget::{Governor, Paced};
use affinity_sync_io::changes::{self as store_changes, Done};
use affinity_sync_io::queued::secrets::Token;
use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// How `serve` runs.
pub struct Options {
    pub listen: SocketAddr,
    pub base_url: String,
    pub key: ApiKey,
    pub format: affinity_sync_core::Format,
    pub secret: Token,
    /// Refreshes fetched at once.
    pub workers: usize,
    /// Tries of a refresh before it is parked.
    pub max_retries: u32,
}

/// What the receiver has done so far (`GET /health`).
#[derive(Default)]
struct Counts {
    received: AtomicU64,
    refused: AtomicU64,
    queued: AtomicU64,
    running: AtomicU64,
    upserted: AtomicU64,
    deleted: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
}

struct App<S> {
    cfg: Config,
    sink: S,
    key: ApiKey,
    secret: Token,
    counts: Counts,
    refreshes: mpsc::UnboundedSender<Refresh>,
    max_retries: u32,
    http: reqwest::Client,
    /// The minute's budget the workers share: a 429 one of them meets, or a window nearly
    /// spent, holds them all (a reserve of one request per worker).
    governor: Governor,
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn webhook<S: ObjectSink + 'static>(
    State(app): State<Arc<App<S>>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let presented = query.get("token").map(String::as_str).unwrap_or("");
    if !app.secret.matches(presented) {
        app.counts.refused.fetch_add(1, Ordering::Relaxed);
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "the webhook URL's token is missing or wrong: subscribe with the URL `affinity-sync webhooks subscribe` prints"}),
        );
    }
    let received = match changes::receive(&app.cfg, &body, affinity_sync_io::now_unix()) {
        Ok(r) => r,
        Err(e) => {
            app.counts.refused.fetch_add(1, Ordering::Relaxed);
            let status = match e {
                EventError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return answer(status, json!({"error": e.to_string()}));
        }
    };
    if let Err(e) = store_changes::record(&app.sink, &received).await {
        tracing::error!(change = %received.change, error = %format!("{e:#}"), "could not record an event");
        // Affinity delivers it again later.
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "the event could not be stored; deliver it again"}),
        );
    }
    app.counts.received.fetch_add(1, Ordering::Relaxed);
    tracing::info!(change = %received.change, kind = %received.kind, refreshes = received.refreshes.len(), tombstones = received.tombstones.len(), "event recorded");
    let refreshes = received.refreshes.len();
    for r in received.refreshes {
        app.counts.queued.fetch_add(1, Ordering::Relaxed);
        let _ = app.refreshes.send(r);
    }
    answer(
        StatusCode::OK,
        json!({"change_id": received.change, "refreshes": refreshes}),
    )
}

async fn health<S: ObjectSink + 'static>(State(app): State<Arc<App<S>>>) -> Response {
    let c = &app.counts;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    answer(
        StatusCode::OK,
        json!({
            "received": n(&c.received),
            "refused": n(&c.refused),
            "queued": n(&c.queued),
            "running": n(&c.running),
            "upserted": n(&c.upserted),
            "deleted": n(&c.deleted),
            "skipped": n(&c.skipped),
            "failed": n(&c.failed),
        }),
    )
}

/// Runs one refresh to its end: done, or parked after `max_retries` tries. A 429 for the
/// minute is not a try: the governor holds the next one until the window allows it (a spent
/// month is not retried at all).
async fn run_refresh<S: ObjectSink + 'static>(app: &App<S>, refresh: Refresh) {
    let mut wait = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        let fetcher = Paced {
            fetcher: &app.http,
            governor: &app.governor,
        };
        match store_changes::refresh(&app.cfg, &app.sink, &fetcher, &app.key, &refresh).await {
            Ok(done) => {
                let counter = match done {
                    Done::Upserted { .. } => &app.counts.upserted,
                    Done::Deleted => &app.counts.deleted,
                    Done::Nothing => &app.counts.skipped,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::info!(change = %refresh.change, target = refresh.target.entity(), id = refresh.target.id(), ?done, "refreshed");
                return;
            }
            Err(f) if f.retryable && f.retry_after.is_some() => {
                tracing::warn!(change = %refresh.change, attempt, reason = %f.reason, "refresh throttled; trying again in the next window");
            }
            Err(f) if f.retryable && attempt < app.max_retries => {
                tracing::warn!(change = %refresh.change, attempt, reason = %f.reason, "refresh failed; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
                attempt += 1;
            }
            Err(f) => {
                tracing::error!(change = %refresh.change, reason = %f.reason, "refresh failed for good; parked");
                if let Err(e) = store_changes::park(&app.sink, &refresh, &f.reason).await {
                    tracing::error!(error = %format!("{e:#}"), "could not park a refresh");
                }
                app.counts.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// Serves until `shutdown` resolves. `ready` gets the bound address (port 0 picks one).
pub async fn run<S: ObjectSink + 'static>(
    sink: S,
    opts: Options,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let cfg = Config::new(&opts.base_url, "", opts.format)
        .map_err(|e| anyhow::anyhow!("--base-url: {e}"))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Refresh>();
    let app = Arc::new(App {
        cfg,
        sink,
        key: opts.key,
        secret: opts.secret,
        counts: Counts::default(),
        refreshes: tx,
        max_retries: opts.max_retries,
        http: affinity_sync_io::fetch::http_client()?,
        governor: Governor::new(opts.workers.max(1) as u64),
    });
    let (left, unreadable) = store_changes::pending(&app.sink).await?;
    for key in unreadable {
        tracing::warn!(key, "a pending refresh does not decode; left in place");
    }
    if !left.is_empty() {
        tracing::info!(
            n = left.len(),
            "running refreshes left pending by an earlier receiver"
        );
    }
    for r in left {
        app.counts.queued.fetch_add(1, Ordering::Relaxed);
        let _ = app.refreshes.send(r);
    }
    let workers = Arc::new(Semaphore::new(opts.workers.max(1)));
    let dispatcher = {
        let app = app.clone();
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                let permit = workers
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("open semaphore");
                let app = app.clone();
                app.counts.queued.fetch_sub(1, Ordering::Relaxed);
                app.counts.running.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    run_refresh(&app, r).await;
                    app.counts.running.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
        })
    };
    let router = Router::new()
        .route("/webhook", post(webhook::<S>))
        .route("/health", get(health::<S>))
        .layer(axum::extract::DefaultBodyLimit::max(
            changes::MAX_EVENT_BYTES + 1,
        ))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}: is the port in use?", opts.listen))?;
    ready(listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving webhooks")?;
    dispatcher.abort();
    Ok(())
}
