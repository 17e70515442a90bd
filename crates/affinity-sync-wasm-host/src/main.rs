//! `affinity-sync-wasm-host`: the affinity-sync component on wasmtime without Spin.
//!
//! - `serve --component F [--listen ADDR] [--env K=V]...`: serves it like `wasmtime serve`,
//!   passing this process's `AFFINITY_*` and `AWS_*` variables (and any `--env`) to it; one
//!   log line per request with its time.
//! - `measure --component F`: file size, compile, precompiled load and instantiate times.

use affinity_sync_wasm_host::{ComponentHost, load_precompiled, precompile};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Engine;

#[derive(Parser)]
#[command(
    version,
    about = "Runs the affinity-sync WebAssembly component on wasmtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the component over HTTP until Ctrl-C.
    Serve {
        /// The component (`scripts/component.sh` writes `target/wasm32-wasip2/wasm/affinity-sync.wasm`).
        #[arg(long)]
        component: PathBuf,
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// More environment for the component, KEY=VALUE.
        #[arg(long = "env")]
        env: Vec<String>,
    },
    /// Print size, compile, precompiled-load and instantiate times (medians).
    Measure {
        #[arg(long)]
        component: PathBuf,
        /// Instantiations to time.
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Serve {
            component,
            listen,
            env,
        } => {
            let mut vars: Vec<(String, String)> = std::env::vars()
                .filter(|(k, _)| k.starts_with("AFFINITY_") || k.starts_with("AWS_"))
                .collect();
            for pair in env {
                let Some((k, v)) = pair.split_once('=') else {
                    bail!("--env {pair:?}: use KEY=VALUE");
                };
                vars.push((k.to_string(), v.to_string()));
            }
            let vars: Vec<(&str, &str)> =
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let host = Arc::new(ComponentHost::load(&component, &vars)?);
            let address = host.clone().serve(listen).await?;
            eprintln!("serving {} on http://{address}", component.display());
            let mut seen = 0;
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                let timings = host.timings();
                for (route, status, took) in &timings[seen..] {
                    eprintln!("{route} {status} {} ms", ms(*took));
                }
                seen = timings.len();
            }
        }
        Command::Measure { component, runs } => {
            let size = std::fs::metadata(&component)
                .with_context(|| format!("reading {}", component.display()))?
                .len();
            let engine = Engine::default();
            let began = Instant::now();
            let compiled = precompile(&engine, &component)?;
            let compile = began.elapsed();
            let began = Instant::now();
            let loaded = load_precompiled(&engine, &compiled)?;
            let load = began.elapsed();
            let host = ComponentHost::new(&engine, &loaded, &[])?;
            // A request the component answers without I/O (404): instantiate + one call.
            let mut times = vec![];
            for _ in 0..runs {
                let began = Instant::now();
                let answer = host.call("GET", "/", &[], b"").await;
                times.push(began.elapsed());
                anyhow::ensure!(answer.status == 404, "unexpected answer {answer:?}");
            }
            println!("component_bytes {size}");
            println!("compile_ms {}", ms(compile));
            println!("precompiled_bytes {}", compiled.len());
            println!("load_precompiled_ms {}", ms(load));
            println!("instantiate_and_call_ms {}", ms(median(times)));
            Ok(())
        }
    }
}
