//! The `affinity-sync` command line: the list of commands, logging, and dispatch. Each
//! command lives in `src/cli/<command>.rs` (its arguments and its `run`); what they do is in
//! `src/ops/`.

mod cli;
mod ops;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

// The system allocator, on purpose. mimalloc turns a page into batches faster in the core
// benchmark, but a whole sync held over three times the memory with it (peak RSS 125-137 MB
// against 38-39 MB for the benchmark's data set) and ran no measurably faster end to end:
// the page step is a small part of a sync's time (bench/RESULTS.md).

#[derive(Parser)]
#[command(
    name = "affinity-sync",
    version,
    about = "Affinity CRM to object storage, one page per step"
)]
struct Cli {
    /// Log lines as text, or as JSON objects with a metric line per page and per completed
    /// sync (CloudWatch Embedded Metric Format, the same lines Lambda writes).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: cli::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sync Affinity into a directory of Parquet or NDJSON batches.
    Sync(cli::sync::SyncArgs),
    /// Finish a sync that stopped (a crash, a parked page, a spent quota): runs its unfinished
    /// and parked pages, then marks it complete.
    Resume(cli::resume::ResumeArgs),
    /// Show the syncs in a store: complete, running or stopped, what each brought and
    /// cost, its parked pages and what to run to finish it; webhook changes waiting. Exit
    /// status 0 when the latest sync is complete or running, 1 when it stopped or has
    /// parked pages, 2 for bad input.
    Status(cli::status::StatusArgs),
    /// Print what a sync of the selected streams will cost against the rate limits.
    Plan(cli::plan::PlanArgs),
    /// Load the latest complete sync of a directory into a database.
    #[command(subcommand)]
    Load(cli::load::LoadInto),
    /// Run SQL on the DuckDB database made by `load duckdb` and print the result.
    Query(cli::query::QueryArgs),
    /// Print every stream and the columns of its tables (Markdown).
    Schema,
    /// Print the statements that create every table and load a complete sync's Parquet
    /// batches into it, for Snowflake, BigQuery, Redshift, Databricks, DuckDB or PostgreSQL.
    Ddl(cli::ddl::DdlArgs),
    /// Serve the Affinity test double (API v1 and v2) until Ctrl-C.
    Mock(cli::mock::MockArgs),
    /// Carry a queue's jobs to an HTTP page step (the WebAssembly component under `spin up`
    /// or `wasmtime serve`): receive each SQS message, POST it, delete it when done.
    Worker(cli::worker::WorkerArgs),
    /// Receive Affinity webhooks: record each event, write tombstones for deletes and fetch
    /// created and updated records again (POST /webhook?token=SECRET; GET /health).
    Serve(cli::serve::ServeArgs),
    /// Manage Affinity's webhook subscriptions (at most three per account).
    #[command(subcommand)]
    Webhooks(cli::webhooks::WebhooksAction),
    /// A local web page over a store and its DuckDB database: the latest sync, the history
    /// of syncs, tables, a read-only SQL box, field coverage and webhook changes.
    Show(cli::show::ShowArgs),
    /// Start the test double in-process, walk every endpoint to its last page and compare
    /// what was served with the double's ground truth.
    Demo(cli::demo::DemoArgs),
}

fn main() {
    let cli = Cli::parse();
    // A command that prints its result, piped into a reader that stops early (`ddl … | head`),
    // ends quietly as other command-line tools do, instead of panicking on the failed print.
    // Only those: the servers and syncs keep Rust's default (a closed connection is an error
    // to handle, not a signal that ends the process).
    #[cfg(unix)]
    if matches!(
        cli.command,
        Command::Status(_)
            | Command::Plan(_)
            | Command::Query(_)
            | Command::Ddl(_)
            | Command::Schema
    ) {
        // SAFETY: restores a signal's default disposition before any other thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("AFFINITY_SYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        cli::LogFormat::Text => logs.init(),
        cli::LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    cli::set_log_format(cli.log_format);
    if let Err(e) = run(cli.command) {
        match e.downcast::<cli::Exit>() {
            Ok(exit) => {
                if let Some(error) = exit.error {
                    eprintln!("error: {error:#}");
                }
                std::process::exit(exit.code);
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
        }
    }
}

fn run(command: Command) -> Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        match command {
            Command::Sync(args) => cli::sync::run(args).await,
            Command::Resume(args) => cli::resume::run(args).await,
            Command::Status(args) => cli::status::run(args).await,
            Command::Plan(args) => cli::plan::run(args).await,
            Command::Load(into) => cli::load::run(into).await,
            Command::Query(args) => cli::query::run(args).await,
            Command::Schema => cli::schema::run().await,
            Command::Ddl(args) => cli::ddl::run(args).await,
            Command::Mock(args) => cli::mock::run(args).await,
            Command::Worker(args) => cli::worker::run(args).await,
            Command::Serve(args) => cli::serve::run(args).await,
            Command::Webhooks(action) => cli::webhooks::run(action).await,
            Command::Demo(args) => cli::demo::run(args).await,
            Command::Show(args) => cli::show::run(args).await,
        }
    })
}
