//! The native I/O that every affinity-sync driver on a server shares (the CLI and the Lambda
//! function): the core decides, these pieces do.
//!
//! - [`sink`]: the `ObjectSink` trait (put/get/list/delete) and the local directory backend;
//!   [`s3`]: the same trait on S3 and S3-compatible stores.
//! - [`journal`]: the jobs of a sync written down next to its batches (`_jobs/`): pending
//!   pages, parked pages, the run's settings. The CLI's queue lives there; the Lambda function
//!   keeps the same ledger beside SQS, so both know when a sync is complete.
//! - [`fetch`]: one GET of one page with the key, a size limit and errors without URLs.
//! - [`complete`]: the sync manifest, added up from the chain manifests once nothing is left.
//!
//! The WebAssembly component has its own I/O (wasi:http), so none of this is built for it.

pub mod complete;
pub mod fetch;
pub mod journal;
pub mod s3;
pub mod sink;

pub use fetch::ApiKey;
pub use sink::ObjectSink;

/// The current time as RFC 3339 UTC with microseconds, as the manifests write it.
pub fn now_rfc3339() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    affinity_sync::table::format_timestamp(since.as_micros() as i64)
}
