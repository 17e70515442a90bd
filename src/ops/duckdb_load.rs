//! `affinity-sync load duckdb` and `affinity-sync query`: the latest complete sync of a
//! directory as DuckDB tables, plus wide views with one column per field, as dlt users know
//! them.
//!
//! Loading replaces: every table of the sync is recreated from that sync's batches inside one
//! transaction, so a reader sees the previous load or the new one, never a mix. Only syncs
//! with a `sync.json` (complete) are ever loaded. A stream the sync read incrementally
//! (`sync --incremental`) is the latest full sync of it with every later sync's rows upserted
//! on top, by primary key, oldest first.

use super::plan::{complete_syncs, has_batches, syncs_of};
use super::wide::{self, WideField, WideView};
use affinity_sync_core::layout::SyncManifest;
use affinity_sync_core::table::Table;
use anyhow::{Context, Result, bail};
use duckdb::Connection;
use std::path::Path;

pub(crate) use super::change_sql::{quote_ident, quote_str};
pub(crate) use super::duckdb_sql::read_select;

/// What a load did.
pub struct Loaded {
    pub sync_id: String,
    pub tables: Vec<(String, u64)>,
    pub views: Vec<String>,
    /// Webhook changes applied on top of the sync.
    pub changes: super::change_sql::Applied,
}

/// The batch file extension of a sync's format.
fn extension(m: &SyncManifest) -> Result<&'static str> {
    Ok(match m.format.as_str() {
        "parquet" => "parquet",
        "ndjson" => "ndjson.gz",
        other => bail!("sync {} has unknown format {other:?}", m.sync_id),
    })
}

/// `SELECT` of table `t` in sync `m`.
fn sync_select(t: &Table, from: &Path, m: &SyncManifest) -> Result<String> {
    let ext = extension(m)?;
    let dir = from.join(t.name).join(format!("sync_id={}", m.sync_id));
    Ok(if has_batches(&dir, ext) {
        read_select(t, &format!("{}/*.{ext}", dir.display()), ext)
    } else {
        read_select(t, "", "")
    })
}

/// Upserts the rows of `select` into table `t` by its primary key (a record read twice in
/// one sync, by its created-since and updated-since chains, counts once).
fn upsert(conn: &Connection, t: &Table, select: &str) -> Result<()> {
    let name = quote_ident(t.name);
    let keys: Vec<String> = t.primary_key.iter().map(|k| quote_ident(k)).collect();
    let on: Vec<String> = keys.iter().map(|k| format!("{name}.{k} = n.{k}")).collect();
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE _upsert AS SELECT * FROM ({select}) \
           QUALIFY row_number() OVER (PARTITION BY {keys}) = 1; \
         DELETE FROM {name} USING _upsert n WHERE {on}; \
         INSERT INTO {name} BY NAME SELECT * FROM _upsert; \
         DROP TABLE _upsert;",
        keys = keys.join(", "),
        on = on.join(" AND "),
    ))
    .with_context(|| format!("adding the incremental rows of {}", t.name))
}

/// Loads the latest complete sync in `from` into the DuckDB database `db`.
pub fn load(from: &Path, db: &Path) -> Result<Loaded> {
    let history = complete_syncs(from);
    let manifest = history.last().cloned().with_context(|| {
        format!(
            "no complete sync in {}: run `affinity-sync sync --out {}` first",
            from.display(),
            from.display()
        )
    })?;
    extension(&manifest)?;
    let conn = Connection::open(db)
        .with_context(|| format!("opening the DuckDB database {}", db.display()))?;
    conn.execute_batch("BEGIN TRANSACTION")?;
    let result = (|| -> Result<Loaded> {
        let mut tables = vec![];
        for s in &manifest.streams {
            let syncs = syncs_of(&history, &s.stream, &from.display().to_string())?;
            for name in &s.tables {
                let t = super::plan::table_of(&manifest, name)?;
                let sql = format!(
                    "CREATE OR REPLACE TABLE {} AS {}",
                    quote_ident(name),
                    sync_select(t, from, syncs[0])?
                );
                conn.execute_batch(&sql)
                    .with_context(|| format!("loading {name}"))?;
                for later in &syncs[1..] {
                    upsert(&conn, t, &sync_select(t, from, later)?)?;
                }
                let n: u64 = conn.query_row(
                    &format!("SELECT count(*) FROM {}", quote_ident(name)),
                    [],
                    |r| r.get(0),
                )?;
                tables.push((name.clone(), n));
            }
        }
        let changes = super::duckdb_changes::apply(&conn, from, &manifest.started_at)
            .context("applying webhook changes")?;
        let mut views = vec![];
        for (view, sql) in wide_views(&conn)? {
            conn.execute_batch(&sql)
                .with_context(|| format!("creating the view {view}"))?;
            views.push(view);
        }
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TABLE _affinity_sync AS SELECT {} AS sync_id, {} AS format, {} AS finished_at, now() AS loaded_at",
            quote_str(&manifest.sync_id),
            quote_str(&manifest.format),
            quote_str(&manifest.finished_at)
        ))?;
        Ok(Loaded {
            sync_id: manifest.sync_id.clone(),
            tables,
            views,
            changes,
        })
    })();
    match result {
        Ok(loaded) => {
            conn.execute_batch("COMMIT")?;
            Ok(loaded)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

pub(crate) fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
        [name],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Wide views: `persons_wide`, `companies_wide`, and one `list_<id>_wide` per list, as
/// (name, `CREATE OR REPLACE VIEW` statement), with a column per field the database's field
/// values have now (a view's columns are fixed when it is created).
pub fn wide_views(conn: &Connection) -> Result<Vec<(String, String)>> {
    Ok(wide_views_found(conn)?
        .iter()
        .map(|v| (v.name.clone(), wide::duckdb_statement(v)))
        .collect())
}

/// The wide views of the database's tables, with the fields their field values have now.
pub fn wide_views_found(conn: &Connection) -> Result<Vec<WideView>> {
    let fields_of = |sql: &str| -> Result<Vec<WideField>> {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        Ok(WideField::named(rows.collect::<Result<Vec<_>, _>>()?))
    };
    let mut views = vec![];
    for (base, values) in [
        ("persons", "persons_field_values"),
        ("companies", "companies_field_values"),
    ] {
        if !(table_exists(conn, base)? && table_exists(conn, values)?) {
            continue;
        }
        let fields = fields_of(&format!(
            "SELECT field_id, any_value(field_name), any_value(value_type) FROM {} GROUP BY field_id ORDER BY min(field_name), field_id",
            quote_ident(values)
        ))?;
        views.push(WideView {
            name: format!("{base}_wide"),
            base,
            values,
            value_key: "entity_id",
            list: None,
            fields,
        });
    }
    if table_exists(conn, "lists")?
        && table_exists(conn, "list_entries")?
        && table_exists(conn, "list_entries_field_values")?
    {
        let lists: Vec<i64> = {
            let mut stmt = conn.prepare("SELECT id FROM lists ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        for list in lists {
            let fields = fields_of(&format!(
                "SELECT field_id, any_value(field_name), any_value(value_type) FROM list_entries_field_values WHERE list_id = {list} GROUP BY field_id ORDER BY min(field_name), field_id"
            ))?;
            views.push(WideView {
                name: format!("list_{list}_wide"),
                base: "list_entries",
                values: "list_entries_field_values",
                value_key: "list_entry_id",
                list: Some(list),
                fields,
            });
        }
    }
    Ok(views)
}

/// The wide views of the store the DuckDB `views` read (the statements `ddl --dialect duckdb
/// --views` prints over a local directory): they run in memory to find the fields the store
/// has now, which become the wide views' columns.
pub fn wide_views_of_store(views: &str) -> Result<Vec<WideView>> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(views)
        .context("running the views to find the fields for the wide views")?;
    // Each read of a view computes it from the files again: the tables the fields are read
    // from are read once, into tables of their own that the lookups below then use (the
    // base tables are only looked up by name, which the views answer).
    conn.execute_batch("ATTACH ':memory:' AS fields_now")?;
    for table in [
        "persons_field_values",
        "companies_field_values",
        "lists",
        "list_entries_field_values",
    ] {
        conn.execute_batch(&format!(
            "CREATE TABLE fields_now.{table} AS SELECT * FROM main.{table}"
        ))?;
    }
    conn.execute_batch("USE fields_now")?;
    wide_views_found(&conn)
}

/// Runs `sql` on `db` and renders the result as a text table.
pub fn query(db: &Path, sql: &str) -> Result<String> {
    if !db.is_file() {
        bail!(
            "no DuckDB database at {}: run `affinity-sync load duckdb --db {}` first",
            db.display(),
            db.display()
        );
    }
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    render(&conn, sql)
}

/// Renders a query's result as an aligned text table.
pub fn render(conn: &Connection, sql: &str) -> Result<String> {
    let mut stmt = conn.prepare(sql).context("the query does not parse")?;
    let mut rows = stmt.query([]).context("running the query")?;
    let names: Vec<String> = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    let mut cells: Vec<Vec<String>> = vec![];
    while let Some(row) = rows.next()? {
        let mut line = vec![];
        for i in 0..names.len() {
            let v: duckdb::types::Value = row.get(i)?;
            line.push(show(&v));
        }
        cells.push(line);
    }
    let mut width: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for line in &cells {
        for (i, c) in line.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let fmt = |line: &[String]| {
        line.iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = width[i]))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let mut out = fmt(&names);
    out.push('\n');
    out.push_str(
        &width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    );
    for line in &cells {
        out.push('\n');
        out.push_str(&fmt(line));
    }
    out.push_str(&format!("\n({} rows)", cells.len()));
    Ok(out)
}

pub(crate) fn show(v: &duckdb::types::Value) -> String {
    use duckdb::types::Value as V;
    match v {
        V::Null => "NULL".into(),
        V::Boolean(b) => b.to_string(),
        V::TinyInt(x) => x.to_string(),
        V::SmallInt(x) => x.to_string(),
        V::Int(x) => x.to_string(),
        V::BigInt(x) => x.to_string(),
        V::HugeInt(x) => x.to_string(),
        V::UTinyInt(x) => x.to_string(),
        V::USmallInt(x) => x.to_string(),
        V::UInt(x) => x.to_string(),
        V::UBigInt(x) => x.to_string(),
        V::Float(x) => x.to_string(),
        V::Double(x) => x.to_string(),
        V::Text(s) => s.clone(),
        V::Timestamp(_, micros) => affinity_sync_core::table::format_timestamp(*micros),
        V::List(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        other => format!("{other:?}"),
    }
}
