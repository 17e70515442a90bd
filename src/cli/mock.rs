//! `affinity-sync mock`: serves the Affinity test double (API v1 and v2) until Ctrl-C.

use super::args::{DataArgs, FaultArgs, LimitArgs};
use affinity_mock::{MockConfig, MockServer};
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;

#[derive(Args)]
pub struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 18080)]
    port: u16,
    /// The API key the double accepts.
    #[arg(long, default_value = "test-key")]
    api_key: String,
    /// Base URL of v2 nextUrls (default: http:// + the request's Host header).
    #[arg(long)]
    public_url: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    faults: FaultArgs,
}

pub async fn run(args: MockArgs) -> Result<()> {
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| {
            format!(
                "--host {:?} --port {} is not a socket address",
                args.host, args.port
            )
        })?;
    let config = MockConfig {
        api_key: args.api_key.clone(),
        seed: args.data.seed,
        sizes: args.data.sizes(),
        limits: args.limits.limits(),
        faults: args.faults.plan()?,
        public_url: args.public_url.clone(),
    };
    let server = MockServer::start(config, addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: is the port in use? Try --port 0"))?;
    let ds = server.dataset();
    let url = server.base_url();
    // The banner is best-effort: a closed stdout (`mock | head -1`) must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = (|| -> std::io::Result<()> {
        writeln!(out, "Affinity test double listening on {url}")?;
        writeln!(
            out,
            "  API key:  {} (the double's own test key)",
            args.api_key
        )?;
        writeln!(
            out,
            "  data:     seed {}: {} persons, {} companies, {} opportunities, {} lists, {} list entries, {} notes, {} interactions",
            ds.seed,
            ds.persons.len(),
            ds.companies.len(),
            ds.opportunities.len(),
            ds.lists.len(),
            ds.list_entries.len(),
            ds.notes.len(),
            ds.interactions.len()
        )?;
        writeln!(
            out,
            "  try:      curl -u :{} '{url}/persons?page_size=2'",
            args.api_key
        )?;
        writeln!(
            out,
            "            curl -H 'Authorization: Bearer {}' '{url}/v2/persons?limit=2&fieldTypes=enriched'",
            args.api_key
        )?;
        writeln!(
            out,
            "  truth:    curl {url}/__truth   stats: curl {url}/__stats"
        )?;
        writeln!(out, "Ctrl-C stops it.")?;
        out.flush()
    })();
    drop(out);
    server.run_until_ctrl_c().await;
    Ok(())
}
