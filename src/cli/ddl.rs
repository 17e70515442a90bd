//! `affinity-sync ddl`: prints the statements that create every table and load one complete
//! sync's Parquet batches into a warehouse, or, with `--views`, views that always show the
//! current state of the bucket.

use crate::ops::ddl::{self, Dialect};
use crate::ops::location;
use crate::ops::views::{self, Coverage};
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct DdlArgs {
    /// The warehouse's SQL dialect.
    #[arg(long, value_enum)]
    dialect: Dialect,
    /// Where the warehouse reads the batches: `s3://bucket/prefix`, `gs://…`, `az://…`
    /// (written as the dialect reads it; Azure's account from AZURE_STORAGE_ACCOUNT), a path
    /// (default: --from's absolute path).
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

/// The wide views for `dialect`, their columns the fields of the local store `store` now;
/// without one (or without DuckDB, which reads the store), a line saying how to have them.
fn wide_views(dialect: Dialect, cover: &Coverage, store: Option<&Path>) -> Result<String> {
    #[cfg(feature = "duckdb")]
    if let Some(store) = store {
        let at =
            std::fs::canonicalize(store).with_context(|| format!("--from {}", store.display()))?;
        let duckdb_views = views::render(
            Dialect::Duckdb,
            &at.display().to_string(),
            &views::coverage(Dialect::Duckdb, Some(&at)),
        )?;
        let found = crate::ops::duckdb_load::wide_views_of_store(&duckdb_views)?;
        return Ok(views::render_wide(dialect, cover, &found));
    }
    let _ = (dialect, cover, store);
    Ok(
        "-- Wide views (persons_wide, …): their columns are the fields, read from the store when\n\
        -- the views are made; pass --from DIR (a local copy of the store) to have them printed.\n"
            .to_string(),
    )
}

/// The storage account of an `az://` location, as `sync` reads it.
fn azure_account() -> Option<String> {
    std::env::var("AZURE_STORAGE_ACCOUNT")
        .ok()
        .filter(|a| !a.is_empty())
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
        let cover = views::coverage(args.dialect, args.from.as_deref());
        let read_at = location::for_dialect(args.dialect, &location, azure_account().as_deref())?;
        print!("{}", views::render(args.dialect, &read_at, &cover)?);
        // The fields come from --from, or from the location when it is a local directory.
        let local = Path::new(&location);
        let store = args
            .from
            .as_deref()
            .or((!location.contains("://") && local.is_dir()).then_some(local));
        print!("{}", wide_views(args.dialect, &cover, store)?);
        return Ok(());
    }
    let read_at = args
        .location
        .as_deref()
        .map(|l| location::for_dialect(args.dialect, l, azure_account().as_deref()))
        .transpose()?;
    print!(
        "{}",
        ddl::for_request(ddl::Request {
            dialect: args.dialect,
            location: read_at.as_deref(),
            from: args.from.as_deref(),
            sync_id: args.sync_id.as_deref(),
        })?
    );
    Ok(())
}
