//! Applying webhook changes on top of a sync `load duckdb` has just put in place (inside the
//! same transaction), so DuckDB shows the current state: this module reads the change
//! batches into DuckDB, `change_sql` says what to do with them.
//!
//! `change_events` and `tombstones` are loaded as tables too.

use super::change_sql::{self, Applied, up_table};
use super::ddl::Dialect;
use super::duckdb_load::{quote_ident, read_select, table_exists as exists};
use super::plan::has_batches;
use affinity_sync::changes::{CHANGE_EVENTS, TOMBSTONES};
use affinity_sync::table::Table;
use anyhow::{Context, Result};
use duckdb::Connection;
use std::path::Path;

/// `SELECT` of every batch of `table` in `dir` (Parquet and NDJSON alike), or an empty
/// table of the right columns when there are none.
fn select_all(t: &Table, dir: &Path) -> String {
    let mut parts = vec![];
    for ext in ["parquet", "ndjson.gz"] {
        if has_batches(dir, ext) {
            parts.push(read_select(t, &format!("{}/*.{ext}", dir.display()), ext));
        }
    }
    if parts.is_empty() {
        parts.push(read_select(t, "", ""));
    }
    parts.join(" UNION ALL BY NAME ")
}

/// Applies `from/changes/` to the tables just loaded from the sync that started at
/// `sync_started_at` (RFC 3339). Does nothing when there are no changes.
pub fn apply(conn: &Connection, from: &Path, sync_started_at: &str) -> Result<Applied> {
    let root = from.join("changes");
    let mut applied = Applied::default();
    for t in [&CHANGE_EVENTS, &TOMBSTONES] {
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TABLE {} AS SELECT DISTINCT * FROM ({})",
            quote_ident(t.name),
            select_all(
                t,
                &root.join(if t.name == "change_events" {
                    "events"
                } else {
                    "tombstones"
                })
            )
        ))
        .with_context(|| format!("loading {}", t.name))?;
    }
    applied.events = conn.query_row("SELECT count(*) FROM change_events", [], |r| r.get(0))?;
    if !root.is_dir() {
        return Ok(applied);
    }
    let loaded = |t: &str| exists(conn, t).unwrap_or(false);
    for t in change_sql::refreshed_tables(&loaded) {
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE {} AS {}",
            quote_ident(&up_table(t.name)),
            select_all(t, &root.join(t.name))
        ))
        .with_context(|| format!("reading the refreshed rows of {}", t.name))?;
    }
    conn.execute_batch(&change_sql::order(&loaded, sync_started_at)?)
        .context("ordering the changes")?;
    applied.upserted = conn.query_row(change_sql::COUNT_UPSERTS, [], |r| r.get(0))?;
    applied.deleted = conn.query_row(change_sql::COUNT_DELETES, [], |r| r.get(0))?;
    for (what, sql) in change_sql::apply(Dialect::Duckdb, &loaded) {
        conn.execute_batch(&sql).context(what)?;
    }
    Ok(applied)
}
