//! The job queue on SQS or any SQS-compatible service, over `wasi:http`: the JSON protocol
//! (`X-Amz-Target: AmazonSQS.SendMessageBatch`), signed with SigV4. Messages are the ones
//! the Lambda function sends (the job as `Job::encode_for_queue` writes it, an `attempt`
//! attribute), so either home can work the same queue.

use crate::aws::Signer;
use crate::outbound;
use affinity_sync_io::aws_error;
use affinity_sync_io::queued::{JobQueue, MAX_DELAY_SECONDS};
use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};
use spin_sdk::http::Method;

/// The attribute that counts a page's tries (the same as the Lambda function's).
pub const ATTEMPT: &str = "attempt";

pub struct SqsQueue {
    pub url: String,
    pub dead_letter_url: String,
    pub signer: Signer,
}

/// The service endpoint of a queue URL: `https://sqs.us-east-1.amazonaws.com/123/jobs` →
/// `https://sqs.us-east-1.amazonaws.com/`.
fn endpoint(queue_url: &str) -> Result<String> {
    let (scheme, rest) = queue_url
        .split_once("://")
        .ok_or_else(|| anyhow!("{queue_url:?} is not a queue URL (https://host/account/name)"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        bail!("{queue_url:?} is not a queue URL (https://host/account/name)");
    }
    Ok(format!("{scheme}://{host}/"))
}

impl SqsQueue {
    /// The setting that names `queue_url`, for an error that says what to correct.
    fn setting_of(&self, queue_url: &str) -> &'static str {
        if queue_url == self.dead_letter_url {
            "AFFINITY_SYNC_DEAD_LETTER_URL"
        } else {
            "AFFINITY_SYNC_QUEUE_URL"
        }
    }

    /// One call of the SQS JSON API to the service of `queue_url`.
    fn call(&self, queue_url: &str, action: &str, body: Value) -> Result<Value> {
        let url = endpoint(queue_url)?;
        let body = body.to_string().into_bytes();
        let mut headers = vec![
            (
                "content-type".to_string(),
                "application/x-amz-json-1.0".to_string(),
            ),
            ("x-amz-target".to_string(), format!("AmazonSQS.{action}")),
        ];
        let signed = self.signer.sign("sqs", "POST", &url, &headers, &body)?;
        headers.extend(signed);
        let reply = outbound::send(Method::Post, &url, &headers, body)
            .map_err(|e| anyhow!("SQS {action}: {e}"))?;
        let answer: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        if reply.status != 200 {
            tracing::debug!(status = reply.status, body = %answer, "SQS {action} on {queue_url}");
            // The JSON protocol's `__type` is `namespace#Code`; queues that speak the query
            // protocol's codes too say so in `x-amzn-query-error` (`Code;Sender`).
            let code = reply
                .headers
                .get("x-amzn-query-error")
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.split(';').next().map(str::to_string))
                .or_else(|| {
                    let t = answer["__type"].as_str()?;
                    Some(t.rsplit('#').next().unwrap_or(t).to_string())
                })
                .unwrap_or_else(|| format!("HTTP {}", reply.status));
            let message = answer["message"].as_str().or(answer["Message"].as_str());
            bail!(aws_error::line(
                &format!("SQS {action} on {queue_url}"),
                &code,
                message,
                Some(self.setting_of(queue_url)),
            ));
        }
        Ok(answer)
    }
}

fn number(n: u64) -> Value {
    json!({"DataType": "Number", "StringValue": n.to_string()})
}

impl JobQueue for SqsQueue {
    async fn send(&self, messages: &[String], delay_seconds: u64, attempt: u32) -> Result<()> {
        for chunk in messages.chunks(10) {
            let entries: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    json!({
                        "Id": format!("m{i}"),
                        "MessageBody": body,
                        "DelaySeconds": delay_seconds.min(MAX_DELAY_SECONDS),
                        "MessageAttributes": {ATTEMPT: number(attempt as u64)},
                    })
                })
                .collect();
            let answer = self.call(
                &self.url,
                "SendMessageBatch",
                json!({"QueueUrl": self.url, "Entries": entries}),
            )?;
            if let Some(failed) = answer["Failed"].as_array().filter(|f| !f.is_empty()) {
                bail!(
                    "SQS refused {} of {} jobs: {} ({})",
                    failed.len(),
                    chunk.len(),
                    failed[0]["Message"].as_str().unwrap_or("no message"),
                    failed[0]["Code"].as_str().unwrap_or_default()
                );
            }
        }
        Ok(())
    }

    async fn dead_letter(&self, body: &str, error: &str, attempts: u32) -> Result<()> {
        // SQS attributes are limited in size; the reason is a line, not a body.
        let error: String = error.chars().take(2000).collect();
        self.call(
            &self.dead_letter_url,
            "SendMessage",
            json!({
                "QueueUrl": self.dead_letter_url,
                "MessageBody": body,
                "MessageAttributes": {
                    "error": {"DataType": "String", "StringValue": error},
                    "attempts": number(attempts as u64),
                },
            }),
        )
        .map_err(|e| anyhow!("sending a failed job to the dead-letter queue failed: {e}"))?;
        Ok(())
    }
}
