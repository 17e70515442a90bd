//! `affinity-sync ddl`: prints the statements that create every table and load one complete
//! sync's Parquet batches into a warehouse, or, with `--views`, views that always show the
//! current state of the bucket.

use crate::ops::ddl::{self, Dialect};
use anyhow::{Context, Result};
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
    #[arg(long, conflicts_with = "views")]
    sync_id: Option<String>,
    /// Views instead of a load: run once, they read the bucket at every query and show the
    /// latest complete syncs with the webhook changes since, as `load duckdb` builds them.
    #[arg(long)]
    views: bool,
}

/// DuckDB's wide views over a local store, whose fields can be read now.
fn wide_views(views: &str, local: bool) -> Result<String> {
    #[cfg(feature = "duckdb")]
    if local {
        return crate::ops::duckdb_load::wide_views_over(views);
    }
    let _ = (views, local);
    Ok(
        "-- Wide views (persons_wide, …): their columns are the fields, read when the views are\n\
        -- made; pass --from DIR (a local store) to have them printed.\n"
            .to_string(),
    )
}

pub async fn run(args: DdlArgs) -> Result<()> {
    if args.views {
        let location = match (&args.location, &args.from) {
            (Some(l), _) => l.clone(),
            (None, Some(from)) => std::fs::canonicalize(from)
                .with_context(|| format!("--from {}", from.display()))?
                .display()
                .to_string(),
            (None, None) => anyhow::bail!(
                "--views needs the bucket the warehouse reads: pass --location s3://bucket/prefix (or a directory)"
            ),
        };
        let cover = crate::ops::views::coverage(args.dialect, args.from.as_deref());
        let sql = crate::ops::views::render(args.dialect, &location, &cover)?;
        print!("{sql}");
        let local = !location.contains("://") && std::path::Path::new(&location).is_dir();
        if args.dialect == Dialect::Duckdb {
            print!("{}", wide_views(&sql, local)?);
        }
        return Ok(());
    }
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
