//! Affinity's webhooks on a queued deployment: `POST /webhook?token=...` on the Lambda
//! Function URL and on the component. The event is recorded (change record, tombstones,
//! pending refreshes: `crate::changes::record`) and its refreshes are sent to the job queue
//! before the answer, so a delivery answered 200 is never lost; the refreshes then arrive
//! like jobs and [`run_refresh`] fetches and writes each record.

use super::{Deployment, JobQueue, PageFetcher, page::Handled};
use crate::{ObjectSink, changes};
use affinity_sync_core::changes::{EventError, Refresh, receive};
use affinity_sync_core::layout::JobState;
use anyhow::Result;
use serde_json::{Value, json};

/// The HTTP answer to one delivery: status and JSON body.
pub async fn handle<S: ObjectSink, Q: JobQueue, F: PageFetcher>(
    app: &Deployment<S, Q, F>,
    token: &str,
    body: &[u8],
) -> (u16, Value) {
    let Some(secret) = &app.secrets.webhook_secret else {
        return (
            403,
            json!({"error": "webhooks are off: add \"webhook_secret\" to the deployment's secret (AFFINITY_SYNC_WEBHOOK_SECRET)"}),
        );
    };
    if !secret.matches(token) {
        tracing::warn!("a webhook delivery with a wrong or missing token");
        return (
            401,
            json!({"error": "the webhook URL's token is missing or wrong"}),
        );
    }
    let cfg = match app.core_config(app.settings.format) {
        Ok(c) => c,
        Err(e) => return (500, json!({"error": format!("{e:#}")})),
    };
    let received = match receive(&cfg, body, crate::now_unix()) {
        Ok(r) => r,
        Err(e) => {
            let status = if matches!(e, EventError::TooLarge(_)) {
                413
            } else {
                400
            };
            return (status, json!({"error": e.to_string()}));
        }
    };
    let stored = async {
        changes::record(&app.sink, &received).await?;
        let secret = app.secrets.job_secret.as_ref();
        let messages: Vec<String> = received
            .refreshes
            .iter()
            .map(|r| r.encode_for_queue(secret))
            .collect();
        app.queue.send(&messages, 0, 1).await
    };
    if let Err(e) = stored.await {
        tracing::error!(change = %received.change, "could not record a webhook event: {e:#}");
        return (
            503,
            json!({"error": "the event could not be stored; deliver it again"}),
        );
    }
    tracing::info!(change = %received.change, kind = %received.kind, refreshes = received.refreshes.len(), tombstones = received.tombstones.len(), "webhook event recorded");
    (
        200,
        json!({"change_id": received.change, "refreshes": received.refreshes.len()}),
    )
}

/// One refresh message from the queue: fetch the record, write it (or its tombstone), or
/// send it again later, or park it.
pub async fn run_refresh<S: ObjectSink, Q: JobQueue, F: PageFetcher>(
    app: &Deployment<S, Q, F>,
    body: &str,
    attempt: u32,
) -> Result<Handled> {
    let secret = app.secrets.job_secret.as_ref();
    let refresh = match Refresh::decode_from_queue(body, secret) {
        Ok(r) => r,
        Err(e) => {
            let error = format!("not a valid refresh: {e}");
            tracing::error!("{error}");
            app.queue.dead_letter(body, &error, 1).await?;
            return Ok(Handled::Parked);
        }
    };
    // A message delivered again after its record was written finds no pending entry.
    let pending = refresh.key("", JobState::Pending);
    if app.sink.get(&pending).await?.is_none() {
        return Ok(Handled::AlreadyDone);
    }
    let cfg = app.core_config(app.settings.format)?;
    match changes::refresh(
        &cfg,
        &app.sink,
        &app.fetcher,
        &app.secrets.api_key,
        &refresh,
    )
    .await
    {
        Ok(done) => {
            tracing::info!(change = %refresh.change, target = refresh.target.entity(), id = refresh.target.id(), ?done, "refreshed");
            Ok(Handled::Written)
        }
        Err(f)
            if f.retryable && (attempt < app.settings.max_attempts || f.retry_after.is_some()) =>
        {
            let delay = f
                .retry_after
                .unwrap_or_else(|| super::page::backoff(attempt));
            let next = if f.retry_after.is_some() {
                attempt
            } else {
                attempt + 1
            };
            tracing::warn!(change = %refresh.change, attempt, delay, "refresh failed, retrying: {}", f.reason);
            app.queue
                .send(&[refresh.encode_for_queue(secret)], delay, next)
                .await?;
            Ok(Handled::Retried { delay })
        }
        Err(f) => {
            tracing::error!(change = %refresh.change, attempts = attempt, "refresh parked: {}", f.reason);
            changes::park(&app.sink, &refresh, &f.reason).await?;
            app.queue.dead_letter(body, &f.reason, attempt).await?;
            Ok(Handled::Parked)
        }
    }
}
