//! The I/O that every affinity-sync driver shares: the core decides, these pieces do.
//!
//! Portable (also built for `wasm32-wasip2`, where the component supplies its own backends):
//! - [`sink`]: the `ObjectSink` trait (put/get/list/delete);
//! - [`journal`]: the jobs of a sync written down next to its batches (`_jobs/`): pending
//!   pages, parked pages, the run's settings. The CLI's queue lives there; the queued drivers
//!   keep the same ledger beside their queue, so every home knows when a sync is complete;
//! - [`complete`]: the sync manifest, added up from the chain manifests once nothing is left;
//! - [`queued`]: the driver of a sync carried by a message queue (Lambda, the component);
//! - [`fetch`]: the API key, what a page request answered, the rate-limit headers;
//! - [`changes`]: webhook events into the store (change records, tombstones, refreshes);
//! - [`aws_error`]: AWS errors as one line (what was done, the code, what to do).
//!
//! Native only (feature `native`, on by default): the local directory ([`sink::LocalDir`]),
//! S3 through `aws-sdk-s3` ([`s3`]) and the reqwest page GET ([`fetch::get_page`]). With the
//! feature `azure` (the CLI's), Azure Blob Storage through `object_store` ([`azure`]); with
//! `gcs`, Google Cloud Storage's JSON API ([`gcs`]).

pub mod aws_error;
#[cfg(feature = "azure")]
pub mod azure;
pub mod budget;
pub mod changes;
pub mod complete;
pub mod fetch;
#[cfg(feature = "gcs")]
pub mod gcs;
pub mod journal;
#[cfg(feature = "native")]
mod local_dir;
pub mod queued;
#[cfg(feature = "native")]
pub mod s3;
pub mod s3_encryption;
pub mod s3_url;
pub mod sink;

pub use fetch::ApiKey;
pub use sink::ObjectSink;

/// The first line of a client library's error, whose later lines (a request dump, a body)
/// are not for an error line.
#[cfg(any(feature = "azure", feature = "gcs"))]
pub(crate) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// The current time in Unix seconds (sync ids, a webhook's receipt time).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

/// The current time in Unix milliseconds (metric timestamps).
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// The current time as RFC 3339 UTC with microseconds, as the manifests write it.
pub fn now_rfc3339() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    affinity_sync_core::table::format_timestamp(since.as_micros() as i64)
}
