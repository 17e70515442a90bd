//! affinity-sync on AWS Lambda (`provided.al2023`): every invocation runs one page of a
//! sync on the core; SQS carries the jobs from page to page, S3 holds the batches.
//!
//! Init builds everything once (settings, the secret, the S3/SQS/HTTP clients) and each
//! event is handed to [`handler::handle`]. Logs are JSON lines for CloudWatch, each with the
//! sync id, stream and page of the job it is about, and never a secret.

mod app;
mod handler;
mod page;
mod queue;
mod trigger;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .without_time() // CloudWatch stamps every line
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AFFINITY_SYNC_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let app = match app::init().await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("init failed: {e:#}");
            return Err(format!("{e:#}").into());
        }
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler::handle(app, event)
            .await
            .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
    }))
    .await
}
