//! `affinity-sync worker`: carries a queue's jobs to an HTTP page step, for homes that have
//! no event source mapping of their own (the WebAssembly component under `spin up` or
//! `wasmtime serve`, on one machine). Each SQS message is POSTed to `--invoke` with its
//! `attempt` attribute as `X-Affinity-Sync-Attempt`; a 200 deletes it, anything else leaves
//! it for SQS to deliver again after its visibility timeout, exactly as Lambda's event source
//! mapping treats a failed message.

use affinity_sync_io::aws_error;
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub struct Options {
    pub queue_url: String,
    pub invoke: String,
    /// `Authorization: Bearer` for the step (the component's trigger token).
    pub token: Option<String>,
    /// An SQS-compatible endpoint (moto, ElasticMQ); default: AWS.
    pub sqs_endpoint: Option<String>,
    /// Stop when the queue has nothing visible, in flight or delayed.
    pub until_empty: bool,
    /// Messages carried at once, each by its own loop taking one message at a time (as
    /// Lambda's event source with `BatchSize` 1 and `MaximumConcurrency`); 1 takes up to ten
    /// at a time and carries them one by one.
    pub concurrency: usize,
}

/// What the worker did.
#[derive(Debug, Default)]
pub struct Worked {
    pub delivered: u64,
    pub done: u64,
    pub again: u64,
}

pub async fn run(args: Options) -> Result<Worked> {
    let mut loader = affinity_sync_io::s3::aws_config_loader();
    if let Some(e) = &args.sqs_endpoint {
        loader = loader.endpoint_url(e);
    }
    let sqs = aws_sdk_sqs::Client::new(&loader.load().await);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .context("building the HTTP client")?;
    let busy = Arc::new(AtomicUsize::new(0));
    let args = Arc::new(args);
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (sqs, http, args, busy) = (sqs.clone(), http.clone(), args.clone(), busy.clone());
        loops.spawn(async move { carry(&sqs, &http, &args, &busy).await });
    }
    let mut worked = Worked::default();
    while let Some(done) = loops.join_next().await {
        let w = done.context("a worker loop panicked")??;
        worked.delivered += w.delivered;
        worked.done += w.done;
        worked.again += w.again;
    }
    Ok(worked)
}

/// One loop: receives messages and carries each to the step, until the queue is empty (with
/// `until_empty`, and no other loop carrying one: its step may queue more).
async fn carry(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    args: &Options,
    busy: &AtomicUsize,
) -> Result<Worked> {
    let batch = if args.concurrency > 1 { 1 } else { 10 };
    let mut worked = Worked::default();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&args.queue_url)
            .max_number_of_messages(batch)
            .wait_time_seconds(if args.until_empty { 1 } else { 20 })
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| {
                aws_error::from_sdk(
                    &format!("receiving from {}", args.queue_url),
                    &e,
                    Some("--queue-url"),
                )
            })?;
        if got.messages().is_empty() {
            if args.until_empty
                && busy.load(Ordering::SeqCst) == 0
                && queue_is_empty(sqs, &args.queue_url).await?
            {
                return Ok(worked);
            }
            continue;
        }
        busy.fetch_add(1, Ordering::SeqCst);
        let carried = carry_all(sqs, http, args, got.messages(), &mut worked).await;
        busy.fetch_sub(1, Ordering::SeqCst);
        carried?;
    }
}

/// Carries `messages` to the step one by one, deleting each the step finished.
async fn carry_all(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    args: &Options,
    messages: &[Message],
    worked: &mut Worked,
) -> Result<()> {
    for m in messages {
        worked.delivered += 1;
        if deliver(http, args, m).await? {
            worked.done += 1;
            sqs.delete_message()
                .queue_url(&args.queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(|e| {
                    aws_error::from_sdk(
                        &format!("deleting a message from {}", args.queue_url),
                        &e,
                        Some("--queue-url"),
                    )
                })?;
        } else {
            worked.again += 1;
        }
    }
    Ok(())
}

/// POSTs one message; whether the step finished it.
async fn deliver(http: &reqwest::Client, args: &Options, m: &Message) -> Result<bool> {
    let attempt = m
        .message_attributes()
        .and_then(|a| a.get("attempt"))
        .and_then(|v| v.string_value())
        .unwrap_or("1");
    let mut req = http
        .post(&args.invoke)
        .header("x-affinity-sync-attempt", attempt)
        .body(m.body().unwrap_or_default().to_string());
    if let Some(t) = &args.token {
        req = req.bearer_auth(t);
    }
    let res = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "the step at {} is unreachable ({}); the message comes again",
                args.invoke,
                affinity_sync_io::fetch::without_url(&e)
            );
            return Ok(false);
        }
    };
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    match status {
        200 => Ok(true),
        401 | 403 => bail!(
            "the step at {} refused the worker ({status}): {body}. Give the component's trigger token with --token or AFFINITY_SYNC_TRIGGER_TOKEN",
            args.invoke
        ),
        _ => {
            eprintln!("the step answered {status} ({body}); the message comes again");
            Ok(false)
        }
    }
}

async fn queue_is_empty(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<bool> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| {
            aws_error::from_sdk(
                &format!("reading the counts of {url}"),
                &e,
                Some("--queue-url"),
            )
        })?;
    let count = |name: QueueAttributeName| {
        attrs
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
        + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        + count(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        == 0)
}
