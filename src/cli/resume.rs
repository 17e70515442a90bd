//! `affinity-sync resume`: finishes a sync that stopped, from the pages its journal still
//! holds (unfinished and parked).

use super::args::{Connection, Output, RunArgs};
use super::sync::{finish, run_on};
use crate::ops;
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    connection: Connection,
    /// Where the sync writes (its --out).
    #[command(flatten)]
    output: Output,
    /// The sync to finish (default: the latest unfinished one in --out).
    #[arg(long)]
    sync_id: Option<String>,
    #[command(flatten)]
    run: RunArgs,
}

pub async fn run(args: ResumeArgs) -> Result<()> {
    let options = args.run.options(&args.connection, args.connection.key()?)?;
    let out = &args.output.out;
    if !crate::ops::store::is_remote(out) && !std::path::Path::new(out).is_dir() {
        anyhow::bail!(
            "--out {out} does not exist: resume continues a sync in the directory it wrote to"
        );
    }
    let store = args.output.open().await?;
    let start = ops::sync::Start::Resume {
        sync_id: args.sync_id.clone(),
    };
    let report = run_on(store, options, start, args.run.quiet, out).await?;
    finish(report, out)
}
