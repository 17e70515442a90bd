//! `affinity-sync sync`: a full (or incremental) sync into `--out`, after checking that the
//! monthly quota can pay for it.

use super::args::{RunArgs, Target};
use crate::ops;
use crate::ops::store::Store;
use anyhow::{Context, Result};
use clap::Args;

#[derive(Args)]
pub struct SyncArgs {
    #[command(flatten)]
    target: Target,
    /// Batch format: parquet or ndjson (gzip).
    #[arg(long, default_value = "parquet")]
    format: String,
    /// Start even when the plan needs more requests than the monthly quota has left.
    #[arg(long)]
    ignore_quota: bool,
    /// Read notes (and their replies) and interactions only since the latest complete sync
    /// in --out that had them; `load duckdb` adds them to that sync's rows. Other streams,
    /// which Affinity cannot filter by change time, are read in full.
    #[arg(long)]
    incremental: bool,
    #[command(flatten)]
    run: RunArgs,
}

pub async fn run(args: SyncArgs) -> Result<()> {
    let Target {
        connection,
        streams,
        output,
    } = &args.target;
    let format = affinity_sync_core::Format::parse(&args.format)
        .with_context(|| format!("--format must be parquet or ndjson, got {:?}", args.format))?;
    let streams = streams.select()?;
    affinity_sync_core::Config::new(&connection.base_url, "", format)
        .map_err(|e| anyhow::anyhow!("--base-url: {e}"))?;
    let key = connection.key()?;
    let options = args.run.options(connection, key.clone())?;
    let store = output.open().await?;
    // The bill first: refuse a sync the monthly quota cannot pay for.
    let plan = connection
        .plan(&key, &streams, store.latest_complete().await?, false)
        .await?;
    let (need, left) = (plan.total(), plan.quota.monthly_remaining);
    let at_least = if plan.exact() { "" } else { "at least " };
    if need > left && !args.ignore_quota {
        anyhow::bail!(
            "this sync needs {at_least}{need} requests but only {left} of the monthly quota of {} remain \
             (it resets in {:.1} days); run `affinity-sync plan` for the breakdown, sync fewer --streams, \
             or pass --ignore-quota to start anyway",
            plan.quota.monthly_limit,
            plan.quota.monthly_reset_secs as f64 / 86_400.0
        );
    }
    if !args.run.quiet {
        eprintln!(
            "plan: {at_least}{need} requests; {left} of {} monthly requests left",
            plan.quota.monthly_limit
        );
    }
    let start = ops::sync::Start::New {
        streams,
        format,
        incremental: args.incremental,
        quota: Some(plan.quota.seen()),
    };
    let out = &output.out;
    let report = run_on(store, options, start, args.run.quiet, out).await?;
    finish(report, out)
}

/// Runs a sync or resume on whichever store `--out` named.
pub(super) async fn run_on(
    store: Store,
    options: ops::sync::Options,
    start: ops::sync::Start,
    quiet: bool,
    out: &str,
) -> Result<ops::sync::Report> {
    async fn go<S: affinity_sync_io::ObjectSink + 'static>(
        sink: S,
        options: ops::sync::Options,
        start: ops::sync::Start,
        quiet: bool,
        out: &str,
    ) -> Result<ops::sync::Report> {
        if !quiet && matches!(start, ops::sync::Start::New { .. }) {
            for id in ops::sync::unfinished(&sink).await? {
                eprintln!(
                    "note: sync {id} in {out} stopped before it was complete; \
                     `affinity-sync resume --out {out} --sync-id {id}` finishes it"
                );
            }
        }
        ops::sync::run(options, sink, start).await
    }
    crate::with_sink!(store, s => go(s, options, start, quiet, out).await)
}

/// Prints the summary; a sync with parked pages is an error that says how to finish it.
pub(super) fn finish(report: ops::sync::Report, out: &str) -> Result<()> {
    println!("{}", report.table());
    if !report.failed.is_empty() {
        anyhow::bail!(
            "sync {id} is incomplete: {} page(s) failed and are parked in {out}/_jobs/sync_id={id}/failed/; \
             fix the cause and run `affinity-sync resume --out {out} --sync-id {id}`",
            report.failed.len(),
            id = report.sync_id,
        );
    }
    println!("batches in {out}");
    Ok(())
}
