//! AWS Signature Version 4 for the component's S3 and SQS requests (`aws-sigv4`), with the
//! credentials and region from the standard environment variables. The secret key stays in
//! the signer: it is never a header, a log line or part of an error.

use anyhow::{Context, Result, anyhow};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::time::SystemTime;

pub struct Signer {
    identity: Identity,
    pub region: String,
}

impl Signer {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (optional) and
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`; default `us-east-1`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Signer> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let key_id = var("AWS_ACCESS_KEY_ID").ok_or_else(|| {
            anyhow!(
                "AWS_ACCESS_KEY_ID is not set: the component signs its S3 and SQS requests with it"
            )
        })?;
        let secret = var("AWS_SECRET_ACCESS_KEY")
            .ok_or_else(|| anyhow!("AWS_SECRET_ACCESS_KEY is not set"))?;
        let credentials = Credentials::new(key_id, secret, var("AWS_SESSION_TOKEN"), None, "env");
        Ok(Signer {
            identity: credentials.into(),
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
        })
    }

    /// The headers that sign a request to `service` (`s3`, `sqs`): `authorization`,
    /// `x-amz-date`, and for S3 `x-amz-content-sha256`. `headers` are the ones the request
    /// will carry besides; `url` must already be percent-encoded.
    pub fn sign(
        &self,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>> {
        let mut settings = SigningSettings::default();
        if service == "s3" {
            // S3 signs the path as sent (encoded once) and wants the payload hash header.
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .context("signing parameters")?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .context("a request that cannot be signed")?;
        let (instructions, _) = sign(request, &params)
            .context("signing the request")?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect())
    }
}
