//! `affinity-sync serve`: receives Affinity webhooks on one machine and writes their changes
//! to `--out`.

use super::args::{Connection, Output, WebhookSecretArgs};
use crate::ops;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    connection: Connection,
    /// Where change records, tombstones and refreshed records go (as `sync --out`).
    #[command(flatten)]
    output: Output,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Format of refreshed records: the format of your syncs (parquet or ndjson).
    #[arg(long, default_value = "parquet")]
    format: String,
    #[command(flatten)]
    secret: WebhookSecretArgs,
    /// Refreshes fetched at once.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Tries of a refresh before it is parked in changes/_refresh/failed/.
    #[arg(long, default_value_t = 6)]
    max_retries: u32,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let format = affinity_sync_core::Format::parse(&args.format)
        .with_context(|| format!("--format must be parquet or ndjson, got {:?}", args.format))?;
    let options = ops::serve::Options {
        listen: args.listen,
        base_url: args.connection.base_url.clone(),
        key: args.connection.key()?.key,
        format,
        secret: args.secret.token()?,
        workers: args.workers,
        max_retries: args.max_retries,
    };
    let out = args.output.out.clone();
    let ready = move |addr: SocketAddr| {
        println!(
            "receiving Affinity webhooks on http://{addr}/webhook?token=*** (writing to {out}); Ctrl-C stops"
        );
        let _ = std::io::stdout().flush();
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    crate::with_sink!(args.output.open().await?, s => ops::serve::run(s, options, ready, stop).await)
}
