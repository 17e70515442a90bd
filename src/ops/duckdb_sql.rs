//! DuckDB SQL text, with no DuckDB linked: how `load duckdb` reads batches, and the script
//! that applies webhook changes, which `load duckdb` runs and `ddl --dialect duckdb` prints.

use super::change_sql::{self, quote_ident, quote_str, up_table};
use super::ddl::Dialect;
use affinity_sync_core::changes::{CHANGE_EVENTS, TOMBSTONES};
use affinity_sync_core::table::{Table, Ty};
use anyhow::Result;

/// A table's DuckDB type for a column (JSON is kept as its text).
pub fn duckdb_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Int64 => "BIGINT",
        Ty::Float64 => "DOUBLE",
        Ty::Utf8 | Ty::Json => "VARCHAR",
        Ty::Bool => "BOOLEAN",
        Ty::Timestamp => "TIMESTAMPTZ",
        Ty::Utf8List => "VARCHAR[]",
        Ty::Int64List => "BIGINT[]",
    }
}

/// A `SELECT` of `table`'s columns, typed as declared, from the batches matching `glob`
/// (`ext`: `parquet` or `ndjson.gz`); with an empty `ext`, no rows.
pub fn read_select(t: &Table, glob: &str, ext: &str) -> String {
    let names: Vec<String> = t.columns.iter().map(|c| quote_ident(c.name)).collect();
    match ext {
        "parquet" => format!(
            "SELECT {} FROM read_parquet({})",
            names.join(", "),
            quote_str(glob)
        ),
        "ndjson.gz" => {
            let select: Vec<String> = t
                .columns
                .iter()
                .map(|c| match c.ty {
                    Ty::Json => format!("CAST({0} AS VARCHAR) AS {0}", quote_ident(c.name)),
                    _ => quote_ident(c.name),
                })
                .collect();
            format!(
                "SELECT {} FROM read_json({}, format = 'newline_delimited', compression = 'gzip', columns = {{{}}})",
                select.join(", "),
                quote_str(glob),
                ndjson_columns(t)
            )
        }
        _ => {
            let typed: Vec<String> = t
                .columns
                .iter()
                .map(|c| {
                    format!(
                        "CAST(NULL AS {}) AS {}",
                        duckdb_type(c.ty),
                        quote_ident(c.name)
                    )
                })
                .collect();
            format!("SELECT {} WHERE false", typed.join(", "))
        }
    }
}

/// The `columns = {…}` of `read_json` for `t`'s NDJSON batches: a JSON column is read as
/// JSON, then kept as its text (read as VARCHAR, a JSON string value would lose its quotes and
/// read differently from Parquet).
pub fn ndjson_columns(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| {
            let ty = match c.ty {
                Ty::Json => "JSON",
                other => duckdb_type(other),
            };
            format!("{}: {}", quote_str(c.name), quote_str(ty))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SELECT` of every batch of `t` in the folder `dir` (Parquet and NDJSON alike: `has(ext)`
/// says which there are), or an empty table of the right columns when there are none.
pub fn select_all(t: &Table, dir: &str, has: &dyn Fn(&str) -> bool) -> String {
    let mut parts = vec![];
    for ext in ["parquet", "ndjson.gz"] {
        if has(ext) {
            parts.push(read_select(t, &format!("{dir}/*.{ext}"), ext));
        }
    }
    if parts.is_empty() {
        parts.push(read_select(t, "", ""));
    }
    parts.join(" UNION ALL BY NAME ")
}

/// The steps that apply the webhook changes under `root` (a `changes/` folder), each as (what
/// it does, statements), in order.
pub struct ChangeScript {
    /// `change_events` and `tombstones`, replaced.
    pub load: Vec<(String, String)>,
    /// The refreshed rows, as `_up_<table>`, then `_latest` (`change_sql::order`).
    pub stage: Vec<(String, String)>,
    /// `change_sql::apply`.
    pub apply: Vec<(String, String)>,
}

/// The change script for the sync that started at `sync_started_at`: `has(dir, ext)` says
/// whether `root/<dir>/` holds batches ending in `ext`, `loaded(table)` whether the table
/// was loaded.
pub fn change_script(
    root: &str,
    sync_started_at: &str,
    has: &dyn Fn(&str, &str) -> bool,
    loaded: &dyn Fn(&str) -> bool,
) -> Result<ChangeScript> {
    let load = [(&CHANGE_EVENTS, "events"), (&TOMBSTONES, "tombstones")]
        .into_iter()
        .map(|(t, dir)| {
            (
                format!("loading {}", t.name),
                format!(
                    "CREATE OR REPLACE TABLE {} AS SELECT DISTINCT * FROM ({});",
                    quote_ident(t.name),
                    select_all(t, &format!("{root}/{dir}"), &|ext| has(dir, ext))
                ),
            )
        })
        .collect();
    let mut stage: Vec<(String, String)> = change_sql::refreshed_tables(loaded)
        .into_iter()
        .map(|t| {
            (
                format!("reading the refreshed rows of {}", t.name),
                format!(
                    "CREATE OR REPLACE TEMP TABLE {} AS {};",
                    quote_ident(&up_table(t.name)),
                    select_all(t, &format!("{root}/{}", t.name), &|ext| has(t.name, ext))
                ),
            )
        })
        .collect();
    stage.push((
        "ordering the changes".into(),
        change_sql::order(Dialect::Duckdb, loaded, sync_started_at)?,
    ));
    Ok(ChangeScript {
        load,
        stage,
        apply: change_sql::apply(Dialect::Duckdb, loaded),
    })
}
