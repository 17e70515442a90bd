//! The object store a location names: a local directory or `s3://bucket/prefix`. Commands
//! open one from `--out` or `--from`, then hand the backend inside to the generic engines
//! (`sync::run`, `serve::run`, `postgres_load::load`), which see only `ObjectSink`.

use affinity_sync_core::layout::SyncManifest;
use affinity_sync_io::s3::S3Sink;
use affinity_sync_io::s3_encryption::Encryption;
use affinity_sync_io::sink::LocalDir;
use anyhow::Result;
use std::path::Path;

/// The store an `--out` or `--from` names.
pub enum Store {
    Local(LocalDir),
    S3(S3Sink),
}

impl Store {
    /// The store at `location` (a directory or `s3://bucket/prefix`), named `flag` in errors;
    /// `encryption` is what S3 is asked for on writes.
    pub async fn open(
        flag: &str,
        location: &str,
        s3_endpoint: Option<&str>,
        encryption: Encryption,
    ) -> Result<Store> {
        if location.starts_with("s3://") {
            Ok(Store::S3(
                S3Sink::open(location, s3_endpoint, flag)
                    .await?
                    .with_encryption(encryption),
            ))
        } else if location.contains("://") {
            anyhow::bail!("{flag} {location}: only a directory or s3://bucket/prefix is supported")
        } else {
            Ok(Store::Local(LocalDir::open(Path::new(location))?))
        }
    }

    /// The latest complete sync in this store.
    pub async fn latest_complete(&self) -> Result<Option<SyncManifest>> {
        match self {
            Store::Local(s) => super::plan::latest_complete(s).await,
            Store::S3(s) => super::plan::latest_complete(s).await,
        }
    }
}
