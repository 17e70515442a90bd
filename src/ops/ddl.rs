//! `affinity-sync ddl`: the statements that create every table and load one complete sync's
//! Parquet batches into it, for the warehouse you use. Printed, not run: the warehouses are
//! yours (`load duckdb` runs the DuckDB form itself).
//!
//! Each load reads `<location>/<table>/sync_id=<sync>/*.parquet` and replaces the table's
//! rows in one statement or one transaction, so readers never see half a load. The batches'
//! Parquet types are plain (INT64, DOUBLE, BOOLEAN, UTF8, TIMESTAMP in microseconds UTC,
//! LIST of UTF8 or INT64); JSON columns are UTF8 text, parsed into the warehouse's JSON type
//! on the way in.

use super::change_sql;
use affinity_sync_core::catalog::STREAMS;
use affinity_sync_core::changes;
use affinity_sync_core::table::{Table, Ty};
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Snowflake's reserved and limited keywords (its SQL reference, "Reserved & limited
/// keywords"): a name that is one of them is quoted.
const SNOWFLAKE_RESERVED: &[&str] = &[
    "ACCOUNT",
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "AS",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CHECK",
    "COLUMN",
    "CONNECT",
    "CONNECTION",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "DATABASE",
    "DELETE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "EXISTS",
    "FALSE",
    "FOLLOWING",
    "FOR",
    "FROM",
    "FULL",
    "GRANT",
    "GROUP",
    "GSCLUSTER",
    "HAVING",
    "ILIKE",
    "IN",
    "INCREMENT",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "ISSUE",
    "JOIN",
    "LATERAL",
    "LEFT",
    "LIKE",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "MINUS",
    "NATURAL",
    "NOT",
    "NULL",
    "OF",
    "ON",
    "OR",
    "ORDER",
    "ORGANIZATION",
    "QUALIFY",
    "REGEXP",
    "REVOKE",
    "RIGHT",
    "RLIKE",
    "ROW",
    "ROWS",
    "SAMPLE",
    "SCHEMA",
    "SELECT",
    "SET",
    "SOME",
    "START",
    "TABLE",
    "TABLESAMPLE",
    "THEN",
    "TO",
    "TRIGGER",
    "TRUE",
    "TRY_CAST",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHENEVER",
    "WHERE",
    "WITH",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    Snowflake,
    Bigquery,
    Redshift,
    Databricks,
    Duckdb,
    Postgres,
}

impl Dialect {
    /// The column type of `ty`.
    pub fn type_of(self, ty: Ty) -> &'static str {
        use Dialect::*;
        match (self, ty) {
            (Bigquery, Ty::Int64) => "INT64",
            (Snowflake, Ty::Int64) => "NUMBER(19,0)",
            (_, Ty::Int64) => "BIGINT",
            (Bigquery, Ty::Float64) => "FLOAT64",
            (Redshift | Postgres, Ty::Float64) => "DOUBLE PRECISION",
            (Snowflake, Ty::Float64) => "FLOAT",
            (_, Ty::Float64) => "DOUBLE",
            (Bigquery | Databricks, Ty::Utf8) => "STRING",
            (Redshift, Ty::Utf8) => "VARCHAR(65535)",
            (Postgres, Ty::Utf8) => "TEXT",
            (_, Ty::Utf8) => "VARCHAR",
            (Bigquery, Ty::Bool) => "BOOL",
            (_, Ty::Bool) => "BOOLEAN",
            (Snowflake, Ty::Timestamp) => "TIMESTAMP_TZ",
            (Bigquery | Databricks, Ty::Timestamp) => "TIMESTAMP",
            (_, Ty::Timestamp) => "TIMESTAMPTZ",
            (Snowflake, Ty::Json) => "VARIANT",
            (Bigquery | Duckdb, Ty::Json) => "JSON",
            (Redshift, Ty::Json) => "SUPER",
            (Databricks, Ty::Json) => "VARIANT",
            (Postgres, Ty::Json) => "JSONB",
            (Snowflake, Ty::Utf8List | Ty::Int64List) => "ARRAY",
            (Bigquery, Ty::Utf8List) => "ARRAY<STRING>",
            (Bigquery, Ty::Int64List) => "ARRAY<INT64>",
            (Redshift, Ty::Utf8List | Ty::Int64List) => "SUPER",
            (Databricks, Ty::Utf8List) => "ARRAY<STRING>",
            (Databricks, Ty::Int64List) => "ARRAY<BIGINT>",
            (Duckdb, Ty::Utf8List) => "VARCHAR[]",
            (Duckdb, Ty::Int64List) => "BIGINT[]",
            (Postgres, Ty::Utf8List) => "TEXT[]",
            (Postgres, Ty::Int64List) => "BIGINT[]",
        }
    }

    /// A table or column name as the dialect writes it, so that the user can type it back
    /// unquoted in any case. Snowflake folds unquoted names to upper case, so its tables and
    /// columns are created upper-case (`select first_name from persons` resolves
    /// `PERSONS.FIRST_NAME`), quoted only where a name needs it (a reserved word). The
    /// others fold to lower case (PostgreSQL, Redshift, which folds quoted names too unless
    /// `enable_case_sensitive_identifier` is on) or resolve names case-insensitively
    /// (DuckDB, BigQuery's and Databricks' columns), so the catalog's lower-case names,
    /// quoted, are already what an unquoted reference finds.
    pub(crate) fn quote(self, name: &str) -> String {
        match self {
            Dialect::Bigquery | Dialect::Databricks => format!("`{name}`"),
            Dialect::Snowflake => {
                let upper = name.to_ascii_uppercase();
                let plain = upper.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
                    && upper
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if plain && !SNOWFLAKE_RESERVED.contains(&upper.as_str()) {
                    upper
                } else {
                    format!("\"{}\"", upper.replace('"', "\"\""))
                }
            }
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// How a column of a Parquet batch reads into the table's type: `source` is the
    /// expression of the raw value.
    pub(crate) fn read(self, ty: Ty, source: &str) -> String {
        match (self, ty) {
            (Dialect::Snowflake, Ty::Json) => format!("TRY_PARSE_JSON({source}::VARCHAR)"),
            (Dialect::Snowflake, t) => format!("{source}::{}", self.type_of(t)),
            // `round`: a number wider than a float64 is kept, rounded, where the default would
            // fail the query (and `SAFE.` would drop the whole value).
            (Dialect::Bigquery, Ty::Json) => {
                format!("PARSE_JSON({source}, wide_number_mode => 'round')")
            }
            (Dialect::Redshift, Ty::Json) => format!("JSON_PARSE({source})"),
            (Dialect::Databricks, Ty::Json) => format!("try_parse_json({source})"),
            (Dialect::Duckdb, Ty::Json) => format!("CAST({source} AS JSON)"),
            _ => source.to_string(),
        }
    }
}

/// The columns of a Redshift table that `COPY … FORMAT AS PARQUET SERIALIZETOJSON` fills with
/// `t`'s batches: JSON columns as the text they are in Parquet (parsed when read), lists as
/// SUPER.
pub(crate) fn redshift_parquet_columns(t: &Table) -> String {
    let d = Dialect::Redshift;
    t.columns
        .iter()
        .map(|c| {
            let ty = match c.ty {
                Ty::Json => "VARCHAR(65535)",
                other => d.type_of(other),
            };
            format!("{} {ty}", d.quote(c.name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tables `ddl` covers: every catalog table, then the change tables.
fn tables() -> Vec<&'static Table> {
    let mut out: Vec<&'static Table> = STREAMS.iter().flat_map(|s| s.tables.iter()).collect();
    out.extend(changes::tables());
    out
}

/// `CREATE TABLE IF NOT EXISTS` of `t` under `name` (already quoted or qualified).
pub(crate) fn create(d: Dialect, t: &Table, name: &str) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("  {} {}", d.quote(c.name), d.type_of(c.ty)))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (\n{}\n);\n",
        cols.join(",\n")
    )
}

/// What `affinity-sync ddl` was asked for.
pub struct Request<'a> {
    pub dialect: Dialect,
    /// Where the warehouse reads the batches (default: `from`'s absolute path).
    pub location: Option<&'a str>,
    /// A local output of `sync`: its latest complete sync is the default, and tables without
    /// batches in it are only created.
    pub from: Option<&'a Path>,
    pub sync_id: Option<&'a str>,
}

/// The statements for a request: the sync to load and where, then `render`.
pub fn for_request(args: Request) -> Result<String> {
    let latest = args.from.and_then(|f| super::plan::complete_syncs(f).pop());
    if let Some(m) = latest.as_ref().filter(|m| m.format != "parquet") {
        anyhow::bail!(
            "sync {} is {}; the warehouse statements load Parquet: sync with --format parquet",
            m.sync_id,
            m.format
        );
    }
    let sync_id = match (args.sync_id, &latest) {
        (Some(id), _) => id.to_string(),
        (None, Some(m)) => m.sync_id.clone(),
        (None, None) => anyhow::bail!(
            "no sync to load: pass --sync-id, or --from DIR to take the latest complete sync there"
        ),
    };
    if !affinity_sync_core::job::valid_sync_id(&sync_id) {
        anyhow::bail!("--sync-id {sync_id:?} is not a sync id (e.g. 20261124T065900Z-ab12)");
    }
    // An incremental sync's batches hold only what changed: loading them alone would replace
    // each table with its changed rows.
    if let Some(from) = args.from {
        let history = super::plan::complete_syncs(from);
        if let Some(m) = history.iter().find(|m| m.sync_id == sync_id) {
            let partial: Vec<&str> = m
                .streams
                .iter()
                .filter(|s| s.since.is_some())
                .map(|s| s.stream.as_str())
                .collect();
            if !partial.is_empty() {
                let full = history
                    .iter()
                    .rev()
                    .find(|h| h.streams.iter().all(|s| s.since.is_none()))
                    .map(|h| format!(" (the latest full one here: --sync-id {})", h.sync_id))
                    .unwrap_or_default();
                anyhow::bail!(
                    "sync {sync_id} read {} incrementally: its batches hold only what changed, and \
                     loading them alone would replace those tables with the changed rows. Load a \
                     full sync{full}, or use `ddl --views` (or `load duckdb`), which put the full \
                     and incremental syncs together",
                    partial.join(", ")
                );
            }
        }
    }
    let location = match (args.location, args.from) {
        (Some(l), _) => l.to_string(),
        (None, Some(from)) => std::fs::canonicalize(from)
            .with_context(|| format!("--from {}", from.display()))?
            .display()
            .to_string(),
        (None, None) => anyhow::bail!("pass --location (e.g. s3://bucket/prefix) or --from DIR"),
    };
    let from = args.from;
    // Webhook changes: from the sync's manifest when --from has it, else the sync id's time.
    let started_at = from
        .and_then(|f| {
            super::plan::complete_syncs(f)
                .into_iter()
                .find(|m| m.sync_id == sync_id)
        })
        .map(|m| m.started_at)
        .or_else(|| started_at_of(&sync_id));
    // Which change batches there are: looked up in --from, or in a local --location; in a
    // bucket, the change records (NDJSON) and refreshed rows in Parquet are assumed.
    let local_changes = from
        .map(Path::to_path_buf)
        .or_else(|| {
            let p = PathBuf::from(&location);
            (!location.contains("://") && p.is_dir()).then_some(p)
        })
        .map(|root| root.join("changes"));
    let has = |dir: &str, ext: &str| match &local_changes {
        Some(root) => super::plan::has_batches(&root.join(dir), ext),
        None => {
            matches!((dir, ext), ("events" | "tombstones", "ndjson.gz"))
                || (!matches!(dir, "events" | "tombstones") && ext == "parquet")
        }
    };
    let changes = started_at.map(|sync_started_at| ChangeBatches {
        sync_started_at,
        has: &has,
    });
    Ok(render(
        args.dialect,
        &location,
        &sync_id,
        |table| {
            from.is_none_or(|from| {
                let dir = from.join(table).join(format!("sync_id={sync_id}"));
                super::plan::has_batches(&dir, ".parquet")
            })
        },
        changes.as_ref(),
    ))
}

/// The statements for `dialect`: `location` is where the batches are (`s3://bucket/prefix`,
/// `gs://…`, a local path for DuckDB), `sync_id` the complete sync to load, `with_batches`
/// whether a table has any batch in it (a load of no files fails in most engines, so a table
/// without one is only created).
pub fn render(
    dialect: Dialect,
    location: &str,
    sync_id: &str,
    with_batches: impl Fn(&str) -> bool,
    changes: Option<&ChangeBatches>,
) -> String {
    let location = location.trim_end_matches('/');
    let d = dialect;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- affinity-sync ddl --dialect {} : sync {sync_id} from {location}\n\
         -- Every table is created if missing and its rows replaced by the sync's, atomically.\n\
         -- Then the webhook changes received since the sync are applied (DuckDB, Snowflake;\n\
         -- other engines: the MERGE in docs/changes.md; PostgreSQL: load postgres).\n",
        format!("{dialect:?}").to_lowercase()
    );
    match d {
        Dialect::Snowflake => {
            let _ = writeln!(
                out,
                "CREATE STAGE IF NOT EXISTS affinity_stage URL = '{location}/'\n  \
                 STORAGE_INTEGRATION = affinity_integration  -- yours: CREATE STORAGE INTEGRATION\n  \
                 FILE_FORMAT = (TYPE = PARQUET);\n"
            );
        }
        Dialect::Bigquery => {
            let _ = writeln!(
                out,
                "CREATE SCHEMA IF NOT EXISTS affinity;\n\
                 -- For s3:// and azure:// locations, add WITH CONNECTION `project.region.connection` (BigQuery Omni) to each external table.\n"
            );
        }
        Dialect::Redshift => {
            let _ = writeln!(
                out,
                "-- Replace the IAM role with one that can read {location}/.\n"
            );
        }
        _ => {}
    }
    for t in tables() {
        let is_change = changes::tables().iter().any(|c| c.name == t.name);
        let name = match d {
            Dialect::Bigquery => format!("affinity.{}", t.name),
            _ => d.quote(t.name),
        };
        out.push_str(&create(d, t, &name));
        let dir = if is_change {
            let kind = if t.name == changes::CHANGE_EVENTS.name {
                "events"
            } else {
                "tombstones"
            };
            format!("{location}/changes/{kind}")
        } else {
            format!("{location}/{}/sync_id={sync_id}", t.name)
        };
        if is_change {
            // NDJSON batches, loaded by `load duckdb` and the MERGE in docs/changes.md.
            out.push_str("-- (change records: NDJSON, see docs/changes.md)\n\n");
            continue;
        }
        if !with_batches(t.name) {
            out.push_str("-- (no batches in this sync: created empty)\n\n");
            continue;
        }
        let select = |source: &dyn Fn(&str) -> String| -> String {
            t.columns
                .iter()
                .map(|c| format!("{} AS {}", d.read(c.ty, &source(c.name)), d.quote(c.name)))
                .collect::<Vec<_>>()
                .join(",\n    ")
        };
        let load = match d {
            Dialect::Duckdb => format!(
                "BEGIN;\nDELETE FROM {name};\nINSERT INTO {name}\n  SELECT\n    {}\n  FROM read_parquet('{dir}/*.parquet');\nCOMMIT;\n",
                select(&|c| d.quote(c))
            ),
            Dialect::Snowflake => format!(
                "BEGIN;\nDELETE FROM {name};\nCOPY INTO {name}\n  FROM (SELECT\n    {}\n  FROM @affinity_stage/{}/sync_id={sync_id}/)\n  PATTERN = '.*[.]parquet';\nCOMMIT;\n",
                select(&|c| format!("$1:\"{c}\"")),
                t.name
            ),
            Dialect::Bigquery => format!(
                "CREATE OR REPLACE EXTERNAL TABLE affinity._batches_{t} OPTIONS (\n  format = 'PARQUET', enable_list_inference = TRUE,\n  uris = ['{dir}/*.parquet']);\nCREATE OR REPLACE TABLE {name} AS\n  SELECT\n    {}\n  FROM affinity._batches_{t};\nDROP EXTERNAL TABLE affinity._batches_{t};\n",
                select(&|c| format!("`{c}`")),
                t = t.name
            ),
            Dialect::Redshift => {
                let staging = redshift_parquet_columns(t);
                format!(
                    "BEGIN;\nCREATE TEMP TABLE _batches ({});\nCOPY _batches FROM '{dir}/'\n  IAM_ROLE 'arn:aws:iam::ACCOUNT:role/affinity-sync-read'\n  FORMAT AS PARQUET SERIALIZETOJSON;\nDELETE FROM {name};\nINSERT INTO {name}\n  SELECT\n    {}\n  FROM _batches;\nDROP TABLE _batches;\nCOMMIT;\n",
                    staging,
                    select(&|c| d.quote(c))
                )
            }
            Dialect::Databricks => format!(
                "CREATE OR REPLACE TABLE {name} AS\n  SELECT\n    {}\n  FROM parquet.`{dir}/`;\n",
                select(&|c| format!("`{c}`"))
            ),
            Dialect::Postgres => {
                "-- PostgreSQL cannot read Parquet: `affinity-sync load postgres` loads it.\n"
                    .to_string()
            }
        };
        out.push_str(&load);
        out.push('\n');
    }
    match changes {
        Some(c) => out.push_str(&changes_block(d, location, c)),
        None => out.push_str(
            "-- Webhook changes: not applied (pass --from DIR, or a --sync-id that starts with its start time)\n",
        ),
    }
    out
}

/// The webhook changes under `<location>/changes/` that `ddl` applies after the load.
pub struct ChangeBatches<'a> {
    /// When the sync started (RFC 3339): changes from before it (less a clock-skew margin)
    /// are in the sync already.
    pub sync_started_at: String,
    /// Whether `changes/<dir>/` holds batches ending in `ext` (`parquet`, `ndjson.gz`).
    pub has: &'a dyn Fn(&str, &str) -> bool,
}

/// The start time a sync id begins with (`20261124T065900Z-…`), as RFC 3339.
pub fn started_at_of(sync_id: &str) -> Option<String> {
    let t = sync_id.get(..16)?;
    let digits =
        |r: std::ops::Range<usize>| t.get(r).filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    if t.as_bytes()[8] != b'T' || t.as_bytes()[15] != b'Z' {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}:{}:{}Z",
        digits(0..4)?,
        digits(4..6)?,
        digits(6..8)?,
        digits(9..11)?,
        digits(11..13)?,
        digits(13..15)?
    ))
}

/// Applying the change batches: the same steps as `load duckdb` (`change_sql`), after loading
/// the change records, tombstones and refreshed rows the engine's way.
fn changes_block(d: Dialect, location: &str, c: &ChangeBatches) -> String {
    let every_table = |_: &str| true;
    let root = format!("{location}/changes");
    let steps = |out: &mut String, steps: &[(String, String)]| {
        for (what, sql) in steps {
            let _ = writeln!(out, "-- {what}\n{sql}");
        }
    };
    let mut out = format!(
        "-- Webhook changes received since the sync ({root}/), applied per record by event time.\n"
    );
    match d {
        Dialect::Duckdb => {
            let script = match super::duckdb_sql::change_script(
                &root,
                &c.sync_started_at,
                c.has,
                &every_table,
            ) {
                Ok(s) => s,
                Err(e) => return format!("-- Webhook changes: not applied ({e})\n"),
            };
            out.push_str("BEGIN;\n");
            steps(&mut out, &script.load);
            steps(&mut out, &script.stage);
            steps(&mut out, &script.apply);
            out.push_str("COMMIT;\n");
        }
        Dialect::Snowflake => {
            let order = match change_sql::order(d, &every_table, &c.sync_started_at) {
                Ok(s) => s,
                Err(e) => return format!("-- Webhook changes: not applied ({e})\n"),
            };
            // Snowflake commits around DDL (the temporary tables), so this runs as a script,
            // not one transaction: readers may see the changes arrive table by table.
            let copy = |t: &Table, dir: &str, into: &str, ext: &str| {
                let (pattern, format) = match ext {
                    "parquet" => (".*[.]parquet", ""),
                    _ => (".*[.]ndjson[.]gz", " FILE_FORMAT = (TYPE = JSON)"),
                };
                let cols: Vec<String> = t
                    .columns
                    .iter()
                    .map(|col| {
                        let raw = format!("$1:\"{}\"", col.name);
                        let read = match (ext, col.ty) {
                            // NDJSON holds JSON columns as JSON already.
                            ("ndjson.gz", Ty::Json) => raw,
                            _ => d.read(col.ty, &raw),
                        };
                        format!("{read} AS {}", d.quote(col.name))
                    })
                    .collect();
                format!(
                    "COPY INTO {into}\n  FROM (SELECT\n    {}\n  FROM @affinity_stage/changes/{dir}/)\n  PATTERN = '{pattern}'{format};\n",
                    cols.join(",\n    ")
                )
            };
            for (t, dir) in [
                (&changes::CHANGE_EVENTS, "events"),
                (&changes::TOMBSTONES, "tombstones"),
            ] {
                let name = d.quote(t.name);
                out.push_str(&format!("DELETE FROM {name};\n"));
                out.push_str(&copy(t, dir, &name, "ndjson.gz"));
            }
            for t in change_sql::refreshed_tables(&every_table) {
                let up = d.quote(&change_sql::up_table(t.name));
                let _ = writeln!(
                    out,
                    "CREATE OR REPLACE TEMPORARY TABLE {up} LIKE {};",
                    d.quote(t.name)
                );
                for ext in ["parquet", "ndjson.gz"] {
                    if (c.has)(t.name, ext) {
                        out.push_str(&copy(t, t.name, &up, ext));
                    }
                }
            }
            let _ = writeln!(out, "-- ordering the changes\n{order}");
            steps(&mut out, &change_sql::apply(d, &every_table));
        }
        Dialect::Postgres => out.push_str(
            "-- `affinity-sync load postgres` applies them (PostgreSQL cannot read the batches).\n",
        ),
        _ => out.push_str("-- Apply them with the MERGE in docs/changes.md.\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_id_says_when_the_sync_started() {
        assert_eq!(
            started_at_of("20261124T065900Z-ab12").as_deref(),
            Some("2026-11-24T06:59:00Z")
        );
        assert_eq!(started_at_of("nightly-sync"), None);
        assert_eq!(started_at_of("2026112XT065900Z-ab12"), None);
    }

    #[test]
    fn every_table_is_created_and_loaded_in_every_dialect() {
        for d in [
            Dialect::Snowflake,
            Dialect::Bigquery,
            Dialect::Redshift,
            Dialect::Databricks,
            Dialect::Duckdb,
            Dialect::Postgres,
        ] {
            let has = |dir: &str, ext: &str| ext == "parquet" || dir == "events";
            let changes = ChangeBatches {
                sync_started_at: started_at_of("20261124T000000Z-ab12").unwrap(),
                has: &has,
            };
            let sql = render(
                d,
                "s3://bucket/affinity/",
                "20261124T000000Z-ab12",
                |t| t != "saved_views",
                Some(&changes),
            );
            for t in tables() {
                assert!(
                    sql.contains(&format!(
                        "CREATE TABLE IF NOT EXISTS {}",
                        match d {
                            Dialect::Bigquery => format!("affinity.{}", t.name),
                            _ => d.quote(t.name),
                        }
                    )),
                    "{d:?} creates {}",
                    t.name
                );
            }
            let persons = "s3://bucket/affinity/persons/sync_id=20261124T000000Z-ab12";
            match d {
                Dialect::Snowflake => {
                    assert!(sql.contains("@affinity_stage/persons/sync_id=20261124T000000Z-ab12/"));
                    // The change batches: records from NDJSON, refreshed rows from Parquet,
                    // then the shared steps with the upper-case names.
                    assert!(sql.contains("COPY INTO CHANGE_EVENTS\n  FROM (SELECT"));
                    assert!(sql.contains("FROM @affinity_stage/changes/events/)\n  PATTERN = '.*[.]ndjson[.]gz' FILE_FORMAT = (TYPE = JSON);"));
                    assert!(
                        sql.contains("CREATE OR REPLACE TEMPORARY TABLE _UP_PERSONS LIKE PERSONS;")
                    );
                    assert!(sql.contains(
                        "FROM @affinity_stage/changes/persons/)\n  PATTERN = '.*[.]parquet';"
                    ));
                    assert!(
                        !sql.contains(
                            "@affinity_stage/changes/persons/)\n  PATTERN = '.*[.]ndjson"
                        )
                    );
                    assert!(
                        sql.contains("CAST('2026-11-23T23:50:00Z' AS TIMESTAMPTZ)"),
                        "{sql}"
                    );
                    assert!(
                        sql.contains("DELETE FROM PERSONS WHERE ID IN (SELECT ID FROM _LATEST")
                    );
                    assert!(sql.contains("TRY_PARSE_JSON($1:\"value_json\"::VARCHAR)"));
                    assert!(sql.contains("  ID NUMBER(19,0)"));
                    assert!(sql.contains("FIRST_NAME"));
                }
                Dialect::Bigquery => {
                    assert!(sql.contains(&format!("uris = ['{persons}/*.parquet']")));
                    assert!(sql.contains("`value_ids` ARRAY<INT64>"));
                    assert!(sql.contains("PARSE_JSON(`value_json`, wide_number_mode => 'round')"));
                }
                Dialect::Redshift => {
                    assert!(sql.contains(&format!("COPY _batches FROM '{persons}/'")));
                    assert!(sql.contains("FORMAT AS PARQUET SERIALIZETOJSON"));
                    assert!(sql.contains("\"value_json\" SUPER"));
                }
                Dialect::Databricks => {
                    assert!(sql.contains(&format!("FROM parquet.`{persons}/`")));
                    assert!(sql.contains("try_parse_json(`value_json`)"));
                }
                Dialect::Duckdb => {
                    assert!(sql.contains(&format!("read_parquet('{persons}/*.parquet')")));
                    assert!(sql.contains(
                        "FROM read_parquet('s3://bucket/affinity/changes/persons/*.parquet')"
                    ));
                    assert!(
                        sql.contains("read_json('s3://bucket/affinity/changes/events/*.ndjson.gz'")
                    );
                }
                Dialect::Postgres => {
                    assert!(sql.contains("\"value_json\" JSONB"));
                    assert!(sql.contains("\"value_datetime\" TIMESTAMPTZ"));
                    assert!(!sql.contains("read_parquet"));
                }
            }
            if !matches!(d, Dialect::Duckdb | Dialect::Snowflake) {
                assert!(
                    !sql.contains("_latest"),
                    "{d:?} points to docs/changes.md or load postgres"
                );
            }
            // A table without batches is created, not loaded.
            assert!(!sql.contains("saved_views/sync_id="), "{d:?}");
        }
    }

    /// The name Snowflake gives an identifier as written: quoted names keep their case,
    /// unquoted ones fold to upper case.
    fn snowflake_resolves(written: &str) -> String {
        match written.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => written.to_ascii_uppercase(),
        }
    }

    #[test]
    fn snowflake_tables_and_columns_resolve_when_typed_unquoted_in_any_case() {
        let sql = render(
            Dialect::Snowflake,
            "s3://b/p",
            "20261124T000000Z-ab12",
            |_| true,
            None,
        );
        for t in tables() {
            let head = "CREATE TABLE IF NOT EXISTS ";
            let at = sql
                .find(&format!("{head}{} (", Dialect::Snowflake.quote(t.name)))
                .unwrap_or_else(|| panic!("{} is created", t.name));
            let block = &sql[at..at + sql[at..].find(");").unwrap()];
            let created = block[head.len()..block.find(" (").unwrap()].to_string();
            // `select first_name from persons`, and the same typed in capitals.
            for typed in [t.name.to_string(), t.name.to_ascii_uppercase()] {
                assert_eq!(snowflake_resolves(&created), snowflake_resolves(&typed));
            }
            for (line, c) in block.lines().skip(1).zip(t.columns) {
                let written = line.trim().split(' ').next().unwrap();
                assert_eq!(
                    snowflake_resolves(written),
                    snowflake_resolves(c.name),
                    "{line}"
                );
            }
        }
        // A reserved word is quoted (upper case, so an unquoted reference in a context that
        // allows it still resolves).
        assert_eq!(Dialect::Snowflake.quote("order"), "\"ORDER\"");
        assert_eq!(Dialect::Snowflake.quote("first_name"), "FIRST_NAME");
        assert_eq!(Dialect::Snowflake.quote("odd name"), "\"ODD NAME\"");
        // The Parquet columns stay the catalog's lower-case names.
        assert!(sql.contains("$1:\"first_name\"::VARCHAR AS FIRST_NAME"));
    }
}
