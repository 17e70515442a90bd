//! `affinity-sync load duckdb|postgres`: the latest complete sync of a store into a
//! database, run by affinity-sync itself (the other warehouses get `ddl`).

use crate::ops;
use crate::ops::store::{Store, WriteEncryption};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum LoadInto {
    /// One DuckDB table per table of the sync (replacing earlier loads, in one transaction),
    /// plus wide views with one column per field: persons_wide, companies_wide, list_<id>_wide.
    Duckdb(LoadDuckdbArgs),
    /// One PostgreSQL table per table of the sync, in a schema of its own, replaced stream by
    /// stream in one transaction each (binary COPY), then the webhook changes applied.
    Postgres(LoadPostgresArgs),
}

#[derive(Args)]
pub struct LoadDuckdbArgs {
    /// What `sync` wrote: a directory, `s3://bucket/prefix`, `az://container/prefix` or
    /// `gs://bucket/prefix` (credentials as for `sync --out`; the objects the load reads are
    /// copied to a temporary folder first).
    #[arg(long, default_value = "./affinity-data")]
    from: String,
    /// Endpoint of an S3-compatible store (MinIO, R2, moto) for an s3:// --from; path-style.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    s3_endpoint: Option<String>,
    /// The DuckDB database file (created if missing).
    #[arg(long, default_value = "./affinity.duckdb")]
    db: PathBuf,
}

#[derive(Args)]
pub struct LoadPostgresArgs {
    /// What `sync` wrote: a directory, `s3://bucket/prefix`, `az://container/prefix` or
    /// `gs://bucket/prefix` (credentials as for `sync --out`).
    #[arg(long, default_value = "./affinity-data")]
    from: String,
    /// Endpoint of an S3-compatible store (MinIO, R2, moto) for an s3:// --from; path-style.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    s3_endpoint: Option<String>,
    /// The database: `postgres://user:password@host:5432/database`. Prefer the environment
    /// variable, which keeps the password off the command line.
    #[arg(long, env = "AFFINITY_SYNC_POSTGRES_DSN", hide_env_values = true)]
    dsn: String,
    /// The schema the tables go in (created if missing).
    #[arg(long, default_value = "affinity")]
    schema: String,
}

pub async fn run(into: LoadInto) -> Result<()> {
    match into {
        LoadInto::Duckdb(args) => duckdb(args).await,
        LoadInto::Postgres(args) => postgres(args).await,
    }
}

/// What a command that needs DuckDB says in a build without it.
#[cfg(not(feature = "duckdb"))]
pub fn without_duckdb() -> anyhow::Error {
    anyhow::anyhow!(
        "this affinity-sync was built without DuckDB (--no-default-features): build it with the default features for `load duckdb` and `query`"
    )
}

#[cfg(not(feature = "duckdb"))]
async fn duckdb(_: LoadDuckdbArgs) -> Result<()> {
    Err(without_duckdb())
}

#[cfg(feature = "duckdb")]
async fn duckdb(args: LoadDuckdbArgs) -> Result<()> {
    let loaded = if ops::store::is_remote(&args.from) {
        let store = open_from(&args.from, args.s3_endpoint.as_deref()).await?;
        let dir = std::env::temp_dir().join(format!(
            "affinity-sync-load-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let staged =
            crate::with_sink!(&store, s => ops::duckdb_stage::stage(s, &args.from, &dir).await);
        let loaded = staged.and_then(|s| {
            println!(
                "read {} objects ({:.1} MB) from {}",
                s.objects,
                s.bytes as f64 / 1e6,
                args.from
            );
            ops::duckdb_load::load(&dir, &args.db)
        });
        std::fs::remove_dir_all(&dir).ok();
        loaded?
    } else if args.from.contains("://") {
        anyhow::bail!(
            "--from {}: only {} is supported",
            args.from,
            ops::store::SUPPORTED
        )
    } else {
        ops::duckdb_load::load(std::path::Path::new(&args.from), &args.db)?
    };
    for (table, rows) in &loaded.tables {
        println!("{table:<28} {rows:>9} rows");
    }
    println!("views: {}", loaded.views.join(", "));
    print_changes(&loaded.changes);
    println!("loaded sync {} into {}", loaded.sync_id, args.db.display());
    Ok(())
}

async fn postgres(args: LoadPostgresArgs) -> Result<()> {
    if !args.from.contains("://") && !std::path::Path::new(&args.from).is_dir() {
        anyhow::bail!(
            "--from {}: no such directory; run `affinity-sync sync --out {}` first",
            args.from,
            args.from
        );
    }
    let store = open_from(&args.from, args.s3_endpoint.as_deref()).await?;
    let loaded = crate::with_sink!(&store, s => {
        ops::postgres_load::load(s, &args.from, &args.dsn, &args.schema).await
    })?;
    for (table, rows) in &loaded.tables {
        println!("{table:<28} {rows:>9} rows");
    }
    print_changes(&loaded.changes);
    println!(
        "loaded sync {} into {} (schema {})",
        loaded.sync_id,
        ops::postgres_load::describe(&args.dsn),
        args.schema
    );
    Ok(())
}

/// The store `--from` names, opened to read: objects of any server-side encryption read back
/// the same, so none is asked for.
async fn open_from(from: &str, s3_endpoint: Option<&str>) -> Result<Store> {
    Store::open("--from", from, s3_endpoint, &WriteEncryption::default()).await
}

/// The webhook changes a load applied on top of the sync, if any.
fn print_changes(c: &ops::change_sql::Applied) {
    if c.events > 0 {
        println!(
            "webhook changes: {} events; {} records upserted and {} deleted since the sync started",
            c.events, c.upserted, c.deleted
        );
    }
}
