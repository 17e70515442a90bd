//! One SQS message: one job, one page, run by the queued driver
//! ([`affinity_sync_io::queued::page`]); this reads what SQS adds to the job: its body and
//! the `attempt` attribute.

use crate::app::App;
use crate::queue::ATTEMPT;
use affinity_sync_io::queued::page::{self, Handled};
use anyhow::Result;
use aws_lambda_events::event::sqs::SqsMessage;

/// The try this message is (1 for a job's first message).
fn attempt_of(msg: &SqsMessage) -> u32 {
    msg.message_attributes
        .get(ATTEMPT)
        .and_then(|a| a.string_value.as_deref())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Handles one message of an SQS batch.
pub async fn run(app: &App, msg: &SqsMessage) -> Result<Handled> {
    page::run(
        app,
        msg.body.as_deref().unwrap_or_default(),
        attempt_of(msg),
    )
    .await
}
