//! `affinity-sync demo`: the newcomer's first command (a full sync against the built-in test
//! double, checked against its ground truth, then loaded into DuckDB and queried).

use super::args::DataArgs;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct DemoArgs {
    /// Where the demo writes its batches.
    #[arg(long, default_value = "./affinity-demo")]
    out: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    crate::ops::demo::run(args.data.seed, args.data.sizes(), args.out).await
}
