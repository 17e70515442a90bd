//! `affinity-sync demo`: the newcomer's first command.
//!
//! It starts the Affinity test double in-process on a free port, runs a full sync of every
//! default stream into a local directory exactly as `affinity-sync sync` would against
//! Affinity, and checks the records of each stream against the double's ground truth.

use crate::ops;
use affinity_mock::{Dataset, MockConfig, MockServer, Sizes};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Records each stream must hold, from the ground truth.
fn expected(ds: &Dataset, stream: &str) -> Option<u64> {
    use affinity_mock::model::EntityKind;
    let n = match stream {
        "persons" => ds.persons.len(),
        "companies" => ds.companies.len(),
        "opportunities" => ds.opportunities.len(),
        "person_fields" | "company_fields" => {
            let kind = if stream == "person_fields" {
                EntityKind::Person
            } else {
                EntityKind::Company
            };
            ds.fields
                .iter()
                .filter(|f| f.entity == kind && f.list_id.is_none())
                .count()
        }
        "lists" => ds.lists.len(),
        "list_entries" => ds.list_entries.len(),
        "list_fields" => ds
            .lists
            .iter()
            .map(|l| {
                ds.fields
                    .iter()
                    .filter(|f| {
                        f.entity == l.entity && (f.list_id.is_none() || f.list_id == Some(l.id))
                    })
                    .count()
            })
            .sum(),
        "saved_views" => ds.saved_views.len(),
        "saved_view_entries" => ds
            .saved_views
            .iter()
            .map(|v| {
                ds.list_entries
                    .iter()
                    .filter(|e| e.list_id == v.list_id && v.shows(e))
                    .count()
            })
            .sum(),
        "notes" => ds.notes.iter().filter(|n| n.parent_id().is_none()).count(),
        "note_replies" => ds.notes.iter().filter(|n| n.parent_id().is_some()).count(),
        "reminders" => ds.reminders.len(),
        "entity_files" => ds.entity_files.len(),
        "webhook_subscriptions" => ds.webhook_subscriptions.len(),
        "fields" => ds.fields.iter().filter(|f| f.in_v1()).count(),
        _ => return None,
    };
    Some(n as u64)
}

/// The question the demo answers at the end: which companies are on the most lists?
#[cfg(feature = "duckdb")]
const SAMPLE_QUERY: &str = "SELECT c.name AS company, count(*) AS lists, max(c.domain) AS domain \
     FROM list_entries e JOIN companies c ON e.type = 'company' AND c.id = e.entity_id \
     GROUP BY c.name ORDER BY lists DESC, company LIMIT 5";

pub async fn run(seed: u64, sizes: Sizes, out: PathBuf) -> Result<()> {
    let config = MockConfig {
        seed,
        sizes,
        ..MockConfig::default()
    };
    let key = ops::api_key::ApiKey::new(config.api_key.clone())?;
    let server = MockServer::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .context("starting the Affinity test double")?;
    println!(
        "Affinity test double on {} (seed {seed}); syncing into {}",
        server.base_url(),
        out.display()
    );
    let options = ops::sync::Options {
        base_url: server.base_url(),
        key,
        key_source: "the demo's built-in test double".into(),
        concurrency: 4,
        max_retries: 3,
        progress: true,
        inject: ops::sync::Inject::default(),
        job_secret: None,
        metrics: None,
    };
    let start = ops::sync::Start::New {
        streams: ops::sync::select_streams(None)?,
        format: affinity_sync_core::Format::Parquet,
        incremental: false,
        quota: None,
    };
    let report = ops::sync::run(
        options,
        affinity_sync_io::sink::LocalDir::open(&out)?,
        start,
    )
    .await?;
    println!("{}\n", report.table());
    if !report.failed.is_empty() {
        bail!("the demo sync is incomplete");
    }

    let ds = server.dataset();
    let mut bad = 0;
    for (stream, totals) in &report.streams {
        let Some(want) = expected(&ds, stream) else {
            continue;
        };
        let ok = totals.records == want;
        if !ok {
            bad += 1;
        }
        println!(
            "{stream:<24} {:>7} records, ground truth {want:>7}  {}",
            totals.records,
            if ok { "ok" } else { "MISMATCH" }
        );
    }
    let stats = server.stats();
    println!(
        "\n{} requests to the double; batches and manifests in {}",
        stats.requests,
        out.display()
    );
    if bad > 0 {
        bail!("{bad} streams differ from the ground truth");
    }

    load_and_query(&out)
}

#[cfg(not(feature = "duckdb"))]
fn load_and_query(_: &Path) -> Result<()> {
    bail!(
        "this affinity-sync was built without DuckDB (--no-default-features): the demo ends with a DuckDB query"
    )
}

#[cfg(feature = "duckdb")]
fn load_and_query(out: &Path) -> Result<()> {
    let db = out.join("affinity.duckdb");
    let loaded = ops::duckdb_load::load(out, &db)?;
    println!(
        "\nLoaded sync {} into {} ({} tables; views {}).",
        loaded.sync_id,
        db.display(),
        loaded.tables.len(),
        loaded.views.join(", ")
    );
    println!("\n{SAMPLE_QUERY}\n");
    println!("{}", ops::duckdb_load::query(&db, SAMPLE_QUERY)?);
    println!(
        "\nTry: cargo run -- query --db {} \"SELECT * FROM persons_wide LIMIT 5\"",
        db.display()
    );
    println!(
        "Or look at it all in a browser: cargo run -- show --from {} --open",
        out.display()
    );
    Ok(())
}
