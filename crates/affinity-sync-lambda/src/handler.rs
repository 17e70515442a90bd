//! The one entry point: the function tells its events apart by shape.
//!
//! - an SQS batch (`Records` from `aws:sqs`): each message is one page ([`page::run`]); the
//!   answer lists the messages to deliver again (`batchItemFailures`), so one bad page never
//!   re-runs the good ones (the event source mapping must report batch item failures);
//! - `{"action": "start", ...}` (EventBridge Scheduler, `aws lambda invoke`): a new sync;
//! - a Function URL / API Gateway HTTP request: `POST /sync` ([`trigger`]).

use crate::app::App;
use crate::{page, trigger};
use affinity_sync_io::queued::start;
use anyhow::{Result, anyhow};
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The kinds of event, recognised by their shape.
enum Event {
    Sqs(SqsEvent),
    Start(start::StartRequest),
    Http(Box<LambdaFunctionUrlRequest>),
}

fn recognise(event: Value) -> Result<Event> {
    let is_sqs = event
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|r| {
            r.iter()
                .all(|m| m.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        });
    if is_sqs {
        return Ok(Event::Sqs(serde_json::from_value(event)?));
    }
    if event.get("action").is_some() {
        return serde_json::from_value(event)
            .map(Event::Start)
            .map_err(|e| anyhow!("not a start request ({e}): send {{\"action\": \"start\", \"streams\": \"...\", \"format\": \"parquet\", \"force\": false}}"));
    }
    if event.pointer("/requestContext/http").is_some() {
        return Ok(Event::Http(Box::new(serde_json::from_value(event)?)));
    }
    Err(anyhow!(
        "unrecognised event: the function takes SQS batches, {{\"action\": \"start\"}} and Function URL requests"
    ))
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value> {
    match recognise(event.payload)? {
        Event::Sqs(batch) => {
            let mut failures = vec![];
            for msg in &batch.records {
                let id = msg.message_id.clone().unwrap_or_default();
                match page::run(app, msg).await {
                    Ok(handled) => tracing::debug!(message_id = %id, ?handled, "message handled"),
                    Err(e) => {
                        // S3 or SQS failed: SQS delivers this message again later.
                        tracing::error!(message_id = %id, "page failed, will be delivered again: {e:#}");
                        let mut f = BatchItemFailure::default();
                        f.item_identifier = id;
                        failures.push(f);
                    }
                }
            }
            let mut response = SqsBatchResponse::default();
            response.batch_item_failures = failures;
            Ok(serde_json::to_value(response)?)
        }
        Event::Start(req) => {
            let resolved = req.resolve(&app.settings).map_err(|e| anyhow!(e))?;
            Ok(serde_json::to_value(start::start(app, resolved).await?)?)
        }
        Event::Http(req) => Ok(serde_json::to_value(trigger::handle(app, *req).await)?),
    }
}
