//! Affinity's webhooks on a queued deployment: `POST /webhook?token=...` on the Lambda
//! Function URL and on the component. The event is recorded (change record, tombstones,
//! pending refreshes: `crate::changes::record`) and its refreshes are sent to the job queue
//! before the answer, so a delivery answered 200 is never lost; the refreshes then arrive
//! like jobs and [`run_refresh`] fetches and writes each record.

use super::{Deployment, JobQueue, MAX_DELAY_SECONDS, PageFetcher, page::Handled};
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
    // The minute's budget is shared with the pages of a running sync: when another
    // invocation saw it spent, the refresh waits for the window too, sent again as it is (no
    // request made, no try counted), as a page does.
    let wait = super::pacing::wait(&app.sink, crate::now_unix()).await?;
    if wait > 0 {
        let delay = (wait + 1).min(MAX_DELAY_SECONDS);
        app.queue
            .send(&[refresh.encode_for_queue(secret)], delay, attempt)
            .await?;
        tracing::info!(change = %refresh.change, delay, "waiting for the rate-limit window (pacing record)");
        return Ok(Handled::Retried { delay });
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
            let next = match f.retry_after {
                // A 429: the pages and refreshes other invocations would run meanwhile wait
                // for the window too.
                Some(wait) => {
                    super::pacing::pause(&app.sink, crate::now_unix() + wait as i64).await?;
                    attempt
                }
                None => attempt + 1,
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

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::fetch::{ApiKey, Response};
    use crate::queued::pacing;
    use crate::queued::secrets::Secrets;
    use crate::queued::settings::Settings;
    use crate::sink::LocalDir;
    use affinity_sync_core::Request;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The messages sent, with their delay and try, and the dead letters with their error.
    #[derive(Default)]
    struct Queue {
        sent: Mutex<Vec<(String, u64, u32)>>,
        dead: Mutex<Vec<(String, String)>>,
    }

    impl JobQueue for Queue {
        async fn send(&self, messages: &[String], delay: u64, attempt: u32) -> Result<()> {
            let mut sent = self.sent.lock().unwrap();
            sent.extend(messages.iter().map(|m| (m.clone(), delay, attempt)));
            Ok(())
        }
        async fn dead_letter(&self, body: &str, error: &str, _: u32) -> Result<()> {
            let mut dead = self.dead.lock().unwrap();
            dead.push((body.to_string(), error.to_string()));
            Ok(())
        }
    }

    /// Answers every request with a 429 that says to wait 20 seconds (and, once the month is
    /// spent, that the org has nothing left), and counts them.
    #[derive(Default)]
    struct Refusing {
        requests: AtomicUsize,
        month_spent: std::sync::atomic::AtomicBool,
    }

    impl PageFetcher for Refusing {
        async fn get_page(&self, _: &Request, _: &ApiKey) -> Result<Response, String> {
            self.requests.fetch_add(1, Ordering::SeqCst);
            let mut headers = http::HeaderMap::new();
            headers.insert("retry-after", http::HeaderValue::from_static("20"));
            if self.month_spent.load(Ordering::SeqCst) {
                let zero = http::HeaderValue::from_static("0");
                headers.insert("x-ratelimit-limit-org-remaining", zero);
                let reset = http::HeaderValue::from_static("172800");
                headers.insert("x-ratelimit-limit-org-reset", reset);
            }
            Ok(Response {
                status: 429,
                headers,
                body: br#"{"errors":[{"code":"rate-limit"}]}"#.to_vec(),
            })
        }
    }

    fn deployment(dir: &std::path::Path) -> Deployment<LocalDir, Queue, Refusing> {
        let var = |name: &str| {
            match name {
                "AFFINITY_SYNC_BUCKET" => Some("my-bucket"),
                "AFFINITY_SYNC_QUEUE_URL" => Some("https://sqs/q"),
                "AFFINITY_SYNC_DEAD_LETTER_URL" => Some("https://sqs/dlq"),
                "AFFINITY_API_KEY" => Some("test-key"),
                "AFFINITY_SYNC_WEBHOOK_SECRET" => Some("hook-token-0123456789"),
                _ => None,
            }
            .map(str::to_string)
        };
        Deployment {
            settings: Settings::from_vars("lambda", var).unwrap(),
            secrets: Secrets::from_vars(var).unwrap(),
            sink: LocalDir::open(dir).unwrap(),
            queue: Queue::default(),
            fetcher: Refusing::default(),
        }
    }

    /// A refresh shares the minute's budget with the pages: it waits while the pacing record
    /// says so, without a request, and a 429 it meets makes everyone wait; a spent month parks
    /// it.
    #[tokio::test]
    async fn a_refresh_keeps_to_the_shared_minute_budget() {
        let dir = std::env::temp_dir().join(format!("affinity-refresh-{}", std::process::id()));
        let app = deployment(&dir);
        let event = json!({
            "type": "person.updated",
            "body": {"id": 42},
            "sent_at": crate::now_unix(),
        });
        let (status, _) = handle(&app, "hook-token-0123456789", event.to_string().as_bytes()).await;
        assert_eq!(status, 200);
        let (message, ..) = app
            .queue
            .sent
            .lock()
            .unwrap()
            .pop()
            .expect("a refresh sent");

        // Another invocation paused requests for 30 seconds: sent again after the window, as
        // the same try, with no request made.
        pacing::pause(&app.sink, crate::now_unix() + 30)
            .await
            .unwrap();
        let handled = run_refresh(&app, &message, 2).await.unwrap();
        let Handled::Retried { delay } = handled else {
            panic!("{handled:?}")
        };
        assert!((30..=31).contains(&delay), "{delay}");
        assert_eq!(app.fetcher.requests.load(Ordering::SeqCst), 0);
        let (again, sent_delay, attempt) = app.queue.sent.lock().unwrap().pop().unwrap();
        assert_eq!(
            (again.as_str(), sent_delay, attempt),
            (message.as_str(), delay, 2)
        );

        // The window passed; Affinity answers 429: retried after Retry-After as the same try,
        // and the pacing record holds the other invocations for as long.
        pacing::pause(&app.sink, 0).await.unwrap();
        let handled = run_refresh(&app, &message, 2).await.unwrap();
        assert!(
            matches!(handled, Handled::Retried { delay: 20 }),
            "{handled:?}"
        );
        assert_eq!(app.fetcher.requests.load(Ordering::SeqCst), 1);
        let (_, sent_delay, attempt) = app.queue.sent.lock().unwrap().pop().unwrap();
        assert_eq!((sent_delay, attempt), (20, 2));
        let wait = pacing::wait(&app.sink, crate::now_unix()).await.unwrap();
        assert!((19..=20).contains(&wait), "{wait}");

        // The month's quota is spent: parked with the reason and dead-lettered, not retried
        // every window for the rest of the month.
        pacing::pause(&app.sink, 0).await.unwrap();
        app.fetcher.month_spent.store(true, Ordering::SeqCst);
        let handled = run_refresh(&app, &message, 2).await.unwrap();
        assert!(matches!(handled, Handled::Parked), "{handled:?}");
        assert!(app.queue.sent.lock().unwrap().is_empty());
        let (body, error) = app.queue.dead.lock().unwrap().pop().unwrap();
        assert_eq!(body, message);
        assert!(
            error.contains("monthly request quota is spent") && error.contains("2.0 days"),
            "{error}"
        );
        let refresh = Refresh::decode_from_queue(&message, None).unwrap();
        let failed = app
            .sink
            .get(&refresh.key("", JobState::Failed))
            .await
            .unwrap()
            .expect("the failed entry");
        assert!(String::from_utf8_lossy(&failed).contains("monthly request quota"));
        let pending = app.sink.get(&refresh.key("", JobState::Pending)).await;
        assert!(pending.unwrap().is_none());
        std::fs::remove_dir_all(dir).ok();
    }
}
