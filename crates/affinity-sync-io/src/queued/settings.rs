//! The configuration of a queued deployment (the Lambda function, the WebAssembly component):
//! environment variables, read once at start-up.
//!
//! Every setting is documented where it is read; `infra/template.yaml` sets them for Lambda,
//! `spin.toml` for the component. A missing or
//! malformed one stops the init with a message naming the variable, so a deployment mistake
//! shows in the first invocation's log instead of as a half-working sync.

use crate::s3_encryption::Encryption;
use affinity_sync_core::Format;
use affinity_sync_core::catalog;
use anyhow::{Context, Result, anyhow, bail};

#[derive(Debug, Clone)]
pub struct Settings {
    /// `AFFINITY_SYNC_BUCKET` (required) and `AFFINITY_SYNC_PREFIX` (optional): where the
    /// batches, manifests and the jobs ledger go, as `s3://bucket/prefix`.
    pub out: String,
    /// `AWS_ENDPOINT_URL_S3`: an S3-compatible endpoint (path-style), for local stand-ins.
    pub s3_endpoint: Option<String>,
    /// `AFFINITY_SYNC_S3_SSE`: server-side encryption asked on every write: `aes256`
    /// (default), `kms`, `kms:<key id, alias or ARN>` or `none` (`crate::s3_encryption`).
    pub s3_encryption: Encryption,
    /// `AFFINITY_SYNC_QUEUE_URL` (required): the SQS queue that carries the jobs.
    pub queue_url: String,
    /// `AFFINITY_SYNC_DEAD_LETTER_URL` (required): where a page that failed for good goes,
    /// with its reason in the `error` message attribute.
    pub dead_letter_url: String,
    /// `AFFINITY_BASE_URL`: the Affinity API origin (default `https://api.affinity.co`).
    pub base_url: String,
    /// `AFFINITY_SYNC_FORMAT`: `parquet` (default) or `ndjson`, for syncs whose start event
    /// names none.
    pub format: Format,
    /// `AFFINITY_SYNC_STREAMS`: comma-separated streams for scheduled syncs (default: the
    /// default set, as `affinity-sync sync`).
    pub streams: Option<String>,
    /// `AFFINITY_SYNC_MAX_ATTEMPTS`: tries of a page that fails with a retryable error (5xx,
    /// a cut or malformed body, a transport error) before it is parked (default 6).
    pub max_attempts: u32,
    /// `AFFINITY_SYNC_RATE_RESERVE`: when a response says fewer requests than this are left
    /// in the minute, the next jobs are delayed until the window resets (default 10: above
    /// the function's reserved concurrency, so the pages in flight never run into 429s).
    pub rate_reserve: u64,
    /// `AFFINITY_SYNC_SECRET_ARN`: the Secrets Manager secret with the API key (and optionally
    /// the job-signing secret and the trigger token). Without it, `AFFINITY_API_KEY`,
    /// `AFFINITY_SYNC_JOB_SECRET` and `AFFINITY_SYNC_TRIGGER_TOKEN` are read (local runs).
    pub secret_arn: Option<String>,
    /// `AFFINITY_SYNC_DEAD_LETTER_ARN` (optional; the template sets it): the dead-letter
    /// queue's ARN, recorded in each sync's `run.json` so `affinity-sync status` can print
    /// the exact redrive command.
    pub dead_letter_arn: Option<String>,
    /// Which home this is (`lambda`, `component`): recorded in `run.json`.
    pub runs_on: &'static str,
    /// The name metrics carry as their `FunctionName` dimension: Lambda's own
    /// `AWS_LAMBDA_FUNCTION_NAME`, or `AFFINITY_SYNC_FUNCTION_NAME` (default
    /// `affinity-sync`).
    pub function_name: String,
}

impl Settings {
    /// Reads the settings of home `runs_on` through `var` (the process environment in
    /// `main`).
    pub fn from_vars(
        runs_on: &'static str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let required = |name: &str| {
            var(name).ok_or_else(|| {
                anyhow!("{name} is not set: it is required (see infra/template.yaml or spin.toml)")
            })
        };
        let bucket = required("AFFINITY_SYNC_BUCKET")?;
        let prefix = var("AFFINITY_SYNC_PREFIX").unwrap_or_default();
        let out = format!("s3://{bucket}/{}", prefix.trim_matches('/'));
        crate::s3_url::parse_url(&out).context("AFFINITY_SYNC_BUCKET / AFFINITY_SYNC_PREFIX")?;
        let format = match var("AFFINITY_SYNC_FORMAT") {
            None => Format::Parquet,
            Some(f) => Format::parse(&f)
                .ok_or_else(|| anyhow!("AFFINITY_SYNC_FORMAT={f:?}: use parquet or ndjson"))?,
        };
        let streams = var("AFFINITY_SYNC_STREAMS");
        catalog::select(streams.as_deref()).map_err(|e| anyhow!("AFFINITY_SYNC_STREAMS: {e}"))?;
        let number = |name: &str, default: u64| -> Result<u64> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("{name}={v:?} is not a whole number")),
            }
        };
        let max_attempts = number("AFFINITY_SYNC_MAX_ATTEMPTS", 6)?;
        if !(1..=100).contains(&max_attempts) {
            bail!("AFFINITY_SYNC_MAX_ATTEMPTS={max_attempts}: use 1 to 100");
        }
        let s3_encryption = match var("AFFINITY_SYNC_S3_SSE") {
            None => Encryption::default(),
            Some(v) => Encryption::parse(&v).context("AFFINITY_SYNC_S3_SSE")?,
        };
        Ok(Settings {
            out,
            s3_endpoint: var("AWS_ENDPOINT_URL_S3"),
            s3_encryption,
            queue_url: required("AFFINITY_SYNC_QUEUE_URL")?,
            dead_letter_url: required("AFFINITY_SYNC_DEAD_LETTER_URL")?,
            base_url: var("AFFINITY_BASE_URL").unwrap_or_else(|| "https://api.affinity.co".into()),
            format,
            streams,
            max_attempts: max_attempts as u32,
            rate_reserve: number("AFFINITY_SYNC_RATE_RESERVE", 10)?,
            secret_arn: var("AFFINITY_SYNC_SECRET_ARN"),
            dead_letter_arn: var("AFFINITY_SYNC_DEAD_LETTER_ARN"),
            runs_on,
            function_name: var("AWS_LAMBDA_FUNCTION_NAME")
                .or_else(|| var("AFFINITY_SYNC_FUNCTION_NAME"))
                .unwrap_or_else(|| "affinity-sync".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars("lambda", |k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("AFFINITY_SYNC_BUCKET", "my-bucket"),
        ("AFFINITY_SYNC_QUEUE_URL", "https://sqs/q"),
        ("AFFINITY_SYNC_DEAD_LETTER_URL", "https://sqs/dlq"),
    ];

    #[test]
    fn defaults_and_required_settings() {
        let s = settings(&BASE).unwrap();
        assert_eq!(s.out, "s3://my-bucket/");
        assert_eq!(s.base_url, "https://api.affinity.co");
        assert_eq!(s.s3_encryption, Encryption::S3);
        assert_eq!(
            (s.format, s.max_attempts, s.rate_reserve),
            (Format::Parquet, 6, 10)
        );
        let err = settings(&BASE[1..]).unwrap_err().to_string();
        assert!(err.contains("AFFINITY_SYNC_BUCKET is not set"), "{err}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pair, says) in [
            (("AFFINITY_SYNC_FORMAT", "csv"), "AFFINITY_SYNC_FORMAT"),
            (
                ("AFFINITY_SYNC_STREAMS", "persons,nope"),
                "unknown stream \"nope\"",
            ),
            (
                ("AFFINITY_SYNC_MAX_ATTEMPTS", "0"),
                "AFFINITY_SYNC_MAX_ATTEMPTS",
            ),
            (
                ("AFFINITY_SYNC_RATE_RESERVE", "ten"),
                "AFFINITY_SYNC_RATE_RESERVE",
            ),
            (("AFFINITY_SYNC_PREFIX", "a//b"), "AFFINITY_SYNC_PREFIX"),
            (("AFFINITY_SYNC_S3_SSE", "aes"), "AFFINITY_SYNC_S3_SSE"),
        ] {
            let mut v = BASE.to_vec();
            v.push(pair);
            let err = format!("{:#}", settings(&v).unwrap_err());
            assert!(err.contains(says), "{pair:?}: {err}");
        }
    }
}
