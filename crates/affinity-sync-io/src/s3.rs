//! `--out s3://bucket/prefix`: the object sink on Amazon S3 or any S3-compatible store
//! (MinIO, Cloudflare R2, Ceph, moto), through `aws-sdk-s3`.
//!
//! Credentials and region come from the standard AWS chain (environment, `~/.aws` profiles,
//! web identity, ECS/EC2 metadata), so whatever works for the AWS CLI works here. An
//! S3-compatible store is reached with `--s3-endpoint URL` (or `AWS_ENDPOINT_URL_S3`), which
//! also switches to path-style addressing. A PUT is atomic in S3: readers see the whole
//! object or none, as the sink contract asks.

use crate::aws_error;
use crate::s3_encryption::Encryption;
use crate::sink::{Listed, ObjectSink};
use anyhow::{Context, Result, anyhow};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

pub struct S3Sink {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Key prefix with a trailing `/`, or empty.
    prefix: String,
    /// Asked of S3 on every PUT (`crate::s3_encryption`).
    encryption: Encryption,
}

pub use crate::s3_url::parse_url;

/// The shared AWS configuration (credentials, region) with the ring-based rustls client: the
/// same TLS stack as the rest of the binary. Build it once per process.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config_loader().load().await
}

/// The loader behind [`aws_config`], for callers that set more (tests: endpoint, credentials).
pub fn aws_config_loader() -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http)
}

/// An S3 client; `endpoint` (an S3-compatible store) also switches to path-style addressing.
pub fn client(shared: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::config::Builder::from(shared);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint).force_path_style(true);
    }
    if shared.region().is_none() {
        config = config.region(aws_sdk_s3::config::Region::new("us-east-1"));
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

impl S3Sink {
    /// Connects to the bucket of `url` and checks that it is there and reachable; `setting`
    /// names where the URL came from (`--out`), for the error that says what to correct.
    pub async fn open(url: &str, endpoint: Option<&str>, setting: &str) -> Result<S3Sink> {
        let client = client(&aws_config().await, endpoint);
        S3Sink::connect(client, url, setting).await
    }

    /// The bucket and prefix of `url` through `client`, checked with a HEAD request.
    pub async fn connect(client: aws_sdk_s3::Client, url: &str, setting: &str) -> Result<S3Sink> {
        let (bucket, prefix) = parse_url(url)?;
        client
            .head_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| {
                let doing = format!("opening {url}");
                // A HEAD answer has no body: S3's 404 for a bucket comes without its code.
                if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) {
                    tracing::debug!(error = %DisplayErrorContext(&e), "{doing}");
                    anyhow!(aws_error::line(&doing, "NoSuchBucket", None, Some(setting)))
                } else {
                    aws_error::from_sdk(&doing, &e, Some(setting))
                }
            })?;
        Ok(S3Sink {
            client,
            bucket,
            prefix,
            encryption: Encryption::default(),
        })
    }

    /// The same sink, asking S3 for `encryption` on every write (default: SSE-S3).
    pub fn with_encryption(self, encryption: Encryption) -> S3Sink {
        S3Sink { encryption, ..self }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl ObjectSink for S3Sink {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        use aws_sdk_s3::types::ServerSideEncryption;
        let full = self.key(key);
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .body(ByteStream::from(bytes.to_vec()));
        let request = match &self.encryption {
            Encryption::S3 => request.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms { key_id } => request
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key_id.clone()),
            Encryption::None => request,
        };
        request.send().await.map_err(|e| {
            let doing = format!("writing s3://{}/{full}", self.bucket);
            anyhow!(
                "{}{}",
                aws_error::from_sdk(&doing, &e, None),
                self.encryption.hint()
            )
        })?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let full = self.key(key);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .with_context(|| format!("reading s3://{}/{full}", self.bucket))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(aws_error::from_sdk(
                &format!("reading s3://{}/{full}", self.bucket),
                &e,
                None,
            )),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        // One listing for both: S3 returns the times with the keys anyway.
        crate::sink::keys_under(self, prefix).await
    }

    async fn list_after(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<Listed>> {
        let folder = format!("{}/", self.key(prefix.trim_end_matches('/')));
        let mut out = vec![];
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&folder)
            .set_start_after(start_after.map(|a| self.key(a)))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                aws_error::from_sdk(&format!("listing s3://{}/{folder}", self.bucket), &e, None)
            })?;
            for object in page.contents() {
                if let Some(k) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    out.push(Listed {
                        key: k.to_string(),
                        modified: object.last_modified().map(|t| t.secs()),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = prefix.trim_matches('/');
        let folder = if prefix.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}/", self.key(prefix))
        };
        let mut names = vec![];
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&folder)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                aws_error::from_sdk(&format!("listing s3://{}/{folder}", self.bucket), &e, None)
            })?;
            for common in page.common_prefixes() {
                if let Some(name) = common
                    .prefix()
                    .and_then(|p| p.strip_prefix(&folder))
                    .map(|p| p.trim_end_matches('/'))
                {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let full = self.key(key);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| {
                aws_error::from_sdk(&format!("removing s3://{}/{full}", self.bucket), &e, None)
            })?;
        Ok(())
    }
}
