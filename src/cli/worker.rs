//! `affinity-sync worker`: carries a queue's jobs to an HTTP page step (the WebAssembly
//! component under `spin up` or `wasmtime serve`).

use crate::ops;
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct WorkerArgs {
    /// The SQS queue that carries the jobs.
    #[arg(long, env = "AFFINITY_SYNC_QUEUE_URL")]
    queue_url: String,
    /// Where each job is POSTed, e.g. http://127.0.0.1:3000/jobs (`spin up`).
    #[arg(long)]
    invoke: String,
    /// The step's bearer token (the component's AFFINITY_SYNC_TRIGGER_TOKEN).
    #[arg(long, env = "AFFINITY_SYNC_TRIGGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// An SQS-compatible endpoint (moto, ElasticMQ) instead of AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL_SQS")]
    sqs_endpoint: Option<String>,
    /// Exit once the queue has nothing visible, in flight or delayed (default: keep polling).
    #[arg(long)]
    until_empty: bool,
    /// Messages carried at once (as Lambda's event source's maximum concurrency), each loop
    /// taking one at a time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    concurrency: u16,
}

pub async fn run(args: WorkerArgs) -> Result<()> {
    let worked = ops::worker::run(ops::worker::Options {
        queue_url: args.queue_url,
        invoke: args.invoke,
        token: args.token,
        sqs_endpoint: args.sqs_endpoint,
        until_empty: args.until_empty,
        concurrency: args.concurrency.into(),
    })
    .await?;
    println!(
        "{} messages delivered: {} done, {} left for another delivery",
        worked.delivered, worked.done, worked.again
    );
    Ok(())
}
