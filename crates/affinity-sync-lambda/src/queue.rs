//! The job queue on SQS: sending jobs (signed, optionally delayed) and dead-lettering a page
//! that failed for good, with its reason.
//!
//! Each message body is a job exactly as `Job::encode_for_queue` writes it (never the key or
//! a URL); the `attempt` message attribute counts tries of a page that failed with a
//! retryable error, so a retry is a fresh message with a delay, not a redelivery.

use affinity_sync_io::aws_error;
use affinity_sync_io::queued::{JobQueue, MAX_DELAY_SECONDS};
use anyhow::{Result, bail};
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

/// The attribute that counts a page's tries.
pub const ATTEMPT: &str = "attempt";

pub struct SqsQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
    pub dead_letter_url: String,
}

fn number(n: u64) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(n.to_string())
        .build()
        .expect("data type is set")
}

fn text(s: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(s)
        .build()
        .expect("data type is set")
}

impl JobQueue for SqsQueue {
    /// Sends `jobs`, ten to a request (the SQS maximum), each visible after `delay_seconds`
    /// and marked as try `attempt`. Fails unless every message was accepted.
    async fn send(&self, messages: &[String], delay_seconds: u64, attempt: u32) -> Result<()> {
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(body)
                        .delay_seconds(delay_seconds.min(MAX_DELAY_SECONDS) as i32)
                        .message_attributes(ATTEMPT, number(attempt as u64))
                        .build()
                        .expect("id and body are set")
                })
                .collect::<Vec<_>>();
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    aws_error::from_sdk(
                        &format!("sending jobs to {}", self.url),
                        &e,
                        Some("AFFINITY_SYNC_QUEUE_URL"),
                    )
                })?;
            if let Some(f) = out.failed().first() {
                bail!(
                    "SQS refused {} of {} jobs: {} ({})",
                    out.failed().len(),
                    chunk.len(),
                    f.message().unwrap_or("no message"),
                    f.code()
                );
            }
        }
        Ok(())
    }

    /// Puts the message `body` on the dead-letter queue with why it failed and how often it
    /// was tried, for whoever looks at the queue (redriving it back runs the page again).
    async fn dead_letter(&self, body: &str, error: &str, attempts: u32) -> Result<()> {
        // SQS attributes are limited in size; the reason is a line, not a body.
        let error: String = error.chars().take(2000).collect();
        self.client
            .send_message()
            .queue_url(&self.dead_letter_url)
            .message_body(body)
            .message_attributes("error", text(&error))
            .message_attributes("attempts", number(attempts as u64))
            .send()
            .await
            .map_err(|e| {
                aws_error::from_sdk(
                    &format!(
                        "sending a failed job to the dead-letter queue {}",
                        self.dead_letter_url
                    ),
                    &e,
                    Some("AFFINITY_SYNC_DEAD_LETTER_URL"),
                )
            })?;
        Ok(())
    }
}
