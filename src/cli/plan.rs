//! `affinity-sync plan`: what a sync of the selected streams will cost against the monthly
//! quota and the per-minute limit, before it runs.

use super::args::{Connection, Output, Streams};
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    streams: Streams,
    #[command(flatten)]
    output: Output,
}

pub async fn run(args: PlanArgs) -> Result<()> {
    let streams = args.streams.select()?;
    let key = args.connection.key()?;
    let plan = args
        .connection
        .plan(&key, &streams, args.output.previous().await?, true)
        .await?;
    println!("{}", plan.table());
    Ok(())
}
