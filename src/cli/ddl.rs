//! `affinity-sync ddl`: prints the statements that create every table and load one complete
//! sync's Parquet batches into a warehouse.

use crate::ops::ddl::{self, Dialect};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct DdlArgs {
    /// The warehouse's SQL dialect.
    #[arg(long, value_enum)]
    dialect: Dialect,
    /// Where the warehouse reads the batches: `s3://bucket/prefix`, `gs://…`, a path (default:
    /// --from's absolute path).
    #[arg(long)]
    location: Option<String>,
    /// A local output of `affinity-sync sync`: its latest complete sync is loaded, and tables
    /// without batches in it are only created.
    #[arg(long)]
    from: Option<PathBuf>,
    /// The sync to load (default: the latest complete one in --from).
    #[arg(long)]
    sync_id: Option<String>,
}

pub async fn run(args: DdlArgs) -> Result<()> {
    print!(
        "{}",
        ddl::for_request(ddl::Request {
            dialect: args.dialect,
            location: args.location.as_deref(),
            from: args.from.as_deref(),
            sync_id: args.sync_id.as_deref(),
        })?
    );
    Ok(())
}
