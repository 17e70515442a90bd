//! `affinity-sync plan`: what a sync of the selected streams will cost against the monthly
//! quota and the per-minute limit, before it runs.

use super::args::Target;
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    target: Target,
}

pub async fn run(args: PlanArgs) -> Result<()> {
    let t = &args.target;
    let streams = t.streams.select()?;
    let key = t.connection.key()?;
    let plan = t
        .connection
        .plan(&key, &streams, t.output.previous().await?, true)
        .await?;
    println!("{}", plan.table());
    Ok(())
}
