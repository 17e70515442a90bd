//! Where batches go. One small trait, one module per backend (a local directory in
//! `local_dir`, S3 in `s3`, S3 over wasi:http in the component), in the manner of
//! `object_store`.
//!
//! Besides batches and manifests, the sync keeps its job queue journal in the same store
//! (`_jobs/`), so a sync stopped at any point can be resumed from wherever its output lives.

use anyhow::{Context, Result};

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

    /// The keys under the folder `prefix` that sort after `start_after` (a whole key; `None`
    /// for all), sorted, each with its last-modified time where the store keeps one.
    /// `affinity-sync status` reads a sync's state from this: S3 returns the times with the
    /// keys and starts a listing at a key in the same request, so it costs what `list` does.
    /// The default (stores that only list) has no times.
    fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Listed>>> + Send {
        async move {
            Ok(self
                .list(prefix)
                .await?
                .into_iter()
                .filter(|k| start_after.is_none_or(|a| k.as_str() > a))
                .map(|key| Listed {
                    key,
                    modified: None,
                })
                .collect())
        }
    }

    /// The names of the folders directly under the folder `prefix`, sorted: one delimited
    /// listing on S3 (a thousand folders a request) instead of every key below them. The
    /// default derives them from `list`.
    fn folders(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>>> + Send {
        async move {
            let folder = format!("{}/", prefix.trim_end_matches('/'));
            let mut names: Vec<String> = self
                .list(prefix)
                .await?
                .iter()
                .filter_map(|k| k.strip_prefix(&folder)?.split_once('/'))
                .map(|(name, _)| name.to_string())
                .collect();
            names.dedup();
            Ok(names)
        }
    }
}

/// `list` for a store whose listing is `list_after` from the start (one request a page with
/// the times, which `list` then drops).
#[cfg(feature = "native")]
pub(crate) async fn keys_under<S: ObjectSink>(sink: &S, prefix: &str) -> Result<Vec<String>> {
    Ok(sink
        .list_after(prefix, None)
        .await?
        .into_iter()
        .map(|l| l.key)
        .collect())
}

/// A key of a listing, and when its object was last written (Unix seconds), if the store
/// says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub modified: Option<i64>,
}

#[cfg(feature = "native")]
pub use crate::local_dir::LocalDir;

/// What [`write_page`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub rows: usize,
    pub bytes: u64,
}

/// Writes what one page produced, in the order every driver keeps: its batches, then its
/// chain's manifest (so a manifest never names a batch that is not there). The next jobs
/// and the acknowledgement come after, in the driver.
pub async fn write_page<S: ObjectSink>(
    sink: &S,
    outcome: &affinity_sync_core::Outcome,
) -> Result<Written> {
    let mut written = Written::default();
    for b in outcome.batches.iter().chain(&outcome.manifest) {
        sink.put(&b.key, &b.bytes)
            .await
            .with_context(|| format!("writing {}", b.key))?;
        if b.table.is_some() {
            written.rows += b.rows;
            written.bytes += b.bytes.len() as u64;
        }
    }
    Ok(written)
}
