//! The object store a location names: a local directory, `s3://bucket/prefix`,
//! `az://container/prefix` or `gs://bucket/prefix`. Commands open one from `--out` or `--from`, then hand the backend
//! inside to the generic engines (`sync::run`, `serve::run`, `postgres_load::load`), which see
//! only `ObjectSink` ([`with_sink!`](crate::with_sink)).

use affinity_sync_core::layout::SyncManifest;
use affinity_sync_io::azure::AzureSink;
use affinity_sync_io::gcs::GcsSink;
use affinity_sync_io::s3::S3Sink;
use affinity_sync_io::s3_encryption::Encryption;
use affinity_sync_io::sink::LocalDir;
use anyhow::Result;
use std::path::Path;

/// The store an `--out` or `--from` names.
pub enum Store {
    Local(LocalDir),
    S3(S3Sink),
    Azure(AzureSink),
    Gcs(GcsSink),
}

/// Evaluates `$body` with `$sink` bound to the backend inside the [`Store`] `$store`,
/// whichever it is: each arm is the same generic code, monomorphised per backend.
#[macro_export]
macro_rules! with_sink {
    ($store:expr, $sink:ident => $body:expr) => {
        match $store {
            $crate::ops::store::Store::Local($sink) => $body,
            $crate::ops::store::Store::S3($sink) => $body,
            $crate::ops::store::Store::Azure($sink) => $body,
            $crate::ops::store::Store::Gcs($sink) => $body,
        }
    };
}

/// The locations that name a remote store rather than a directory.
pub fn is_remote(location: &str) -> bool {
    ["s3://", "az://", "gs://"]
        .iter()
        .any(|scheme| location.starts_with(scheme))
}

/// What each store is asked for on the writes of a sync: server-side encryption, with a key of
/// the user's where the store offers that. Readers pass the default: objects read back the
/// same however they were encrypted.
#[derive(Clone, Default)]
pub struct WriteEncryption {
    /// S3's server-side encryption (`--s3-sse`).
    pub s3: Encryption,
    /// The Cloud KMS key Google Cloud Storage encrypts with (`--gcs-kms-key`).
    pub gcs_kms_key: Option<String>,
    /// The encryption scope Azure encrypts with (`--azure-encryption-scope`).
    pub azure_scope: Option<String>,
}

/// What every command says of a location it cannot open.
pub const SUPPORTED: &str =
    "a directory, s3://bucket/prefix, az://container/prefix or gs://bucket/prefix";

impl Store {
    /// The store at `location` (a directory, `s3://…`, `az://…` or `gs://…`), named `flag` in
    /// errors, whose writes ask for `encryption`.
    pub async fn open(
        flag: &str,
        location: &str,
        s3_endpoint: Option<&str>,
        encryption: &WriteEncryption,
    ) -> Result<Store> {
        if location.starts_with("s3://") {
            Ok(Store::S3(
                S3Sink::open(location, s3_endpoint, flag)
                    .await?
                    .with_encryption(encryption.s3.clone()),
            ))
        } else if location.starts_with("az://") {
            let scope = encryption.azure_scope.as_deref();
            Ok(Store::Azure(AzureSink::open(location, flag, scope).await?))
        } else if location.starts_with("gs://") {
            let key = encryption.gcs_kms_key.as_deref();
            Ok(Store::Gcs(GcsSink::open(location, flag, key).await?))
        } else if location.contains("://") {
            anyhow::bail!("{flag} {location}: only {SUPPORTED} is supported")
        } else {
            Ok(Store::Local(LocalDir::open(Path::new(location))?))
        }
    }

    /// The latest complete sync in this store.
    pub async fn latest_complete(&self) -> Result<Option<SyncManifest>> {
        crate::with_sink!(self, s => super::plan::latest_complete(s).await)
    }
}
