//! Applying webhook changes on top of a sync `load duckdb` has just put in place (inside the
//! same transaction), so DuckDB shows the current state: `duckdb_sql::change_script` reads the
//! change batches into DuckDB, `change_sql` says what to do with them.
//!
//! `change_events` and `tombstones` are loaded as tables too.

use super::change_sql::{self, Applied};
use super::duckdb_load::table_exists as exists;
use super::duckdb_sql::change_script;
use super::plan::has_batches;
use anyhow::{Context, Result};
use duckdb::Connection;
use std::path::Path;

/// Applies `from/changes/` to the tables just loaded from the sync that started at
/// `sync_started_at` (RFC 3339). Does nothing when there are no changes.
pub fn apply(conn: &Connection, from: &Path, sync_started_at: &str) -> Result<Applied> {
    let root = from.join("changes");
    let has = |dir: &str, ext: &str| has_batches(&root.join(dir), ext);
    let loaded = |t: &str| exists(conn, t).unwrap_or(false);
    let script = change_script(&root.display().to_string(), sync_started_at, &has, &loaded)?;
    let run = |steps: &[(String, String)]| -> Result<()> {
        for (what, sql) in steps {
            conn.execute_batch(sql).with_context(|| what.clone())?;
        }
        Ok(())
    };
    run(&script.load)?;
    let mut applied = Applied {
        events: conn.query_row("SELECT count(*) FROM change_events", [], |r| r.get(0))?,
        ..Applied::default()
    };
    if !root.is_dir() {
        return Ok(applied);
    }
    run(&script.stage)?;
    applied.upserted = conn.query_row(change_sql::COUNT_UPSERTS, [], |r| r.get(0))?;
    applied.deleted = conn.query_row(change_sql::COUNT_DELETES, [], |r| r.get(0))?;
    run(&script.apply)?;
    Ok(applied)
}
