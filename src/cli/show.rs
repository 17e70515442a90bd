//! `affinity-sync show`: a local web page over a store's syncs and the DuckDB database
//! loaded from it (`crate::ops::show`).

use anyhow::Result;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
pub struct ShowArgs {
    /// The store the syncs wrote (their --out): a directory, `s3://bucket/prefix`,
    /// `az://container/prefix` or `gs://bucket/prefix` (credentials as for `sync --out`).
    #[arg(long, default_value = "./affinity-data")]
    from: String,
    /// Endpoint of an S3-compatible store (MinIO, R2, moto) for an s3:// --from; path-style.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    s3_endpoint: Option<String>,
    /// The DuckDB database `load duckdb` made, opened read-only (default: affinity.duckdb in
    /// --from, then ./affinity.duckdb, when there; without one the page shows the syncs only).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Address to listen on. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// A token every request must carry (open the page once with ?token=…): required when
    /// --listen is not a loopback address.
    #[arg(long, env = "AFFINITY_SYNC_SHOW_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Open the page in the default browser.
    #[arg(long)]
    open: bool,
}

/// Bad input: one line, exit status 2.
#[cfg(feature = "duckdb")]
fn bad(error: anyhow::Error) -> anyhow::Error {
    super::Exit {
        code: 2,
        error: Some(error),
    }
    .into()
}

#[cfg(not(feature = "duckdb"))]
pub async fn run(_: ShowArgs) -> Result<()> {
    Err(super::load::without_duckdb())
}

#[cfg(feature = "duckdb")]
pub async fn run(args: ShowArgs) -> Result<()> {
    use crate::ops::show::{self, db::Db, snapshot};
    use crate::ops::store::{Store, WriteEncryption};
    use std::io::Write;
    use std::path::Path;

    if !args.listen.ip().is_loopback() && args.token.is_none() {
        return Err(bad(anyhow::anyhow!(
            "--listen {} is not a loopback address: anyone who reaches it would read your data; \
             set --token (or AFFINITY_SYNC_SHOW_TOKEN), or listen on 127.0.0.1",
            args.listen
        )));
    }
    let local = !args.from.contains("://");
    if local && !Path::new(&args.from).is_dir() {
        return Err(bad(anyhow::anyhow!(
            "--from {}: no such directory: pass the --out of your syncs (the demo's is ./affinity-demo)",
            args.from
        )));
    }
    let store = Store::open(
        "--from",
        &args.from,
        args.s3_endpoint.as_deref(),
        &WriteEncryption::default(),
    )
    .await
    .map_err(bad)?;
    let mut store_args = format!("--out {}", args.from);
    if let Some(e) = &args.s3_endpoint {
        store_args.push_str(&format!(" --s3-endpoint {e}"));
    }
    let first = snapshot::take(&store, &args.from, &store_args)
        .await
        .map_err(bad)?;
    if first.report.syncs.is_empty() {
        return Err(bad(anyhow::anyhow!(
            "--from {}: no syncs there (nothing under _manifests/ or _jobs/): run `affinity-sync sync --out {}` first",
            args.from,
            args.from
        )));
    }
    let db = match &args.db {
        Some(path) => Some(Db::at(path).map_err(bad)?),
        None => [
            Path::new(&args.from).join("affinity.duckdb"),
            PathBuf::from("affinity.duckdb"),
        ]
        .into_iter()
        .filter(|_| local)
        .find(|p| p.is_file())
        .map(|p| Db { path: p }),
    };
    let listener = show::bind(args.listen).await.map_err(bad)?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}/");
    let shown = match &args.token {
        Some(_) => format!("{url}?token=<your token>"),
        None => url.clone(),
    };
    println!(
        "showing {} on {shown} (database: {}); Ctrl-C stops",
        args.from,
        db.as_ref()
            .map(|d| d.path.display().to_string())
            .unwrap_or_else(|| "none: pass --db to see tables and data".into())
    );
    let _ = std::io::stdout().flush();
    if args.open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let target = match &args.token {
            Some(t) => format!("{url}?token={t}"),
            None => url.clone(),
        };
        if std::process::Command::new(opener)
            .arg(&target)
            .spawn()
            .is_err()
        {
            println!("(could not start {opener}: open {shown} yourself)");
        }
    }
    let options = show::Options {
        label: args.from.clone(),
        store_args,
        db,
        token: args.token.clone(),
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    show::serve(listener, store, options, stop).await
}
