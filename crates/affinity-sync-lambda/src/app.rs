//! What the function builds once per container (the cold start) and reuses across
//! invocations: settings, secrets, the HTTP client for Affinity, the S3 sink and the queue,
//! assembled as the queued driver's [`Deployment`].

use crate::queue::SqsQueue;
use affinity_sync_io::aws_error;
use affinity_sync_io::queued::Deployment;
use affinity_sync_io::queued::secrets::Secrets;
use affinity_sync_io::queued::settings::Settings;
use affinity_sync_io::s3::{self, S3Sink};
use anyhow::{Result, anyhow};

pub type App = Deployment<S3Sink, SqsQueue, reqwest::Client>;

/// Reads the configuration and the secret, and connects to the bucket (a HEAD request, so
/// a wrong bucket or missing permission fails the init with a clear message).
pub async fn init() -> Result<App> {
    let var = |name: &str| std::env::var(name).ok();
    let settings = Settings::from_vars("lambda", var)?;
    let aws = s3::aws_config().await;
    let secrets = match &settings.secret_arn {
        Some(arn) => {
            let client = aws_sdk_secretsmanager::Client::new(&aws);
            from_secrets_manager(&client, arn).await?
        }
        None => Secrets::from_vars(var)?,
    };
    let sink = S3Sink::connect(
        s3::client(&aws, settings.s3_endpoint.as_deref()),
        &settings.out,
        "AFFINITY_SYNC_BUCKET",
    )
    .await?
    .with_encryption(settings.s3_encryption.clone());
    let queue = SqsQueue {
        client: aws_sdk_sqs::Client::new(&aws),
        url: settings.queue_url.clone(),
        dead_letter_url: settings.dead_letter_url.clone(),
    };
    Ok(App {
        fetcher: affinity_sync_io::fetch::http_client()?,
        settings,
        secrets,
        sink,
        queue,
    })
}

/// Reads the secret `arn` from Secrets Manager.
async fn from_secrets_manager(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<Secrets> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            aws_error::from_sdk(
                &format!("reading the secret {arn}"),
                &e,
                Some("AFFINITY_SYNC_SECRET_ARN, and that the function's role may secretsmanager:GetSecretValue it"),
            )
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| anyhow!("the secret {arn} has no string value"))?;
    Secrets::parse(text, &format!("the secret {arn}"))
}
