//! One queue message: one job, one page. The same order as every driver: fetch, let the core
//! turn the answer into batches and jobs, write the batches (then the chain's manifest),
//! journal and send the next jobs, and only then acknowledge the page.
//!
//! Beside the queue the sync's journal is kept in the store (`_jobs/`, the same ledger the
//! CLI keeps): a job's `pending/` entry is written before its message is sent and
//! removed once its page is written. That gives two things a queue alone cannot:
//! - a message delivered again after its page was acknowledged finds no entry and is
//!   dropped, so a redelivery never walks the rest of a chain twice;
//! - the invocation that acknowledges the last page sees an empty `pending/` and writes the
//!   sync manifest (`complete::if_done`), which is what marks the sync complete.

use super::{Deployment, JobQueue, MAX_DELAY_SECONDS, PageFetcher};
use crate::{ObjectSink, complete, fetch, journal};
use affinity_sync_core::job::Tally;
use affinity_sync_core::layout::{self, FailedJob, JobState};
use affinity_sync_core::metrics;
use affinity_sync_core::step::{self, StepError};
use affinity_sync_core::{Format, Job};
use anyhow::{Result, anyhow};
use tracing::Instrument;

/// How a message ended. An `Err` from [`run`] (the store or the queue failing) means the
/// message must be delivered again: SQS does so after its visibility timeout, and the
/// queue's redrive policy dead-letters it if that keeps happening.
#[derive(Debug, PartialEq)]
pub enum Handled {
    /// The page is written and its jobs are sent.
    Written,
    /// The page was written before (a redelivery); nothing was fetched.
    AlreadyDone,
    /// Sent again as a fresh message, visible after `delay` seconds (429, or a retryable
    /// failure with tries left).
    Retried { delay: u64 },
    /// Failed for good: recorded in `failed/` and sent to the dead-letter queue.
    Parked,
}

/// Retry delay after try `attempt`: 5 s, 10 s, 20 s … up to SQS's 15 minutes.
pub(crate) fn backoff(attempt: u32) -> u64 {
    (5u64 << attempt.saturating_sub(1).min(10)).min(MAX_DELAY_SECONDS)
}

/// Handles one message (a job, or a webhook refresh): `body` as the queue delivered it, `attempt` its try (the `attempt`
/// message attribute; 1 for a job's first message).
pub async fn run<S: ObjectSink, Q: JobQueue, F: PageFetcher>(
    app: &Deployment<S, Q, F>,
    body: &str,
    attempt: u32,
) -> Result<Handled> {
    if affinity_sync_core::changes::Refresh::is_queue_message(body) {
        return super::webhook::run_refresh(app, body, attempt).await;
    }
    let job = match Job::decode_from_queue(body.as_bytes(), app.secrets.job_secret.as_ref()) {
        Ok(job) => job,
        Err(e) => {
            // Not a job of ours (malformed, unsigned, forged): never fetched, never retried.
            let error = format!("not a valid job: {e}");
            tracing::error!("{error}");
            app.queue.dead_letter(body, &error, 1).await?;
            return Ok(Handled::Parked);
        }
    };
    let span = tracing::info_span!(
        "page",
        sync = %job.sync,
        stream = %job.stream,
        page = job.page,
        parents = ?job.parents
    );
    run_job(app, job, body, attempt).instrument(span).await
}

/// Prints a metric line (CloudWatch Embedded Metric Format) to the log: on Lambda CloudWatch
/// Logs makes metrics of it, and the component's host ships it the same way.
pub(super) fn emit<S, Q, F>(app: &Deployment<S, Q, F>, line: impl FnOnce(&str, i64) -> String) {
    println!(
        "{}",
        line(&app.settings.function_name, crate::now_unix_ms())
    );
}

async fn run_job<S: ObjectSink, Q: JobQueue, F: PageFetcher>(
    app: &Deployment<S, Q, F>,
    job: Job,
    body: &str,
    attempt: u32,
) -> Result<Handled> {
    let started = std::time::Instant::now();
    let stream = job.stream().map_err(|e| anyhow!(e))?;
    let pending = layout::job_key("", stream, &job, JobState::Pending);
    let failed = layout::job_key("", stream, &job, JobState::Failed);
    // A job is live while its `pending/` entry exists, or its `failed/` one (a redriven
    // dead letter); the second read is made only when the first finds nothing.
    let redriven = app.sink.get(&pending).await?.is_none();
    if redriven && app.sink.get(&failed).await?.is_none() {
        tracing::info!("already written (a redelivered message); skipped");
        return Ok(Handled::AlreadyDone);
    }
    let Some(run) = journal::load_run(&app.sink, "", &job.sync).await? else {
        tracing::warn!("the sync has no run.json (finished or removed); skipped");
        return Ok(Handled::AlreadyDone);
    };
    let format = Format::parse(&run.format)
        .ok_or_else(|| anyhow!("sync {} names unknown format {:?}", run.sync_id, run.format))?;
    let cfg = app.core_config(format)?.reading(&run.streams);

    // This message's one request, as a metric line: `fetched` when a request was made, and
    // the rate-limit headers of its answer.
    let page_metrics = |headers: Option<&http::HeaderMap>| metrics::Page {
        stream: job.stream.clone(),
        sync_id: job.sync.clone(),
        page: job.page,
        requests: 1,
        user_remaining: headers.and_then(fetch::user_budget).map(|(left, _)| left),
        org_remaining: headers.and_then(fetch::org_remaining),
        page_ms: started.elapsed().as_millis() as u64,
        ..Default::default()
    };
    let park = |error: String, fetched: Option<metrics::Page>| {
        let job = job.clone();
        async move {
            if let Some(m) = fetched {
                emit(app, |f, t| metrics::Page { parked: 1, ..m }.emf(f, t));
            }
            tracing::error!(attempts = attempt, "parked: {error}");
            let record = FailedJob {
                queued: body.to_string(),
                job,
                error: error.clone(),
                attempts: attempt,
                failed_at: crate::now_rfc3339(),
            };
            journal::park(&app.sink, "", &record).await?;
            app.queue.dead_letter(body, &error, attempt).await?;
            Ok(Handled::Parked)
        }
    };
    // The retry is a fresh message carrying the failed try in its tally.
    let retry = |error: String, delay: u64, attempt: u32, fetched: metrics::Page| {
        let throttled = fetched.throttled > 0;
        let job = job.with_spent(Tally::failed_try(throttled));
        async move {
            tracing::warn!(attempt, delay, "retrying: {error}");
            emit(app, |f, t| {
                metrics::Page {
                    retries: 1,
                    ..fetched
                }
                .emf(f, t)
            });
            let secret = app.secrets.job_secret.as_ref();
            app.queue
                .send(&super::encode_jobs(&[job], secret), delay, attempt)
                .await?;
            Ok(Handled::Retried { delay })
        }
    };

    let request = match step::request(&cfg, &job) {
        Ok(r) => r,
        Err(e) => return park(e.to_string(), None).await,
    };
    // Another invocation saw the minute's budget spent: this page waits for the window too,
    // sent again as it is (no request made, no try counted).
    let wait = super::pacing::wait(&app.sink, crate::now_unix()).await?;
    if wait > 0 {
        let secret = app.secrets.job_secret.as_ref();
        let delay = (wait + 1).min(MAX_DELAY_SECONDS);
        app.queue
            .send(&super::encode_jobs(&[job], secret), delay, attempt)
            .await?;
        tracing::info!(delay, "waiting for the rate-limit window (pacing record)");
        return Ok(Handled::Retried { delay });
    }
    let response = match app.fetcher.get_page(&request, &app.secrets.api_key).await {
        Ok(r) => r,
        Err(transport) if attempt >= app.settings.max_attempts => {
            let error = format!("gave up after {attempt} attempts: {transport}");
            return park(error, Some(page_metrics(None))).await;
        }
        Err(transport) => {
            return retry(transport, backoff(attempt), attempt + 1, page_metrics(None)).await;
        }
    };
    let fetched = page_metrics(Some(&response.headers));
    let outcome = match step::handle(&cfg, &job, response.status, &response.body) {
        Ok(outcome) => outcome,
        Err(StepError::Unauthorized) => {
            let error = format!(
                "Affinity rejected the API key (401 Unauthorized) for {}: put a current key in \
                 the function's secret, then redrive the dead-letter queue",
                cfg.base_url()
            );
            return park(error, Some(fetched)).await;
        }
        Err(StepError::RateLimited) => {
            let fetched = metrics::Page {
                throttled: 1,
                ..fetched
            };
            if let Some(reset) = fetch::month_spent(&response.headers) {
                let error = format!(
                    "Affinity's monthly request quota is spent (429 with \
                     X-Ratelimit-Limit-Org-Remaining: 0); it resets in {:.1} days: redrive the \
                     dead-letter queue then",
                    reset as f64 / 86_400.0
                );
                return park(error, Some(fetched)).await;
            }
            // The minute's budget: wait for the window, without counting it as a failed try,
            // and tell the other invocations to wait too.
            let wait = fetch::retry_after(&response.headers);
            super::pacing::pause(&app.sink, crate::now_unix() + wait as i64).await?;
            return retry(StepError::RateLimited.to_string(), wait, attempt, fetched).await;
        }
        Err(e) if e.retryable() && attempt < app.settings.max_attempts => {
            return retry(e.to_string(), backoff(attempt), attempt + 1, fetched).await;
        }
        Err(e) if e.retryable() => {
            let error = format!("gave up after {attempt} attempts: {e}");
            return park(error, Some(fetched)).await;
        }
        Err(e) => return park(e.to_string(), Some(fetched)).await,
    };

    // Batches, then the chain's manifest, then the next jobs (journaled, then sent), and only
    // then the acknowledgement: a failure anywhere in between runs the page again, which
    // rewrites the same objects.
    let written = crate::sink::write_page(&app.sink, &outcome).await?;
    let (rows, bytes_written) = (written.rows, written.bytes);
    let mut jobs: Vec<Job> = outcome.children;
    jobs.extend(outcome.next);
    jobs.retain(|j| run.streams.contains(&j.stream));
    let secret = app.secrets.job_secret.as_ref();
    journal::enqueue(&app.sink, "", &jobs, secret).await?;
    // Pacing: when the minute's budget is nearly spent, the next pages wait for the window,
    // so the pages already in flight are the only ones that use what is left.
    let delay = crate::budget::delay_after(&response.headers, app.settings.rate_reserve);
    if delay > 0 {
        // And so do the pages other invocations would run meanwhile (`pacing`).
        super::pacing::pause(&app.sink, crate::now_unix() + delay as i64).await?;
    }
    app.queue
        .send(&super::encode_jobs(&jobs, secret), delay, 1)
        .await?;
    // Both entries can exist when a park wrote `failed/` and crashed before removing
    // `pending/`, so `failed/` is always removed (S3 does not charge for DELETE).
    app.sink.delete(&failed).await?;
    app.sink.delete(&pending).await?;
    tracing::info!(
        records = outcome.records,
        rows,
        jobs = jobs.len(),
        delay,
        "page written"
    );
    emit(app, |f, t| {
        metrics::Page {
            written: true,
            records: outcome.records as u64,
            bytes_written,
            page_ms: started.elapsed().as_millis() as u64,
            ..fetched
        }
        .emf(f, t)
    });
    if let Some(m) = complete::if_done(&app.sink, &job.sync).await? {
        let records: u64 = m.streams.iter().map(|s| s.records).sum();
        tracing::info!(records, "sync complete: sync.json written");
        emit(app, |f, t| metrics::SyncDone::from_manifest(&m).emf(f, t));
    }
    Ok(Handled::Written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_the_sqs_limit() {
        let delays: Vec<u64> = (1..=10).map(backoff).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]);
    }
}
