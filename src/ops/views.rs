//! `affinity-sync ddl --views`: views that make a warehouse read the bucket itself and always
//! show the current state, so a scheduled deployment needs no SQL per sync.
//!
//! The views compute, as `SELECT`s over the files, what `load duckdb` builds with statements
//! (`duckdb_load` and `change_sql`):
//!
//! 1. **Complete syncs only.** `_affinity_syncs` reads every `_manifests/*/sync.json`: a sync
//!    still running or stopped has none, so its batches are never visible.
//! 2. **Per stream, the chain of syncs** (`_affinity_chain`): the latest complete sync that
//!    read the stream in full, then every later complete sync that read it incrementally.
//! 3. **Per table** (`_affinity_<table>__synced`): the rows of the chain's syncs, the latest
//!    sync winning per primary key (the full sync's rows as they are; an incremental sync's
//!    record read twice counts once), as `load duckdb` upserts.
//! 4. **Webhook changes** on top, the steps of `change_sql` each as one `SELECT` over the
//!    step before it: `_affinity_latest` picks the winning change per record; then upserts
//!    and deletes (`__changed`), list entries following their entity (`__followed`), deleted
//!    records taking their list entries (`__cascaded`), field renames and deletions
//!    (`__renamed`).
//! 5. **The table's view** under its own name, with the catalog's columns in order. It
//!    carries the steps it needs as common table expressions (not views of their own), so
//!    one query reads each file once where the engine materializes them (DuckDB).
//! 6. **The wide views** on top ([`render_wide`], written by `wide`), when the fields are
//!    known from a local copy of the store.
//!
//! Only the readers of step 1 and of the raw files are the dialect's own ([`Reader`]); the
//! rest is plain SQL (joins, `UNION ALL`, window functions) with the dialect's names and types.
//! A deletion is an anti-join (`LEFT JOIN … WHERE d.id IS NULL`), not `NOT IN`, which every
//! engine supports and which keeps a row whose key is NULL, as `DELETE … WHERE key IN` does.
//!
//! Views over Parquet syncs: a sync in NDJSON is not read (`sync --format parquet`).
//! tests/views.rs runs DuckDB's on DuckDB, Snowflake's on fakesnow, Databricks' on Spark,
//! BigQuery's and Redshift's on DuckDB as sqlglot translates them, and compares every view
//! with `load duckdb`.

use super::change_sql::{FIELD_NAMES, KINDS, quoted, up_table};
use super::ddl::Dialect;
use super::location::{Cloud, cloud_of};
#[cfg(feature = "duckdb")]
use super::wide::{self, WideView};
use affinity_sync_core::catalog::STREAMS;
use affinity_sync_core::changes::{CHANGE_EVENTS, TOMBSTONES};
use affinity_sync_core::table::{Table, Ty};
use anyhow::{Result, bail};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

/// The prefix of the helper views, which users do not query.
const HELPER: &str = "_affinity_";

/// How a dialect reads the bucket: the manifests of complete syncs and the raw batches.
struct Reader {
    dialect: Dialect,
    location: String,
    /// Statements that must run before the views: Snowflake's and BigQuery's external tables,
    /// Redshift's tables and the copy jobs that fill them, one per folder read.
    files: std::cell::RefCell<Vec<String>>,
    /// The folders (relative to the location) known to hold files, where the dialect fails a
    /// query on a folder without any (BigQuery); `None`: every folder is read.
    present: Option<BTreeSet<String>>,
    /// The folders read as no rows, having no files (BigQuery).
    missing: std::cell::RefCell<Vec<String>>,
}

/// The Snowflake stage `ddl` creates over the location.
const STAGE: &str = "affinity_stage";

/// The Snowflake notification integration that tells external tables on Azure and Google
/// Cloud of new files (Event Grid, Pub/Sub).
const NOTIFICATIONS: &str = "AFFINITY_NOTIFICATIONS";

impl Reader {
    /// `SELECT sync_id, started_at, stream, since` of every stream of every complete sync in
    /// Parquet: `started_at` a timestamp, `since` text (NULL for a full read).
    fn sync_streams(&self) -> String {
        let loc = &self.location;
        match self.dialect {
            Dialect::Duckdb => format!(
                "SELECT m.sync_id, CAST(m.started_at AS TIMESTAMPTZ) AS started_at, \
                   s.stream AS stream, s.since AS since \
                 FROM (SELECT sync_id, started_at, format, unnest(streams) AS s FROM ( \
                   SELECT * FROM read_json('{loc}/_manifests/*/sync.json', allow_empty = true, \
                     columns = {{sync_id: 'VARCHAR', format: 'VARCHAR', started_at: 'VARCHAR', \
                       streams: 'STRUCT(stream VARCHAR, since VARCHAR)[]'}}) \
                   UNION ALL BY NAME SELECT CAST(NULL AS VARCHAR) AS sync_id, \
                     CAST(NULL AS VARCHAR) AS format, CAST(NULL AS VARCHAR) AS started_at, \
                     CAST(NULL AS STRUCT(stream VARCHAR, since VARCHAR)[]) AS streams WHERE false)) m \
                 WHERE m.format = 'parquet'"
            ),
            // Spark reads each manifest whole (`binaryFile`): `json` reads a line at a time, and
            // sync.json is pretty-printed.
            Dialect::Databricks => format!(
                "SELECT j.sync_id AS \"sync_id\", CAST(j.started_at AS TIMESTAMP) AS \"started_at\", \
                   s.stream AS \"stream\", s.since AS \"since\" \
                 FROM (SELECT from_json(CAST(content AS STRING), \
                   'sync_id STRING, format STRING, started_at STRING, \
                    streams ARRAY<STRUCT<stream: STRING, since: STRING>>') AS j \
                   FROM binaryFile.`{loc}/_manifests/*/sync.json`) m \
                 LATERAL VIEW explode(j.streams) e AS s \
                 WHERE j.format = 'parquet'"
            ),
            // JSON paths in brackets: `change_sql::quoted` leaves string literals as written.
            Dialect::Snowflake => {
                let files = self.external("_manifests", ".*/sync[.]json", "JSON");
                format!(
                    "SELECT m.VALUE['sync_id']::VARCHAR AS \"sync_id\", \
                       m.VALUE['started_at']::TIMESTAMP_TZ AS \"started_at\", \
                       s.VALUE['stream']::VARCHAR AS \"stream\", s.VALUE['since']::VARCHAR AS \"since\" \
                     FROM {files} m, LATERAL FLATTEN(input => m.VALUE['streams']) s \
                     WHERE m.VALUE['format']::VARCHAR = 'parquet'"
                )
            }
            // JSON external tables read one object a line: sync.json is written on one.
            Dialect::Bigquery => {
                let files = self.bigquery_external(
                    "_manifests",
                    "*/sync.json",
                    "format = 'NEWLINE_DELIMITED_JSON', ignore_unknown_values = TRUE",
                    Some(
                        "sync_id STRING, format STRING, started_at STRING, \
                         streams ARRAY<STRUCT<stream STRING, since STRING>>",
                    ),
                );
                format!(
                    "SELECT m.sync_id AS \"sync_id\", CAST(m.started_at AS TIMESTAMP) AS \"started_at\", \
                       s.stream AS \"stream\", s.since AS \"since\" \
                     FROM {files} m CROSS JOIN UNNEST(m.streams) s \
                     WHERE m.format = 'parquet'"
                )
            }
            // Each manifest is one SUPER document; the chains' manifests in the same folder
            // have no `streams` to unnest.
            Dialect::Redshift => {
                let files =
                    self.redshift_copy("_manifests", "\"doc\" SUPER", "FORMAT JSON 'noshred'");
                format!(
                    "SELECT m.doc.sync_id::VARCHAR AS \"sync_id\", \
                       CAST(m.doc.started_at::VARCHAR AS TIMESTAMPTZ) AS \"started_at\", \
                       s.stream::VARCHAR AS \"stream\", s.since::VARCHAR AS \"since\" \
                     FROM {files} m, m.doc.streams AS s \
                     WHERE m.doc.\"format\"::VARCHAR = 'parquet'"
                )
            }
            _ => unreachable!("checked by `render`"),
        }
    }

    /// Whether the folder `dir` is read: it holds files, or the dialect reads an empty
    /// folder as no rows.
    fn has(&self, dir: &str) -> bool {
        self.present.as_ref().is_none_or(|p| p.contains(dir))
    }

    /// BigQuery: the external table over the objects `<location>/<dir>/<pattern>` (one
    /// wildcard, which spans folders), with `options` and, for JSON, the `schema`.
    fn bigquery_external(
        &self,
        dir: &str,
        pattern: &str,
        options: &str,
        schema: Option<&str>,
    ) -> String {
        let name = format!("{DATASET}.{}", self.dialect.quote(&files_table(dir)));
        let schema = schema.map(|s| format!(" ({s})")).unwrap_or_default();
        self.files.borrow_mut().push(format!(
            "CREATE OR REPLACE EXTERNAL TABLE {name}{schema}\n  OPTIONS ({options},\n    \
             uris = ['{}/{dir}/{pattern}']);\n",
            self.location
        ));
        name
    }

    /// Redshift: the table `columns` that a copy job fills with every new file under
    /// `<location>/<dir>/` (read as `format`), once each; returns its name.
    fn redshift_copy(&self, dir: &str, columns: &str, format: &str) -> String {
        let name = self.dialect.quote(&files_table(dir));
        let job = format!(
            "affinity_sync_{}",
            files_table(dir).trim_start_matches(HELPER)
        );
        self.files.borrow_mut().push(format!(
            "CREATE TABLE IF NOT EXISTS {name} ({columns});\n\
             COPY {name} FROM '{}/{dir}/'\n  IAM_ROLE '{REDSHIFT_ROLE}'\n  {format}\n  \
             JOB CREATE {job} AUTO ON;\n",
            self.location
        ));
        name
    }

    /// No rows, typed as `t`'s columns: a folder with no files yet.
    fn empty(&self, t: &Table) -> String {
        let d = self.dialect;
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                format!(
                    "CAST(NULL AS {}) AS {}",
                    view_type(d, c.ty),
                    d.quote(c.name)
                )
            })
            .collect();
        format!("SELECT {} LIMIT 0", cols.join(", "))
    }

    /// Snowflake: the external table over the stage's folder `dir` (files matching `pattern`,
    /// in `format`), refreshed by the bucket's event notifications; returns its name.
    fn external(&self, dir: &str, pattern: &str, format: &str) -> String {
        let name = self.dialect.quote(&files_table(dir));
        // On Azure and Google Cloud, the notifications reach Snowflake through an integration
        // each external table names (on AWS, through the SQS queue Snowflake gives).
        let integration = match cloud_of(&self.location) {
            Cloud::Azure | Cloud::Google => format!("\n  INTEGRATION = '{NOTIFICATIONS}'"),
            _ => String::new(),
        };
        self.files.borrow_mut().push(format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS {name}\n  LOCATION = @{STAGE}/{dir}/\n  \
             PATTERN = '{pattern}'\n  FILE_FORMAT = (TYPE = {format})\n  AUTO_REFRESH = TRUE{integration};\n"
        ));
        name
    }

    /// `SELECT` of `t`'s columns, typed as the catalog declares, from every batch under the
    /// folder `dir` (relative to the location): `nested` when the batches are one folder
    /// further down (`<table>/sync_id=<sync>/`), `ndjson` when NDJSON batches count too.
    /// No batches at all is no rows, not an error: a table may have none yet.
    fn raw(&self, t: &Table, dir: &str, nested: bool, ndjson: bool) -> String {
        let d = self.dialect;
        if !self.has(dir) {
            self.missing.borrow_mut().push(dir.to_string());
            return self.empty(t);
        }
        let glob = format!(
            "{}/{dir}/{}",
            self.location,
            if nested { "*/*" } else { "*" }
        );
        match d {
            Dialect::Duckdb => {
                let empty: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| {
                        format!(
                            "CAST(NULL AS {}) AS {}",
                            super::duckdb_sql::duckdb_type(c.ty),
                            d.quote(c.name)
                        )
                    })
                    .collect();
                let mut parts = vec![format!(
                    "SELECT * FROM read_parquet('{glob}.parquet', union_by_name = true, allow_empty = true)"
                )];
                if ndjson {
                    parts.push(format!(
                        "SELECT * FROM read_json('{glob}.ndjson.gz', format = 'newline_delimited', \
                         compression = 'gzip', allow_empty = true, columns = {{{}}})",
                        super::duckdb_sql::ndjson_columns(t)
                    ));
                }
                parts.push(format!("SELECT {} WHERE false", empty.join(", ")));
                // JSON columns are text, as `load duckdb` keeps them.
                let select: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| {
                        let ty = super::duckdb_sql::duckdb_type(c.ty);
                        format!("CAST({0} AS {ty}) AS {0}", d.quote(c.name))
                    })
                    .collect();
                format!(
                    "SELECT {} FROM ({})",
                    select.join(", "),
                    parts.join(" UNION ALL BY NAME ")
                )
            }
            // Spark fails a query on a path that matches no file, so every path here also
            // matches files that exist once a sync is complete, of which the query keeps none:
            // a table's refreshed rows are read with its sync batches (whose `_sync_id` is no
            // change's), the change records (NDJSON, a line at a time, parsed with a fixed
            // schema) with the manifests' lines (which parse to no change id).
            Dialect::Databricks => {
                let json = dir.ends_with("events") || dir.ends_with("tombstones");
                let loc = &self.location;
                let select = |source: &dyn Fn(&str) -> String| -> String {
                    t.columns
                        .iter()
                        .map(|c| {
                            let e = source(c.name);
                            let e = match c.ty {
                                Ty::Json => d.read(c.ty, &e),
                                other => format!("CAST({e} AS {})", d.type_of(other)),
                            };
                            format!("{e} AS \"{}\"", c.name)
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                if json {
                    let schema: Vec<String> = t
                        .columns
                        .iter()
                        .map(|c| {
                            let ty = match c.ty {
                                Ty::Int64 => "BIGINT",
                                Ty::Float64 => "DOUBLE",
                                Ty::Bool => "BOOLEAN",
                                Ty::Utf8List => "ARRAY<STRING>",
                                Ty::Int64List => "ARRAY<BIGINT>",
                                // Times as written, cast below; JSON as its text.
                                Ty::Utf8 | Ty::Json | Ty::Timestamp => "STRING",
                            };
                            format!("`{}` {ty}", c.name)
                        })
                        .collect();
                    let key = t.primary_key[0];
                    format!(
                        "SELECT {} FROM (SELECT from_json(value, '{}') AS j \
                           FROM text.`{loc}/{{{dir}/*.ndjson.gz,_manifests/*/sync.json}}`) x \
                         WHERE j.\"{key}\" IS NOT NULL",
                        select(&|c| format!("j.\"{c}\"")),
                        schema.join(", ")
                    )
                } else {
                    let glob = match dir.strip_prefix("changes/") {
                        Some(table) => format!("{loc}/{{{table}/*,changes/{table}}}/*.parquet"),
                        None => format!("{glob}.parquet"),
                    };
                    format!(
                        "SELECT {} FROM parquet.`{glob}` f",
                        select(&|c| format!("f.\"{c}\""))
                    )
                }
            }
            // An external table's rows are one VARIANT, `VALUE`, keyed by the columns'
            // lower-case names. Change records are NDJSON (JSON columns nested already);
            // batches and refreshed rows are read from Parquet (JSON columns as text).
            Dialect::Snowflake => {
                let json = dir.ends_with("events") || dir.ends_with("tombstones");
                let (pattern, format) = if json {
                    (".*[.]ndjson[.]gz", "JSON")
                } else {
                    (".*[.]parquet", "PARQUET")
                };
                // The external table reads its folder at any depth, in the format its
                // pattern picks.
                let _ = (nested, ndjson);
                let files = self.external(dir, pattern, format);
                let select: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| {
                        // A null list reads as a JSON null, which `::ARRAY` keeps: made SQL
                        // NULL, as the other readers have it (scalars cast to NULL already).
                        let raw = format!("f.VALUE['{}']", c.name);
                        let read = match (json, c.ty) {
                            (true, Ty::Json) => raw,
                            (_, Ty::Utf8List | Ty::Int64List) => {
                                d.read(c.ty, &format!("STRIP_NULL_VALUE({raw})"))
                            }
                            _ => d.read(c.ty, &raw),
                        };
                        format!("{read} AS \"{}\"", c.name)
                    })
                    .collect();
                format!("SELECT {} FROM {files} f", select.join(", "))
            }
            // External tables: change records from NDJSON (JSON columns nested, times as
            // written), batches and refreshed rows from Parquet (JSON columns as text).
            Dialect::Bigquery => {
                let json = dir.ends_with("events") || dir.ends_with("tombstones");
                let files = if json {
                    let schema: Vec<String> = t
                        .columns
                        .iter()
                        .map(|c| {
                            let ty = match c.ty {
                                Ty::Timestamp => "STRING",
                                other => d.type_of(other),
                            };
                            format!("{} {ty}", d.quote(c.name))
                        })
                        .collect();
                    self.bigquery_external(
                        dir,
                        "*.ndjson.gz",
                        "format = 'NEWLINE_DELIMITED_JSON', compression = 'GZIP', \
                         ignore_unknown_values = TRUE",
                        Some(&schema.join(", ")),
                    )
                } else {
                    self.bigquery_external(
                        dir,
                        "*.parquet",
                        "format = 'PARQUET', enable_list_inference = TRUE",
                        None,
                    )
                };
                let select: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| {
                        let raw = format!("f.{}", d.quote(c.name));
                        let read = match (json, c.ty) {
                            (true, Ty::Timestamp) => format!("CAST({raw} AS TIMESTAMP)"),
                            (true, _) => raw,
                            (false, ty) => d.read(ty, &raw),
                        };
                        format!("{read} AS \"{}\"", c.name)
                    })
                    .collect();
                format!("SELECT {} FROM {files} f", select.join(", "))
            }
            // Tables a copy job fills: from Parquet (lists serialized to SUPER, JSON columns
            // as text, parsed here) or from NDJSON (JSON columns nested, loaded as SUPER).
            Dialect::Redshift => {
                let json = dir.ends_with("events") || dir.ends_with("tombstones");
                // NDJSON change records load JSON columns as SUPER; Parquet as `ddl`'s load.
                let columns = if json {
                    t.columns
                        .iter()
                        .map(|c| format!("{} {}", d.quote(c.name), d.type_of(c.ty)))
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    super::ddl::redshift_parquet_columns(t)
                };
                let format = if json {
                    "FORMAT JSON 'auto' GZIP TIMEFORMAT 'auto'"
                } else {
                    "FORMAT AS PARQUET SERIALIZETOJSON"
                };
                let files = self.redshift_copy(dir, &columns, format);
                let select: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| {
                        let raw = format!("f.\"{}\"", c.name);
                        let read = match json {
                            true => raw,
                            false => d.read(c.ty, &raw),
                        };
                        format!("{read} AS \"{}\"", c.name)
                    })
                    .collect();
                format!("SELECT {} FROM {files} f", select.join(", "))
            }
            _ => unreachable!("checked by `render`"),
        }
    }

    /// `ts` less the clock-skew margin the loaders allow (`change_sql`).
    fn minus_skew(&self, ts: &str) -> String {
        let m = super::change_sql::CLOCK_SKEW_MINUTES;
        match self.dialect {
            Dialect::Snowflake | Dialect::Redshift => format!("DATEADD(minute, -{m}, {ts})"),
            Dialect::Bigquery => format!("TIMESTAMP_SUB({ts}, INTERVAL {m} MINUTE)"),
            // Without the ICU extension (the DuckDB `load duckdb` links), DuckDB subtracts an
            // interval from a plain timestamp only; both read as UTC.
            Dialect::Duckdb => {
                format!("CAST(CAST({ts} AS TIMESTAMP) - INTERVAL {m} MINUTE AS TIMESTAMPTZ)")
            }
            _ => format!("{ts} - INTERVAL {m} MINUTE"),
        }
    }
}

/// The table (Redshift), or external table, holding the files of the folder `dir`.
fn files_table(dir: &str) -> String {
    format!(
        "{HELPER}files_{}",
        dir.replace('/', "_").trim_start_matches('_')
    )
}

/// BigQuery's dataset of the views and external tables, as `ddl --dialect bigquery` loads it.
const DATASET: &str = "affinity";

/// The IAM role Redshift reads the bucket with, as `ddl --dialect redshift` writes it.
const REDSHIFT_ROLE: &str = "arn:aws:iam::ACCOUNT:role/affinity-sync-read";

/// A view referred to from another (a step is a common table expression, named alone):
/// BigQuery needs the dataset.
fn view_ref(d: Dialect, name: &str) -> String {
    match d {
        Dialect::Bigquery => format!("{DATASET}.\"{name}\""),
        _ => format!("\"{name}\""),
    }
}

/// Whether `sql` names `name` (as written, quoted or not) as a whole word.
fn refers_to(sql: &str, name: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    sql.match_indices(name).any(|(at, _)| {
        !word(sql[..at].chars().next_back()) && !word(sql[at + name.len()..].chars().next())
    })
}

/// The stream whose sync writes `table`.
fn stream_of(table: &str) -> &'static str {
    STREAMS
        .iter()
        .find(|s| s.tables.iter().any(|t| t.name == table))
        .map(|s| s.name)
        .expect("a catalog table belongs to a stream")
}

/// The type of a view's column: DuckDB's views keep JSON as text, as `load duckdb` does;
/// the others type it as `ddl` creates the column.
fn view_type(d: Dialect, ty: Ty) -> &'static str {
    match d {
        Dialect::Duckdb => super::duckdb_sql::duckdb_type(ty),
        _ => d.type_of(ty),
    }
}

fn table_def(name: &str) -> &'static Table {
    affinity_sync_core::catalog::table(name).expect("the change model's tables are in the catalog")
}

/// The statements being built, and which step each table's rows are in so far.
struct Views {
    d: Dialect,
    out: String,
    current: HashMap<&'static str, String>,
    /// The steps, in order: (name, what it is, select). Each view to query carries the steps
    /// it needs as common table expressions, so that one query reads each file once
    /// (DuckDB materializes them) instead of once per reference through nested views.
    steps: Vec<(String, String, String)>,
}

impl Views {
    /// A view to query: `select`, with the steps it refers to before it.
    fn view(&mut self, name: &str, what: &str, select: &str) {
        let mut needed = vec![false; self.steps.len()];
        let wanted = |sql: &str, needed: &mut Vec<bool>| {
            for (i, (step, _, _)) in self.steps.iter().enumerate() {
                if refers_to(sql, &self.d.quote(step)) {
                    needed[i] = true;
                }
            }
        };
        let select = quoted(&one_line(select), self.d);
        wanted(&select, &mut needed);
        for i in (0..self.steps.len()).rev() {
            if needed[i] {
                let sql = self.steps[i].2.clone();
                wanted(&sql, &mut needed);
            }
        }
        let materialized = match self.d {
            Dialect::Duckdb => "MATERIALIZED ",
            _ => "",
        };
        let ctes: Vec<String> = self
            .steps
            .iter()
            .zip(&needed)
            .filter(|(_, n)| **n)
            .map(|((step, what, sql), _)| {
                format!(
                    "  -- {what}\n  {} AS {materialized}({sql})",
                    self.d.quote(step)
                )
            })
            .collect();
        let with = if ctes.is_empty() {
            String::new()
        } else {
            format!("WITH\n{}\n", ctes.join(",\n"))
        };
        let name = quoted(&view_ref(self.d, name), self.d);
        let _ = writeln!(
            self.out,
            "-- {what}\nCREATE OR REPLACE VIEW {name} AS\n{with}{select};\n"
        );
    }

    /// A step that views to query build on.
    fn helper(&mut self, name: &str, what: &str, select: &str) {
        self.steps.push((
            name.to_string(),
            what.to_string(),
            quoted(&one_line(select), self.d),
        ));
    }

    /// A next step of `table`'s rows, `stage` naming it.
    fn stage(&mut self, table: &'static str, stage: &str, what: &str, select: &str) {
        let name = format!("{HELPER}{table}__{stage}");
        self.helper(&name, what, select);
        self.current.insert(table, name);
    }
}

/// The statements that create the views over `location` for `dialect`.
///
/// The SQL below writes every name in double quotes (`"id"`, `"_affinity_latest"`):
/// `change_sql::quoted` then writes each as the dialect writes the names `ddl` creates.
pub fn render(dialect: Dialect, location: &str, cover: &Coverage) -> Result<String> {
    if dialect == Dialect::Postgres {
        bail!(
            "--views is not for --dialect postgres: PostgreSQL reads no Parquet. \
             `affinity-sync load postgres --from DIR` loads the store's current state"
        );
    }
    let streams = &cover.streams;
    let location = location.trim_end_matches('/').to_string();
    if location.contains('\'') {
        bail!("--location {location:?} has a quote in it: use a path or URL without one");
    }
    let reader = Reader {
        dialect,
        location: location.clone(),
        files: Default::default(),
        present: cover.present.clone(),
        missing: Default::default(),
    };
    let d = dialect;
    let mut v = Views {
        d,
        out: String::new(),
        current: HashMap::new(),
        steps: vec![],
    };

    // 1. Complete syncs, and per stream the chain of syncs its rows come from.
    v.view(
        &format!("{HELPER}syncs"),
        "every stream of every complete sync (one with a sync.json), in Parquet",
        &reader.sync_streams(),
    );
    v.helper(
        &format!("{HELPER}chain"),
        "per stream: its latest complete full sync, then each later complete sync of it",
        &r#"SELECT "stream", "sync_id", pos, pos = base AS is_base FROM (
             SELECT "stream", "sync_id", pos,
               max(CASE WHEN "since" IS NULL THEN pos END) OVER (PARTITION BY "stream") AS base
             FROM (SELECT "stream", "sync_id", "since",
               row_number() OVER (PARTITION BY "stream" ORDER BY "started_at", "sync_id") AS pos
               FROM {syncs}) r) b
           WHERE pos >= base"#
            .replace("{syncs}", &view_ref(d, &format!("{HELPER}syncs"))),
    );

    // 2. Each table: the chain's rows, the latest sync winning per primary key.
    let catalog: Vec<&'static Table> = STREAMS
        .iter()
        .filter(|s| streams.contains(&s.name))
        .flat_map(|s| s.tables.iter())
        .collect();
    let exists = |table: &str| catalog.iter().any(|t| t.name == table);
    for t in &catalog {
        let raw = format!("{HELPER}raw_{}", t.name);
        v.helper(
            &raw,
            &format!("every batch of {}", t.name),
            &reader.raw(t, t.name, true, false),
        );
        let keys: Vec<String> = t.primary_key.iter().map(|k| format!("x.\"{k}\"")).collect();
        let select = format!(
            r#"SELECT {cols} FROM (
                 SELECT x.*, c.pos AS _pos, c.is_base AS _is_base,
                   max(c.pos) OVER (PARTITION BY {keys}) AS _last,
                   row_number() OVER (PARTITION BY {keys}, c.pos ORDER BY c.pos) AS _n
                 FROM "{raw}" x JOIN "_affinity_chain" c
                   ON c."stream" = '{stream}' AND c."sync_id" = x."_sync_id") y
               WHERE _pos = _last AND (_is_base OR _n = 1)"#,
            cols = names(t),
            keys = keys.join(", "),
            stream = stream_of(t.name),
        );
        v.stage(
            t.name,
            "synced",
            &format!("{}: the rows of its chain of syncs", t.name),
            &select,
        );
    }

    // 3. Webhook changes: the records, tombstones and refreshed rows as written.
    for (t, dir) in [(&CHANGE_EVENTS, "events"), (&TOMBSTONES, "tombstones")] {
        let raw = reader.raw(t, &format!("changes/{dir}"), false, true);
        v.view(
            t.name,
            &format!("{}: each record once, however often it came", t.name),
            &format!(
                "SELECT {cols} FROM (SELECT x.*, row_number() OVER (PARTITION BY {keys} ORDER BY {keys}) AS _n \
                   FROM ({raw}) x) y WHERE _n = 1",
                cols = names(t),
                keys = t
                    .primary_key
                    .iter()
                    .map(|k| format!("x.\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        );
    }
    let up = |table: &str| format!("{HELPER}{}", up_table(table).trim_start_matches('_'));
    for t in super::change_sql::refreshed_tables(&exists) {
        v.helper(
            &up(t.name),
            &format!("{}: rows webhook refreshes fetched", t.name),
            &reader.raw(t, &format!("changes/{}", t.name), false, true),
        );
    }

    // The change that wins per record: the latest sent, a delete winning a tie; changes sent
    // before the latest complete sync started (less the skew margin) are in it already.
    let mut candidates = vec![format!(
        r#"SELECT t."entity", t."id", t."change_id", t."sent_at", 1 AS "is_delete" FROM {} t"#,
        view_ref(d, "tombstones")
    )];
    let kinds: Vec<_> = KINDS.iter().filter(|k| exists(k.tables[0].0)).collect();
    for k in &kinds {
        let (base, key) = k.tables[0];
        candidates.push(format!(
            r#"SELECT '{entity}' AS "entity", u."{key}" AS "id", e."change_id", e."sent_at", 0 AS "is_delete"
               FROM "{up}" u JOIN {events} e ON e."change_id" = u."_sync_id""#,
            entity = k.entity,
            up = up(base),
            events = view_ref(d, "change_events"),
        ));
    }
    v.helper(
        &format!("{HELPER}latest"),
        "per record, the change that wins",
        &format!(
            r#"SELECT "entity", "id", "change_id", "is_delete" FROM (
                 SELECT c.*, row_number() OVER (PARTITION BY "entity", "id"
                   ORDER BY "sent_at" DESC, "is_delete" DESC, "change_id" DESC) AS rn
                 FROM ({union}) c
                 WHERE "sent_at" >= (SELECT {cutoff} FROM {syncs})) r
               WHERE rn = 1"#,
            union = candidates.join(" UNION ALL "),
            cutoff = reader.minus_skew(r#"max("started_at")"#),
            syncs = view_ref(d, &format!("{HELPER}syncs")),
        ),
    );

    // 4. Upserts and deletes replace (or remove) a record's own rows.
    for k in &kinds {
        for (table, key) in k.tables.iter().filter(|(t, _)| exists(t)) {
            let t = table_def(table);
            let select = format!(
                r#"SELECT {cols} FROM "{cur}" x
                     LEFT JOIN (SELECT DISTINCT "id" FROM "_affinity_latest" WHERE "entity" = '{e}') d
                       ON x."{key}" = d."id"
                   WHERE d."id" IS NULL
                   UNION ALL
                   SELECT {ucols} FROM "{up}" u JOIN "_affinity_latest" l
                     ON l."entity" = '{e}' AND l."is_delete" = 0 AND u."{key}" = l."id"
                       AND u."_sync_id" = l."change_id""#,
                cols = columns("x", t, &|_| None),
                ucols = columns("u", t, &|_| None),
                cur = v.current[table],
                e = k.entity,
                up = up(table),
            );
            v.stage(
                table,
                "changed",
                &format!("{table}: webhook upserts and deletes applied"),
                &select,
            );
        }
    }

    // 5. List entries show their entity as it is now: its field values, and the name of a
    // company or opportunity.
    let target = table_def("list_entries_field_values");
    let mut inserts = vec![];
    let followed: Vec<(&str, &str)> = [
        ("person", "persons_field_values"),
        ("company", "companies_field_values"),
    ]
    .into_iter()
    .filter(|(_, values)| exists("list_entries") && exists(target.name) && exists(values))
    .collect();
    for &(entity, values) in &followed {
        let source = table_def(values);
        let select = columns("v", target, &|name| {
            Some(match name {
                "list_entry_id" => r#"le."id""#.to_string(),
                "list_id" | "entity_id" => format!("le.\"{name}\""),
                name if source.columns.iter().any(|s| s.name == name) => return None,
                _ => {
                    let ty = target.columns.iter().find(|c| c.name == name).map(|c| c.ty);
                    format!("CAST(NULL AS {})", view_type(d, ty.unwrap_or(Ty::Utf8)))
                }
            })
        });
        inserts.push(format!(
            r#"SELECT {select} FROM "{values}" v
                 JOIN "{entries}" le ON le."type" = '{entity}' AND le."entity_id" = v."entity_id"
                 JOIN "_affinity_latest" l
                   ON l."entity" = '{entity}' AND l."is_delete" = 0 AND l."id" = v."entity_id""#,
            values = v.current[values],
            entries = v.current["list_entries"],
        ));
    }
    if !followed.is_empty() {
        let types: Vec<String> = followed.iter().map(|(e, _)| format!("'{e}'")).collect();
        let select = format!(
            r#"SELECT {cols} FROM "{cur}" x
                 LEFT JOIN (SELECT DISTINCT le."id" FROM "{entries}" le JOIN "_affinity_latest" l
                   ON l."entity" = le."type" AND l."is_delete" = 0 AND le."entity_id" = l."id"
                   WHERE le."type" IN ({types})) d ON x."list_entry_id" = d."id"
               WHERE d."id" IS NULL OR NOT COALESCE(x."field_type" <> 'list', FALSE)
               UNION ALL {inserts}"#,
            cols = columns("x", target, &|_| None),
            cur = v.current[target.name],
            entries = v.current["list_entries"],
            types = types.join(", "),
            inserts = inserts.join(" UNION ALL "),
        );
        v.stage(
            target.name,
            "followed",
            "list entry values: a changed person's or company's values carried in",
            &select,
        );
    }
    let named: Vec<String> = [("company", "companies"), ("opportunity", "opportunities")]
        .into_iter()
        .filter(|(_, table)| exists("list_entries") && exists(table))
        .map(|(entity, table)| {
            format!(
                r#"SELECT '{entity}' AS "type", r."id", r."name" FROM "{cur}" r JOIN "_affinity_latest" l
                     ON l."entity" = '{entity}' AND l."is_delete" = 0 AND r."id" = l."id""#,
                cur = v.current[table],
            )
        })
        .collect();
    if !named.is_empty() {
        let select = format!(
            r#"SELECT {cols} FROM "{cur}" x LEFT JOIN ({named}) n
               ON n."type" = x."type" AND n."id" = x."entity_id""#,
            cols = columns("x", table_def("list_entries"), &|c| {
                (c == "entity_name").then(|| {
                    r#"CASE WHEN n."id" IS NOT NULL THEN n."name" ELSE x."entity_name" END"#
                        .to_string()
                })
            }),
            cur = v.current["list_entries"],
            named = named.join(" UNION ALL "),
        );
        v.stage(
            "list_entries",
            "followed",
            "list entries: a changed company's or opportunity's name carried in",
            &select,
        );
    }

    // 6. A deleted entity or list takes its list entries (and their values) with it.
    let gone = v.current.get("list_entries").map(|entries| {
        format!(
            r#"SELECT DISTINCT le."id" FROM "{entries}" le JOIN "_affinity_latest" l ON l."is_delete" = 1 AND (
                 (l."entity" IN ('person', 'company', 'opportunity') AND le."type" = l."entity"
                   AND le."entity_id" = l."id")
                 OR (l."entity" = 'list' AND le."list_id" = l."id"))"#,
        )
    });
    for (table, key, gone) in [
        ("list_entries_field_values", "list_entry_id"),
        ("list_entries", "id"),
    ]
    .into_iter()
    .filter(|(table, _)| exists(table))
    .filter_map(|(table, key)| Some((table, key, gone.clone()?)))
    {
        let select = format!(
            r#"SELECT {cols} FROM "{cur}" x LEFT JOIN ({gone}) d ON x."{key}" = d."id"
               WHERE d."id" IS NULL"#,
            cols = columns("x", table_def(table), &|_| None),
            cur = v.current[table],
        );
        v.stage(
            table,
            "cascaded",
            &format!("{table}: those of deleted records and lists removed"),
            &select,
        );
    }

    // 7. Fields, last: a renamed field's name everywhere, a deleted field's rows gone.
    for (table, id, name) in FIELD_NAMES.iter().filter(|(t, _, _)| exists(t)) {
        let t = table_def(table);
        // Renamed as the `fields` table says, when it is there; deleted fields go either way.
        let (renames, renamed) = match v.current.get("fields") {
            Some(fields) => (
                format!(
                    r#"LEFT JOIN (SELECT f."field_v2_id", f."name" FROM "{fields}" f JOIN "_affinity_latest" l
                         ON l."entity" = 'field' AND l."is_delete" = 0 AND f."id" = l."id") n
                         ON x."{id}" = n."field_v2_id""#
                ),
                format!(
                    r#"CASE WHEN n."field_v2_id" IS NOT NULL THEN n."name" ELSE x."{name}" END"#
                ),
            ),
            None => (String::new(), format!(r#"x."{name}""#)),
        };
        let select = format!(
            r#"SELECT {cols} FROM "{cur}" x {renames}
                 LEFT JOIN (SELECT DISTINCT 'field-' || CAST("id" AS {text}) AS gone FROM "_affinity_latest"
                   WHERE "entity" = 'field' AND "is_delete" = 1) g ON x."{id}" = g.gone
               WHERE g.gone IS NULL"#,
            cols = columns("x", t, &|c| (c == *name).then(|| renamed.clone())),
            cur = v.current[table],
            text = view_type(d, Ty::Utf8),
        );
        v.stage(
            table,
            "renamed",
            &format!("{table}: field renames and deletions applied"),
            &select,
        );
    }

    // 8. The views to query, one per table.
    for t in &catalog {
        let select = format!(r#"SELECT {} FROM "{}""#, names(t), v.current[t.name]);
        v.view(t.name, &format!("{}: the current state", t.name), &select);
    }
    Ok(format!("{}{}", setup(&reader), v.out))
}

/// What the views cover: the streams whose tables get views, and, where the dialect fails a
/// query on a folder with no file (BigQuery), the folders that have files.
pub struct Coverage {
    pub streams: Vec<&'static str>,
    /// Folders relative to the location (`persons`, `changes/events`) with files; `None`:
    /// every folder is read.
    pub present: Option<BTreeSet<String>>,
}

/// The coverage of views printed for `dialect` over the local store `from`, if given.
/// DuckDB and Snowflake read a folder with no file as no rows, and Redshift reads tables its
/// copy jobs fill, so every stream gets views (a stream synced later shows with nothing run
/// again). Spark and BigQuery fail on a path with no file: they get the streams of the latest
/// complete sync in `from`, or the streams a sync reads by default. Spark's paths always
/// match once a sync is complete; BigQuery's folders without files (webhook changes not yet
/// received, a table with no rows) are read as no rows until the statements run again.
pub fn coverage(dialect: Dialect, from: Option<&std::path::Path>) -> Coverage {
    let synced = from
        .and_then(|f| super::plan::complete_syncs(f).pop())
        .map(|m| m.streams.into_iter().map(|s| s.stream).collect::<Vec<_>>());
    let streams: Vec<&'static str> = STREAMS
        .iter()
        .filter(|s| match (dialect, &synced) {
            (Dialect::Databricks | Dialect::Bigquery, Some(names)) => {
                names.iter().any(|n| n == s.name)
            }
            (Dialect::Databricks | Dialect::Bigquery, None) => s.default,
            _ => true,
        })
        .map(|s| s.name)
        .collect();
    let present = (dialect == Dialect::Bigquery).then(|| {
        let tables = STREAMS
            .iter()
            .filter(|s| streams.contains(&s.name))
            .flat_map(|s| s.tables.iter());
        let mut folders: Vec<(String, &str)> = vec![];
        for t in tables {
            folders.push((t.name.to_string(), ".parquet"));
            folders.push((format!("changes/{}", t.name), ".parquet"));
        }
        folders.push(("changes/events".into(), ".ndjson.gz"));
        folders.push(("changes/tombstones".into(), ".ndjson.gz"));
        folders
            .into_iter()
            .filter(|(dir, ext)| match from {
                Some(f) => has_file(&f.join(dir), ext),
                // Without a store to look at: the tables' batches, which a complete sync
                // writes, and no webhook changes.
                None => !dir.starts_with("changes/"),
            })
            .map(|(dir, _)| dir)
            .collect()
    });
    Coverage { streams, present }
}

/// The wide views (`persons_wide`, …) over the views [`render`] printed for `dialect`, a
/// column per field of `found` (read from a local store: a view's columns are fixed when it
/// is created). A wide view is printed when its tables are in `cover`.
#[cfg(feature = "duckdb")]
pub fn render_wide(dialect: Dialect, cover: &Coverage, found: &[WideView]) -> String {
    let mut out = String::from(
        "-- Wide views: a column per field the store has now (a view's columns are fixed when\n\
         -- it is created): run `ddl --views` again when fields are added or renamed.\n",
    );
    let covered = |table: &str| cover.streams.contains(&stream_of(table));
    for view in found
        .iter()
        .filter(|v| covered(v.base) && covered(v.values))
    {
        let sql = match dialect {
            Dialect::Duckdb => wide::duckdb_statement(view),
            _ => wide::warehouse_statement(dialect, view, &|name| view_ref(dialect, name)),
        };
        let _ = write!(out, "-- {}\n{sql};\n\n", view.name);
    }
    out
}

/// Whether a file ending in `ext` is under `dir`, at any depth.
fn has_file(dir: &std::path::Path, ext: &str) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let path = e.path();
            if path.is_dir() {
                has_file(&path, ext)
            } else {
                e.file_name().to_string_lossy().ends_with(ext)
            }
        })
}

/// What runs before the views: for Snowflake the stage and its external tables, with the
/// one-time set-up they need and what they cost.
fn setup(reader: &Reader) -> String {
    let location = &reader.location;
    let d = format!("{:?}", reader.dialect).to_lowercase();
    let mut out =
        format!("-- affinity-sync ddl --views --dialect {d} : the current state of {location}\n");
    match reader.dialect {
        Dialect::Snowflake => {
            let set_up = match cloud_of(location) {
                Cloud::Azure => format!(
                    "--   CREATE STORAGE INTEGRATION affinity_integration (STORAGE_PROVIDER = 'AZURE',\n\
                     --   AZURE_TENANT_ID = your tenant, STORAGE_ALLOWED_LOCATIONS = ('{location}/')),\n\
                     --   consent to its app and give it Storage Blob Data Reader on the container; then an\n\
                     --   Event Grid subscription (Microsoft.Storage.BlobCreated) on the account into a storage\n\
                     --   queue, and CREATE NOTIFICATION INTEGRATION {NOTIFICATIONS} (TYPE = QUEUE,\n\
                     --   NOTIFICATION_PROVIDER = AZURE_STORAGE_QUEUE) on that queue, so AUTO_REFRESH sees new files.\n"
                ),
                Cloud::Google => format!(
                    "--   CREATE STORAGE INTEGRATION affinity_integration (STORAGE_PROVIDER = 'GCS',\n\
                     --   STORAGE_ALLOWED_LOCATIONS = ('{location}/')) and give its service account Storage\n\
                     --   Object Viewer on the bucket; then a Pub/Sub topic for the bucket's OBJECT_FINALIZE\n\
                     --   notifications with a subscription, and CREATE NOTIFICATION INTEGRATION {NOTIFICATIONS}\n\
                     --   (TYPE = QUEUE, NOTIFICATION_PROVIDER = GCP_PUBSUB) on it, so AUTO_REFRESH sees new files.\n"
                ),
                _ => format!(
                    "--   CREATE STORAGE INTEGRATION affinity_integration (an IAM role that can read {location}/),\n\
                     --   then point the bucket's event notifications (s3:ObjectCreated:*) at the SQS queue\n\
                     --   SHOW EXTERNAL TABLES lists as notification_channel, so AUTO_REFRESH sees new files.\n"
                ),
            };
            let _ = write!(
                out,
                "-- Run once. The views read external tables over the bucket: a sync shows when its\n\
                 -- sync.json is registered, webhook changes as they arrive. One-time set-up, yours:\n\
                 {set_up}\
                 -- Cost: every query scans the files it reads (no copy, no warehouse time between syncs).\n\
                 -- _AFFINITY_SYNCS lists the complete syncs shown.\n\n\
                 CREATE STAGE IF NOT EXISTS {STAGE} URL = '{location}/'\n  \
                 STORAGE_INTEGRATION = affinity_integration;\n\n"
            );
            for f in reader.files.borrow().iter() {
                out.push_str(f);
                out.push('\n');
            }
        }
        Dialect::Databricks => {
            let credential = match cloud_of(location) {
                Cloud::Azure => "a storage credential of an Azure managed identity with Storage Blob Data Reader",
                Cloud::Google => "a storage credential of a Google service account with Storage Object Viewer",
                _ => "a storage credential (IAM role) or instance profile",
            };
            let _ = write!(
                out,
                "-- Run once, after the first complete sync (Spark fails a query on a path with no\n\
                 -- file). Every query reads the files (no copy, no job between syncs): a sync shows\n\
                 -- when its sync.json is written, webhook changes as they arrive. One-time set-up,\n\
                 -- yours: an external location (Unity Catalog) on {credential}\n\
                 -- that can read {location}/. Tables of a stream synced later need these statements run again.\n\
                 -- _affinity_syncs lists the complete syncs shown.\n\n"
            );
        }
        Dialect::Bigquery => {
            let _ = write!(
                out,
                "-- Run once, after the first complete sync. The views read external tables over the\n\
                 -- bucket: a sync shows when its sync.json is written, webhook changes as they arrive.\n\
                 -- One-time set-up, yours: the dataset `{DATASET}`, and read access to {location}/ for\n\
                 -- whoever queries (storage.objects.get and .list); for s3:// or azure:// add\n\
                 -- WITH CONNECTION `project.region.connection` (BigQuery Omni) to each external table.\n\
                 -- Cost: every query scans the files it reads (bytes billed per query; no copy, nothing\n\
                 -- runs between syncs). Manifests are read one object a line, as syncs write sync.json\n\
                 -- (a sync.json written pretty-printed by an older version fails to parse).\n"
            );
            let missing = reader.missing.borrow();
            if !missing.is_empty() {
                let mut lines = vec![String::from("--  ")];
                for (i, folder) in missing.iter().enumerate() {
                    let sep = if i + 1 < missing.len() { "," } else { "." };
                    if lines.last().unwrap().len() + folder.len() > 88 {
                        lines.push(String::from("--  "));
                    }
                    let line = lines.last_mut().unwrap();
                    let _ = write!(line, " {folder}{sep}");
                }
                let _ = write!(
                    out,
                    "-- BigQuery fails a query on a folder with no file, so these are read as no rows\n\
                     -- until they have files and these statements run again:\n{}\n",
                    lines.join("\n")
                );
            }
            let _ = write!(
                out,
                "-- {DATASET}._affinity_syncs lists the complete syncs shown.\n\n\
                 CREATE SCHEMA IF NOT EXISTS {DATASET};\n\n"
            );
            for f in reader.files.borrow().iter() {
                out.push_str(f);
                out.push('\n');
            }
        }
        Dialect::Redshift => {
            let _ = write!(
                out,
                "-- Run once. Copy jobs (auto-copy) load each new file under {location}/ once into\n\
                 -- the _affinity_files_* tables, and the views read those: a sync shows when its\n\
                 -- sync.json is loaded, webhook changes as they arrive. One-time set-up, yours: an\n\
                 -- IAM role that can read the bucket (replace {REDSHIFT_ROLE}),\n\
                 -- and an S3 event integration for the bucket (CREATE INTEGRATION, in the Redshift\n\
                 -- console), which copy jobs need. Batches must be Parquet (sync --format parquet).\n\
                 -- Cost: a copy of every file in Redshift storage (delete rows of syncs you no longer\n\
                 -- need from the _affinity_files_* tables); queries read those tables, not S3.\n\
                 -- _affinity_syncs lists the complete syncs shown.\n\n"
            );
            for f in reader.files.borrow().iter() {
                out.push_str(f);
                out.push('\n');
            }
        }
        _ => out.push_str(
            "-- Run once. Every query reads the bucket: a sync shows when its sync.json is written,\n\
             -- webhook changes as they arrive. _affinity_syncs lists the complete syncs shown.\n\n",
        ),
    }
    out
}

/// `sql` on one line: the templates above are indented as Rust code, not as the output.
fn one_line(sql: &str) -> String {
    sql.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `"col", …` of `t`'s columns.
fn names(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `<alias>."col", …` of `t`'s columns, with `replace` giving another expression for some.
fn columns(alias: &str, t: &Table, replace: &dyn Fn(&str) -> Option<String>) -> String {
    t.columns
        .iter()
        .map(|c| match replace(c.name) {
            Some(e) => format!("{e} AS \"{}\"", c.name),
            None => format!("{alias}.\"{}\"", c.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<&'static str> {
        STREAMS.iter().map(|s| s.name).collect()
    }

    /// Every stream, every folder read.
    fn every() -> Coverage {
        Coverage {
            streams: all(),
            present: None,
        }
    }

    fn only(streams: &[&'static str]) -> Coverage {
        Coverage {
            streams: streams.to_vec(),
            present: None,
        }
    }

    /// The statement that creates the view `name`, up to its `;`.
    fn statement<'a>(sql: &'a str, name: &str) -> &'a str {
        let head = format!("CREATE OR REPLACE VIEW \"{name}\" AS\n");
        let at = sql.find(&head).unwrap_or_else(|| panic!("no view {name}"));
        let rest = &sql[at..];
        &rest[..rest.find(";\n").unwrap()]
    }

    #[test]
    fn every_table_gets_a_view_with_its_columns_over_complete_syncs_only() {
        let sql = render(Dialect::Duckdb, "s3://bucket/affinity/", &every()).unwrap();
        let catalog: Vec<&Table> = STREAMS.iter().flat_map(|s| s.tables.iter()).collect();
        for t in &catalog {
            let view = statement(&sql, t.name);
            // The catalog's columns, in order, from the table's last step.
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("\"{}\"", c.name))
                .collect();
            let last = view.lines().last().unwrap();
            assert!(
                last.starts_with(&format!(
                    "SELECT {} FROM \"_affinity_{}__",
                    cols.join(", "),
                    t.name
                )),
                "{}: {last}",
                t.name
            );
            // Its batches are read from every sync's folder, and kept only for the syncs in
            // the chain, which comes from the manifests of complete syncs.
            assert!(view.contains(&format!(
                "read_parquet('s3://bucket/affinity/{}/*/*.parquet', union_by_name = true, allow_empty = true)",
                t.name
            )));
            let synced = format!("\"_affinity_{}__synced\" AS MATERIALIZED (", t.name);
            let synced = &view[view.find(&synced).unwrap()..];
            assert!(synced.contains(&format!(
                "JOIN \"_affinity_chain\" c ON c.\"stream\" = '{}' AND c.\"sync_id\" = x.\"_sync_id\"",
                stream_of(t.name)
            )));
            assert!(view.contains("FROM \"_affinity_syncs\""), "{}", t.name);
            // Typed as `load duckdb` types them.
            for c in t.columns {
                assert!(view.contains(&format!(
                    "CAST(NULL AS {}) AS \"{}\"",
                    view_type(Dialect::Duckdb, c.ty),
                    c.name
                )));
            }
        }
        // The manifests of complete syncs in Parquet are the only source of syncs.
        let syncs = statement(&sql, "_affinity_syncs");
        assert!(syncs.contains("read_json('s3://bucket/affinity/_manifests/*/sync.json'"));
        assert!(syncs.contains("WHERE m.format = 'parquet'"));
        assert_eq!(sql.matches("_manifests/").count(), 1);
        // The change records, each once.
        for (t, dir) in [("change_events", "events"), ("tombstones", "tombstones")] {
            let view = statement(&sql, t);
            assert!(view.contains("row_number() OVER (PARTITION BY x.\"change_id\""));
            assert!(view.contains(&format!(
                "read_json('s3://bucket/affinity/changes/{dir}/*.ndjson.gz'"
            )));
        }
        // Changes sent since the latest complete sync started, less the margin.
        assert!(sql.contains(
            "CAST(CAST(max(\"started_at\") AS TIMESTAMP) - INTERVAL 10 MINUTE AS TIMESTAMPTZ)"
        ));
        // A view to query carries only the steps it needs.
        let lists = statement(&sql, "saved_views");
        assert!(!lists.contains("_affinity_latest"), "{lists}");
        let persons = statement(&sql, "persons");
        assert!(persons.contains("\"_affinity_latest\" AS MATERIALIZED"));
        assert!(!persons.contains("_affinity_list_entries__followed"));
    }

    #[test]
    fn snowflake_reads_external_tables_with_its_own_names_and_types() {
        let sql = render(Dialect::Snowflake, "s3://bucket/affinity/", &every()).unwrap();
        assert!(
            sql.contains("CREATE STAGE IF NOT EXISTS affinity_stage URL = 's3://bucket/affinity/'")
        );
        // Complete syncs only: the manifests' external table reads sync.json, nothing else.
        assert!(sql.contains(
            "CREATE EXTERNAL TABLE IF NOT EXISTS _AFFINITY_FILES_MANIFESTS\n  LOCATION = @affinity_stage/_manifests/\n  \
             PATTERN = '.*/sync[.]json'\n  FILE_FORMAT = (TYPE = JSON)\n  AUTO_REFRESH = TRUE;"
        ));
        assert!(sql.contains("LATERAL FLATTEN(input => m.VALUE['streams'])"));
        assert!(sql.contains("WHERE m.VALUE['format']::VARCHAR = 'parquet'"));
        let catalog: Vec<&Table> = STREAMS.iter().flat_map(|s| s.tables.iter()).collect();
        for t in &catalog {
            let upper = t.name.to_ascii_uppercase();
            assert!(sql.contains(&format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS _AFFINITY_FILES_{upper}\n  LOCATION = @affinity_stage/{}/\n  \
                 PATTERN = '.*[.]parquet'\n  FILE_FORMAT = (TYPE = PARQUET)",
                t.name
            )));
            let at = sql
                .find(&format!("CREATE OR REPLACE VIEW {upper} AS\n"))
                .unwrap_or_else(|| panic!("no view {upper}"));
            let view = &sql[at..at + sql[at..].find(";\n").unwrap()];
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| Dialect::Snowflake.quote(c.name))
                .collect();
            assert!(view.lines().last().unwrap().starts_with(&format!(
                "SELECT {} FROM _AFFINITY_{upper}__",
                cols.join(", ")
            )));
            // Columns read by their lower-case Parquet names, typed as `ddl` creates them.
            for c in t.columns {
                assert!(
                    view.contains(&format!("f.VALUE['{}']", c.name)),
                    "{}.{}",
                    t.name,
                    c.name
                );
            }
            assert!(
                view.contains("JOIN _AFFINITY_CHAIN c ON c.STREAM = "),
                "{upper}"
            );
            assert!(!view.contains("MATERIALIZED"));
        }
        assert!(sql.contains("f.VALUE['id']::NUMBER(19,0) AS ID"));
        assert!(sql.contains("TRY_PARSE_JSON(f.VALUE['value_json']::VARCHAR) AS VALUE_JSON"));
        assert!(sql.contains("STRIP_NULL_VALUE(f.VALUE['value_ids'])::ARRAY AS VALUE_IDS"));
        assert!(sql.contains("DATEADD(minute, -10, max(STARTED_AT))"));
        // Change records from NDJSON, refreshed rows from Parquet.
        assert!(sql.contains(
            "LOCATION = @affinity_stage/changes/events/\n  PATTERN = '.*[.]ndjson[.]gz'\n  FILE_FORMAT = (TYPE = JSON)"
        ));
        assert!(
            sql.contains("LOCATION = @affinity_stage/changes/persons/\n  PATTERN = '.*[.]parquet'")
        );
        // Every name as `ddl --dialect snowflake` created it: upper case, none quoted.
        assert!(!sql.contains("\"_affinity"), "quoted lower-case names");
    }

    #[test]
    fn databricks_reads_paths_that_always_match_a_file_once_a_sync_is_complete() {
        let cover = coverage(Dialect::Databricks, None);
        let defaults: Vec<&str> = STREAMS
            .iter()
            .filter(|s| s.default)
            .map(|s| s.name)
            .collect();
        assert_eq!(cover.streams, defaults);
        assert!(cover.present.is_none());
        assert_eq!(coverage(Dialect::Duckdb, None).streams, all());
        assert_eq!(coverage(Dialect::Redshift, None).streams, all());
        let sql = render(Dialect::Databricks, "s3://bucket/affinity", &cover).unwrap();
        assert!(sql.contains(
            "FROM binaryFile.`s3://bucket/affinity/_manifests/*/sync.json`) m LATERAL VIEW explode(j.streams) e AS s"
        ));
        assert!(sql.contains(
            "FROM text.`s3://bucket/affinity/{changes/events/*.ndjson.gz,_manifests/*/sync.json}`) x WHERE j.`change_id` IS NOT NULL"
        ));
        assert!(sql.contains(
            "FROM parquet.`s3://bucket/affinity/{persons/*,changes/persons}/*.parquet` f"
        ));
        assert!(sql.contains("FROM parquet.`s3://bucket/affinity/persons/*/*.parquet` f"));
        assert!(sql.contains("try_parse_json(f.`value_json`) AS `value_json`"));
        assert!(sql.contains("CAST(f.`id` AS BIGINT) AS `id`"));
        assert!(sql.contains("CREATE OR REPLACE VIEW `persons_field_values` AS\nWITH\n"));
        assert!(!sql.contains("MATERIALIZED") && !sql.contains("\"_affinity"));
        for s in STREAMS.iter().filter(|s| !s.default) {
            for t in s.tables {
                assert!(
                    !sql.contains(&format!("`{}`", t.name)),
                    "{} is not synced by default",
                    t.name
                );
            }
        }
    }

    #[test]
    fn the_change_steps_cover_only_the_tables_there_are() {
        // Persons alone: their upserts and deletes and field deletions, nothing of lists.
        let sql = render(Dialect::Databricks, "/data", &only(&["persons"])).unwrap();
        assert!(sql.contains("CREATE OR REPLACE VIEW `persons` AS"));
        assert!(sql.contains("`_affinity_persons_field_values__renamed`"));
        for absent in ["list_entries", "companies", "fields`", "_affinity_up_notes"] {
            assert!(!sql.contains(absent), "{absent}");
        }
        // Lists without persons: entries follow companies only.
        let sql = render(
            Dialect::Duckdb,
            "/data",
            &only(&["companies", "lists", "list_entries"]),
        )
        .unwrap();
        assert!(sql.contains("WHERE le.\"type\" IN ('company')"));
        assert!(!sql.contains("persons"));
    }

    #[test]
    fn a_name_is_found_only_as_a_whole_word() {
        assert!(refers_to(
            "FROM \"_affinity_raw_persons\" x",
            "\"_affinity_raw_persons\""
        ));
        assert!(refers_to(
            "FROM _AFFINITY_RAW_PERSONS x",
            "_AFFINITY_RAW_PERSONS"
        ));
        assert!(!refers_to(
            "FROM _AFFINITY_RAW_PERSONS_FIELD_VALUES x",
            "_AFFINITY_RAW_PERSONS"
        ));
        assert!(!refers_to(
            "FROM X_AFFINITY_RAW_PERSONS",
            "_AFFINITY_RAW_PERSONS"
        ));
    }

    #[test]
    fn bigquery_reads_external_tables_in_its_dataset_and_only_folders_with_files() {
        let sql = render(
            Dialect::Bigquery,
            "gs://bucket/affinity",
            &coverage(Dialect::Bigquery, None),
        )
        .unwrap();
        assert!(sql.contains("CREATE SCHEMA IF NOT EXISTS affinity;"));
        // Complete syncs only: sync.json, one object a line, nothing else of _manifests.
        assert!(sql.contains(
            "CREATE OR REPLACE EXTERNAL TABLE affinity.`_affinity_files_manifests` (sync_id STRING, \
             format STRING, started_at STRING, streams ARRAY<STRUCT<stream STRING, since STRING>>)\n  \
             OPTIONS (format = 'NEWLINE_DELIMITED_JSON', ignore_unknown_values = TRUE,\n    \
             uris = ['gs://bucket/affinity/_manifests/*/sync.json']);"
        ));
        assert!(sql.contains("CROSS JOIN UNNEST(m.streams) s WHERE m.format = 'parquet'"));
        assert_eq!(sql.matches("_manifests/").count(), 1);
        // Views and the views they read are in the dataset; steps are named alone.
        for t in STREAMS
            .iter()
            .filter(|s| s.default)
            .flat_map(|s| s.tables.iter())
        {
            let at = sql
                .find(&format!(
                    "CREATE OR REPLACE VIEW affinity.`{}` AS\n",
                    t.name
                ))
                .unwrap_or_else(|| panic!("no view {}", t.name));
            let view = &sql[at..at + sql[at..].find(";\n").unwrap()];
            assert!(view.contains(&format!("FROM affinity.`_affinity_files_{}` f", t.name)));
            assert!(view.contains("FROM affinity.`_affinity_syncs`"));
            assert!(view.contains(&format!("`_affinity_{}__synced` AS (", t.name)));
            assert!(sql.contains(&format!(
                "uris = ['gs://bucket/affinity/{}/*.parquet']",
                t.name
            )));
        }
        assert!(
            sql.contains("PARSE_JSON(f.`value_json`, wide_number_mode => 'round') AS `value_json`")
        );
        assert!(sql.contains("TIMESTAMP_SUB(max(`started_at`), INTERVAL 10 MINUTE)"));
        // Without a store to look at, no change folder is known to have files: read as no
        // rows, and said so.
        assert!(!sql.contains("changes/events/"));
        assert!(
            sql.contains("these statements run again:\n--   changes/events, changes/tombstones,")
        );
        assert!(sql.contains("CAST(NULL AS INT64) AS `entity_id`"));
        assert!(!sql.contains("\"_affinity") && !sql.contains("MATERIALIZED"));

        // With a store: the folders with files, change records from gzipped NDJSON with
        // their types declared (times as written).
        let store = std::env::temp_dir().join(format!("views-bq-{}", std::process::id()));
        for f in ["persons/sync_id=a/p.parquet", "changes/events/e.ndjson.gz"] {
            let path = store.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        let cover = coverage(Dialect::Bigquery, Some(&store));
        std::fs::remove_dir_all(&store).unwrap();
        let sql = render(Dialect::Bigquery, "gs://b/a", &cover).unwrap();
        assert!(sql.contains(
            "CREATE OR REPLACE EXTERNAL TABLE affinity.`_affinity_files_changes_events` (`change_id` STRING, \
             `type` STRING, `object` STRING, `action` STRING, `entity_id` INT64, `sent_at` STRING, \
             `received_at` STRING, `body` JSON)\n  OPTIONS (format = 'NEWLINE_DELIMITED_JSON', \
             compression = 'GZIP', ignore_unknown_values = TRUE,\n    uris = ['gs://b/a/changes/events/*.ndjson.gz']);"
        ));
        assert!(sql.contains("CAST(f.`sent_at` AS TIMESTAMP) AS `sent_at`"));
        assert!(sql.contains("uris = ['gs://b/a/persons/*.parquet']"));
        assert!(!sql.contains("gs://b/a/persons_field_values/"));
        let missing = &sql[sql.find("these statements run again:").unwrap()..];
        let missing = &missing[..missing.find("\n-- affinity._affinity_syncs").unwrap()];
        for folder in [
            "persons_field_values",
            "changes/tombstones",
            "changes/persons",
        ] {
            assert!(
                missing.contains(&format!(" {folder},")),
                "{folder}: {missing}"
            );
        }
        assert!(!missing.contains(" persons,") && !missing.contains("changes/events"));
    }

    #[test]
    fn redshift_views_read_tables_its_copy_jobs_fill() {
        let sql = render(Dialect::Redshift, "s3://bucket/affinity/", &every()).unwrap();
        // Complete syncs only: each manifest one SUPER document, of which only sync.json
        // has streams.
        assert!(sql.contains(
            "CREATE TABLE IF NOT EXISTS \"_affinity_files_manifests\" (\"doc\" SUPER);\n\
             COPY \"_affinity_files_manifests\" FROM 's3://bucket/affinity/_manifests/'\n  \
             IAM_ROLE 'arn:aws:iam::ACCOUNT:role/affinity-sync-read'\n  FORMAT JSON 'noshred'\n  \
             JOB CREATE affinity_sync_files_manifests AUTO ON;"
        ));
        assert!(sql.contains(
            "FROM \"_affinity_files_manifests\" m, m.doc.streams AS s WHERE m.doc.\"format\"::VARCHAR = 'parquet'"
        ));
        for t in STREAMS.iter().flat_map(|s| s.tables.iter()) {
            // A folder's prefix ends in `/`: persons/ is not persons_field_values/.
            assert!(sql.contains(&format!(
                "COPY \"_affinity_files_{0}\" FROM 's3://bucket/affinity/{0}/'\n  \
                 IAM_ROLE 'arn:aws:iam::ACCOUNT:role/affinity-sync-read'\n  \
                 FORMAT AS PARQUET SERIALIZETOJSON\n  JOB CREATE affinity_sync_files_{0} AUTO ON;",
                t.name
            )));
            assert!(sql.contains(&format!("CREATE OR REPLACE VIEW \"{}\" AS\n", t.name)));
        }
        // JSON text from Parquet is parsed; change records' JSON is SUPER as loaded.
        assert!(sql.contains("\"value_json\" VARCHAR(65535)"));
        assert!(sql.contains("JSON_PARSE(f.\"value_json\") AS \"value_json\""));
        assert!(sql.contains("\"body\" SUPER"));
        assert!(sql.contains("FORMAT JSON 'auto' GZIP TIMEFORMAT 'auto'"));
        assert!(sql.contains("DATEADD(minute, -10, max(\"started_at\"))"));
        // Job names are unique.
        let jobs: Vec<&str> = sql
            .lines()
            .filter_map(|l| l.trim().strip_prefix("JOB CREATE "))
            .collect();
        let unique: BTreeSet<&&str> = jobs.iter().collect();
        assert_eq!(unique.len(), jobs.len());
    }

    #[test]
    fn postgres_and_odd_locations_are_refused_with_the_way_forward() {
        let e = render(Dialect::Postgres, "/data", &every())
            .unwrap_err()
            .to_string();
        assert!(e.contains("load postgres"), "{e}");
        let e = render(Dialect::Duckdb, "/data/it's", &every())
            .unwrap_err()
            .to_string();
        assert!(e.contains("quote"), "{e}");
    }
}
