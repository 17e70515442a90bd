//! A sync carried by a message queue: one message is one job, one job is one page. The AWS
//! Lambda function (SQS) and the WebAssembly component (an SQS-compatible queue over
//! wasi:http) are both this driver; they differ only in how they reach the store, the queue
//! and Affinity, which is what the three traits here stand for.
//!
//! - [`settings`]: the `AFFINITY_SYNC_*` variables both homes read.
//! - [`secrets`]: the API key, the job-signing secret and the trigger token.
//! - [`start`]: seeding a sync (`{"action": "start"}`, `POST /sync`, `POST /start`).
//! - [`page`]: one message: fetch, write, journal and send the next jobs, acknowledge.
//! - [`pacing`]: the minute's budget, shared by the invocations through the store.
//! - [`webhook`]: Affinity's webhook deliveries, and the refreshes they queue.
//!
//! Nothing here does I/O of its own, so it builds for `wasm32-wasip2` as well.

pub mod pacing;
pub mod page;
pub mod secrets;
pub mod settings;
pub mod start;
pub mod webhook;

use crate::ObjectSink;
use crate::fetch::{ApiKey, Response};
use affinity_sync_core::job::JobSecret;
use affinity_sync_core::{Config, Format, Job, Request};
use anyhow::{Result, anyhow};
use secrets::Secrets;
use settings::Settings;

/// The largest delay a queue message may have (SQS allows 15 minutes).
pub const MAX_DELAY_SECONDS: u64 = 900;

/// The queue that carries the jobs (and webhook refreshes), and the dead-letter queue
/// beside it.
pub trait JobQueue: Send + Sync {
    /// Sends `messages` (encoded jobs or refreshes, see [`encode_jobs`]), each visible after
    /// `delay_seconds` and marked as try `attempt`. Fails unless every message was accepted.
    fn send(
        &self,
        messages: &[String],
        delay_seconds: u64,
        attempt: u32,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Puts the message `body` on the dead-letter queue with why it failed and how often it
    /// was tried; redriving it back runs the page again.
    fn dead_letter(
        &self,
        body: &str,
        error: &str,
        attempts: u32,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// The queue messages of `jobs`, signed with `secret` when there is one.
pub fn encode_jobs(jobs: &[Job], secret: Option<&JobSecret>) -> Vec<String> {
    jobs.iter().map(|j| j.encode_for_queue(secret)).collect()
}

/// One GET of one page from Affinity with the key.
pub trait PageFetcher: Send + Sync {
    /// `Err` is a transport failure (connection, timeout, a body cut short or too big),
    /// described without the URL: worth another try.
    fn get_page(
        &self,
        request: &Request,
        key: &ApiKey,
    ) -> impl Future<Output = Result<Response, String>> + Send;
}

/// Everything one home builds at start-up and reuses for every message.
pub struct Deployment<S, Q, F> {
    pub settings: Settings,
    pub secrets: Secrets,
    pub sink: S,
    pub queue: Q,
    pub fetcher: F,
}

impl<S: ObjectSink, Q: JobQueue, F: PageFetcher> Deployment<S, Q, F> {
    /// The core's configuration for a sync written in `format`.
    pub fn core_config(&self, format: Format) -> Result<Config> {
        // The sink holds the prefix, so keys are built relative to it.
        Config::new(&self.settings.base_url, "", format)
            .map_err(|e| anyhow!("AFFINITY_BASE_URL: {e}"))
    }
}
