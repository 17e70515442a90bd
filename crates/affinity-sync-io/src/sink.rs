//! Where batches go. One small trait, one module per backend (a local directory in
//! `local_dir`, S3 in `s3`, S3 over wasi:http in the component), in the manner of
//! `object_store`.
//!
//! Besides batches and manifests, the sync keeps its job queue journal in the same store
//! (`_jobs/`), so a sync stopped at any point can be resumed from wherever its output lives.

use anyhow::Result;

/// A place to put objects under keys built by the core's `layout`.
pub trait ObjectSink: Send + Sync {
    /// Writes the whole object or nothing: a reader never sees half of it.
    fn put(&self, key: &str, bytes: &[u8]) -> impl Future<Output = Result<()>> + Send;
    /// The object under `key`, or `None` when there is none.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
    /// The keys directly or indirectly under the folder `prefix`, sorted.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Removes `key`; removing a missing object is not an error.
    fn delete(&self, key: &str) -> impl Future<Output = Result<()>> + Send;
}

#[cfg(feature = "native")]
pub use crate::local_dir::LocalDir;
