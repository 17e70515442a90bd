//! `affinity-sync status [SYNC_ID]`: the syncs in a store and what to do about them, for a
//! person (a table) or a monitoring script (`--json`, and the exit status).

use super::Exit;
use super::args::Output;
use crate::ops;
use crate::ops::status::{Options, Report};
use crate::ops::store::{Store, WriteEncryption};
use affinity_sync_io::s3_encryption::Encryption;
use affinity_sync_io::sink::LocalDir;
use anyhow::Result;
use clap::Args;
use std::path::Path;

#[derive(Args)]
pub struct StatusArgs {
    /// One sync in detail: per stream, each parked page and why, and the command that
    /// finishes it (default: the latest syncs, newest first).
    sync_id: Option<String>,
    /// The store the syncs wrote (their --out).
    #[command(flatten)]
    output: Output,
    /// Print the report as JSON (docs/status.md describes every field).
    #[arg(long)]
    json: bool,
    /// How many syncs to list, newest first.
    #[arg(long, default_value_t = 10)]
    last: usize,
    /// Minutes without a write after which a sync with pending pages counts as stopped
    /// rather than running (a page waits at most 15 minutes before a retry on the queue homes).
    #[arg(long, default_value_t = 20)]
    stalled_after: i64,
    /// Print docs/status.md (the --json object's fields) and exit.
    #[arg(long, hide = true)]
    doc: bool,
}

/// `--out` and the options a command needs to reach the same store again.
fn store_args(output: &Output) -> String {
    let mut args = format!("--out {}", output.out);
    if let Some(endpoint) = &output.s3_endpoint {
        args.push_str(&format!(" --s3-endpoint {endpoint}"));
    }
    if let Some(key) = output
        .gcs_kms_key
        .as_deref()
        .filter(|_| output.out.starts_with("gs://"))
    {
        args.push_str(&format!(" --gcs-kms-key {key}"));
    }
    if let Some(scope) = output
        .azure_encryption_scope
        .as_deref()
        .filter(|_| output.out.starts_with("az://"))
    {
        args.push_str(&format!(" --azure-encryption-scope {scope}"));
    }
    if output.out.starts_with("s3://") {
        match &output.s3_sse {
            Encryption::S3 => {}
            Encryption::Kms { key_id: None } => args.push_str(" --s3-sse kms"),
            Encryption::Kms { key_id: Some(k) } => args.push_str(&format!(" --s3-sse kms:{k}")),
            Encryption::None => args.push_str(" --s3-sse none"),
        }
    }
    args
}

/// Every error is exit status 2: the state could not be read, which a monitoring script must
/// tell apart from a sync that stopped (1).
fn bad(error: anyhow::Error) -> anyhow::Error {
    Exit {
        code: 2,
        error: Some(error),
    }
    .into()
}

pub async fn run(args: StatusArgs) -> Result<()> {
    if args.doc {
        print!("{}", ops::status_doc::markdown());
        return Ok(());
    }
    let options = Options {
        sync_id: args.sync_id.clone(),
        last: args.last,
        stalled_after_secs: args.stalled_after * 60,
        store_args: store_args(&args.output),
        store: args.output.out.clone(),
        now: affinity_sync_io::now_unix(),
    };
    let out = &args.output.out;
    let report: Report = if out.contains("://") {
        // Read only: no encryption is asked for.
        let store = Store::open(
            "--out",
            out,
            args.output.s3_endpoint.as_deref(),
            &WriteEncryption::default(),
        )
        .await
        .map_err(bad)?;
        crate::with_sink!(&store, s => ops::status::report(s, &options).await)
    } else {
        let sink = LocalDir::existing(Path::new(out)).map_err(bad)?;
        ops::status::report(&sink, &options).await
    }
    .map_err(bad)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report json")
        );
    } else {
        println!("{}", ops::status::render(&report, args.sync_id.is_some()));
    }
    match ops::status::exit_code(&report) {
        0 => Ok(()),
        code => Err(Exit { code, error: None }.into()),
    }
}
