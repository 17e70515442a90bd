//! What the function builds once per container (the cold start) and reuses across
//! invocations: settings, secrets, the HTTP client for Affinity, the S3 sink and the queue.

use crate::queue::SqsQueue;
use crate::secrets::Secrets;
use crate::settings::Settings;
use affinity_sync::{Config, Format};
use affinity_sync_io::s3::{self, S3Sink};
use anyhow::{Result, anyhow};

pub struct App {
    pub settings: Settings,
    pub secrets: Secrets,
    pub http: reqwest::Client,
    pub sink: S3Sink,
    pub queue: SqsQueue,
}

impl App {
    /// Reads the configuration and the secret, and connects to the bucket (a HEAD request, so
    /// a wrong bucket or missing permission fails the init with a clear message).
    pub async fn init() -> Result<App> {
        let var = |name: &str| std::env::var(name).ok();
        let settings = Settings::from_vars(var)?;
        let aws = s3::aws_config().await;
        let secrets = match &settings.secret_arn {
            Some(arn) => {
                let client = aws_sdk_secretsmanager::Client::new(&aws);
                Secrets::from_secrets_manager(&client, arn).await?
            }
            None => Secrets::from_vars(var)?,
        };
        let sink = S3Sink::connect(
            s3::client(&aws, settings.s3_endpoint.as_deref()),
            &settings.out,
        )
        .await?;
        let queue = SqsQueue {
            client: aws_sdk_sqs::Client::new(&aws),
            url: settings.queue_url.clone(),
            dead_letter_url: settings.dead_letter_url.clone(),
        };
        Ok(App {
            http: affinity_sync_io::fetch::http_client()?,
            settings,
            secrets,
            sink,
            queue,
        })
    }

    /// The core's configuration for a sync written in `format`.
    pub fn core_config(&self, format: Format) -> Result<Config> {
        // The sink holds the prefix, so keys are built relative to it.
        Config::new(&self.settings.base_url, "", format)
            .map_err(|e| anyhow!("AFFINITY_BASE_URL: {e}"))
    }
}
