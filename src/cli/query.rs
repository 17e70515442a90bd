//! `affinity-sync query`: SQL on the DuckDB database `load duckdb` made.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct QueryArgs {
    /// The SQL to run.
    sql: String,
    /// The DuckDB database file.
    #[arg(long, default_value = "./affinity.duckdb")]
    db: PathBuf,
}

#[cfg(feature = "duckdb")]
pub async fn run(args: QueryArgs) -> Result<()> {
    println!("{}", crate::ops::duckdb_load::query(&args.db, &args.sql)?);
    Ok(())
}

#[cfg(not(feature = "duckdb"))]
pub async fn run(_: QueryArgs) -> Result<()> {
    Err(super::load::without_duckdb())
}
