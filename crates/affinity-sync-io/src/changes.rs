//! Webhook events into the store: what a receiver writes, and a refresh's fetch-and-write.
//! The core decides (`affinity_sync_core::changes`); every home (the `serve` command, the Lambda
//! function, the component) runs these two functions with its own sink and fetcher.
//!
//! Order is what makes a delivery safe to acknowledge: [`record`] writes the event, its
//! tombstones and a pending entry per refresh before the receiver answers 2xx; [`refresh`]
//! writes the record and only then removes its pending entry. A receiver that stops in
//! between leaves the pending entries, and the next start (or the queue) runs them again.

use crate::ObjectSink;
use crate::fetch::{self, ApiKey};
use crate::queued::PageFetcher;
use affinity_sync_core::Config;
use affinity_sync_core::changes::{self, Received, Refresh, Refreshed};
use affinity_sync_core::layout::{self, JobState};
use anyhow::{Context, Result};

/// Writes a received event: its change record, its tombstones, and a pending entry per
/// refresh it asks for. Safe to repeat (same keys).
pub async fn record<S: ObjectSink>(sink: &S, received: &Received) -> Result<()> {
    sink.put(&received.record.key, &received.record.bytes)
        .await
        .context("writing the change record")?;
    for t in &received.tombstones {
        sink.put(&t.key, &t.bytes)
            .await
            .context("writing a tombstone")?;
    }
    for r in &received.refreshes {
        sink.put(&r.key("", JobState::Pending), r.encode().as_bytes())
            .await
            .context("writing a pending refresh")?;
    }
    Ok(())
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The record as it is now: rows written per table.
    Upserted { rows: usize },
    /// The record is gone: a tombstone was written.
    Deleted,
    /// A field value's field no longer exists: nothing to write.
    Nothing,
}

/// Why a refresh did not finish.
#[derive(Debug, Clone)]
pub struct Failed {
    pub reason: String,
    /// Trying again can help (rate limits, server errors, transport failures).
    pub retryable: bool,
    /// A 429's wait, in seconds.
    pub retry_after: Option<u64>,
}

/// Fetches the record `refresh` names (after its field, for a field value), writes its rows
/// or its tombstone, then removes the pending entry. The API key goes only to `fetcher`.
pub async fn refresh<S: ObjectSink, F: PageFetcher>(
    cfg: &Config,
    sink: &S,
    fetcher: &F,
    key: &ApiKey,
    original: &Refresh,
) -> Result<Done, Failed> {
    let mut current = original.clone();
    // A field value's owner takes up to three lookups first; more is a loop.
    for _ in 0..5 {
        let request = changes::request(cfg, &current);
        let response = fetcher.get_page(&request, key).await.map_err(|e| Failed {
            reason: e,
            retryable: true,
            retry_after: None,
        })?;
        let outcome =
            changes::handle(cfg, &current, response.status, &response.body).map_err(|e| {
                let throttled = response.status == 429;
                match fetch::month_spent(&response.headers).filter(|_| throttled) {
                    // Nothing will be answered before the month resets: parked, not retried
                    // all month (the next full sync brings the record anyway).
                    Some(reset) => Failed {
                        reason: format!(
                            "Affinity's monthly request quota is spent (429 with \
                             X-Ratelimit-Limit-Org-Remaining: 0); it resets in {:.1} days, and \
                             the next full sync after that brings the record",
                            reset as f64 / 86_400.0
                        ),
                        retryable: false,
                        retry_after: None,
                    },
                    None => Failed {
                        retry_after: throttled.then(|| fetch::retry_after(&response.headers)),
                        retryable: e.retryable(),
                        reason: e.to_string(),
                    },
                }
            })?;
        let done = match outcome {
            Refreshed::Then(Some(next)) => {
                current = next;
                continue;
            }
            Refreshed::Then(None) => Done::Nothing,
            Refreshed::Gone(tombstone) => {
                put(sink, &tombstone.key, &tombstone.bytes).await?;
                Done::Deleted
            }
            Refreshed::Upsert(batches) => {
                let mut rows = 0;
                for b in &batches {
                    put(sink, &b.key, &b.bytes).await?;
                    rows += b.rows;
                }
                Done::Upserted { rows }
            }
        };
        sink.delete(&original.key("", JobState::Pending))
            .await
            .map_err(|e| store_failed(e.context("removing the pending refresh")))?;
        return Ok(done);
    }
    Err(Failed {
        reason: "a field value's owner did not resolve in four steps".into(),
        retryable: false,
        retry_after: None,
    })
}

fn store_failed(e: anyhow::Error) -> Failed {
    Failed {
        reason: format!("{e:#}"),
        retryable: true,
        retry_after: None,
    }
}

async fn put<S: ObjectSink>(sink: &S, key: &str, bytes: &[u8]) -> Result<(), Failed> {
    sink.put(key, bytes).await.map_err(store_failed)
}

/// Parks a refresh that failed for good: its pending entry becomes a failed one with the
/// reason, for `serve` (or a person) to look at; the next full sync brings the record anyway.
pub async fn park<S: ObjectSink>(sink: &S, refresh: &Refresh, reason: &str) -> Result<()> {
    let entry = serde_json::json!({ "refresh": refresh, "error": reason });
    sink.put(
        &refresh.key("", JobState::Failed),
        entry.to_string().as_bytes(),
    )
    .await?;
    sink.delete(&refresh.key("", JobState::Pending)).await
}

/// The refreshes still pending in the store (a receiver that stopped before finishing them).
/// Entries that do not decode are reported, not run.
pub async fn pending<S: ObjectSink>(sink: &S) -> Result<(Vec<Refresh>, Vec<String>)> {
    let mut ok = vec![];
    let mut bad = vec![];
    for key in sink
        .list(&layout::refresh_dir("", JobState::Pending))
        .await?
    {
        let Some(bytes) = sink.get(&key).await? else {
            continue;
        };
        match std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| Refresh::decode(t).ok())
        {
            Some(r) => ok.push(r),
            None => bad.push(key),
        }
    }
    Ok((ok, bad))
}
