//! `affinity-sync load postgres`: the latest complete sync of a directory or bucket as
//! PostgreSQL tables, with the webhook changes received since applied on top.
//!
//! - **Tables** come from the catalog's stable schemas, in a schema of their own (`--schema`,
//!   default `affinity`): bigint, double precision, text, jsonb for raw field values,
//!   timestamptz, text[] and bigint[]. A table from an older release is migrated: missing
//!   columns are added and a column whose type changed is retyped (its rows are replaced
//!   anyway). Each table has an index on its primary key columns, which the upserts use.
//! - **Rows** go in by binary `COPY`, one batch object at a time (memory stays at one page),
//!   read back by `affinity_sync_core::batch_read` from Parquet or gzip NDJSON alike.
//! - **Replace, one transaction per stream**: a stream's tables are emptied and refilled in
//!   one transaction, so readers keep seeing the previous load until it commits (PostgreSQL's
//!   MVCC: a `DELETE` does not block them), never half a table. A stream synced with
//!   `--incremental` is its latest full sync with each later sync's rows upserted on top.
//! - **Webhook changes** (`changes/`) are applied in a last transaction with the same SQL as
//!   `load duckdb` (`change_sql`), by primary key.
//!
//! The DSN's password never appears in output or errors: only host, port, database and user.

use super::change_sql::{self, quote_ident, quote_str, up_table};
use super::ddl::Dialect;
use super::plan::syncs_of;
use affinity_sync_core::Format;
use affinity_sync_core::batch_read;
use affinity_sync_core::changes::{CHANGE_EVENTS, TOMBSTONES};
use affinity_sync_core::layout::SyncManifest;
use affinity_sync_core::table::{Cell, Table, Ty};
use affinity_sync_io::ObjectSink;
use anyhow::{Context, Result};
use bytes::{BufMut, BytesMut};
use futures_util::pin_mut;
use std::collections::HashSet;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, GenericClient, NoTls};

/// What a load did.
pub struct Loaded {
    pub sync_id: String,
    pub tables: Vec<(String, u64)>,
    pub changes: super::change_sql::Applied,
}

/// The PostgreSQL type of a column as the server names it (`format_type`), for migrations:
/// the DDL's type, with `TIMESTAMPTZ` spelled out.
fn server_type(ty: Ty) -> String {
    match Dialect::Postgres.type_of(ty).to_lowercase().as_str() {
        "timestamptz" => "timestamp with time zone".into(),
        other => other.into(),
    }
}

/// The binary COPY type of a column.
fn copy_type(ty: Ty) -> Type {
    match ty {
        Ty::Int64 => Type::INT8,
        Ty::Float64 => Type::FLOAT8,
        Ty::Utf8 => Type::TEXT,
        Ty::Json => Type::JSONB,
        Ty::Bool => Type::BOOL,
        Ty::Timestamp => Type::TIMESTAMPTZ,
        Ty::Utf8List => Type::TEXT_ARRAY,
        Ty::Int64List => Type::INT8_ARRAY,
    }
}

/// One cell in PostgreSQL's binary format. The cells come from `batch_read`, which types
/// them by the same catalog column, so each kind meets the type it was declared with.
#[derive(Debug)]
struct PgCell<'a>(&'a Cell);

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl ToSql for PgCell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Int(v) => v.to_sql(ty, out),
            Cell::Float(v) => v.to_sql(ty, out),
            Cell::Str(v) => v.as_str().to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
            Cell::Micros(v) => {
                out.put_i64(v - PG_EPOCH_MICROS);
                Ok(IsNull::No)
            }
            Cell::Json(v) => {
                // jsonb's binary form: a version byte, then the JSON text.
                out.put_u8(1);
                out.put_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            Cell::StrList(v) => v.to_sql(ty, out),
            Cell::IntList(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Where the DSN points, without its password: for messages.
pub fn describe(dsn: &str) -> String {
    match dsn.parse::<tokio_postgres::Config>() {
        Ok(c) => {
            let hosts: Vec<String> = c
                .get_hosts()
                .iter()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect();
            let port = c.get_ports().first().copied().unwrap_or(5432);
            format!(
                "postgres://{}@{}:{port}/{}",
                c.get_user().unwrap_or("?"),
                hosts.join(","),
                c.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "the PostgreSQL DSN".into(),
    }
}

async fn connect(dsn: &str) -> Result<Client> {
    let config: tokio_postgres::Config = dsn.parse().map_err(|e| {
        anyhow::anyhow!(
            "--dsn is not a PostgreSQL connection string ({e}): write it as postgres://user:password@host:5432/database"
        )
    })?;
    let (client, connection) = config.connect(NoTls).await.with_context(|| {
        format!(
            "connecting to {} (TLS is not supported yet: use sslmode=disable or prefer, through a private network or tunnel)",
            describe(dsn)
        )
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("PostgreSQL connection closed: {e}");
        }
    });
    Ok(client)
}

/// Creates `table` (named `name`) if missing, or brings its columns to the catalog's.
async fn ensure_table(
    db: &impl GenericClient,
    schema: &str,
    name: &str,
    table: &Table,
) -> Result<()> {
    let q = quote_ident(name);
    db.batch_execute(&super::ddl::create(Dialect::Postgres, table, &q))
        .await
        .with_context(|| format!("creating the table {name}"))?;
    let existing = db
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            &[&schema, &name],
        )
        .await?;
    for c in table.columns {
        let want = server_type(c.ty);
        let col = quote_ident(c.name);
        match existing.iter().find(|r| r.get::<_, String>(0) == c.name) {
            None => db
                .batch_execute(&format!(
                    "ALTER TABLE {q} ADD COLUMN {col} {}",
                    Dialect::Postgres.type_of(c.ty)
                ))
                .await
                .with_context(|| format!("adding the column {} to {name}", c.name))?,
            Some(r) if r.get::<_, String>(1) != want => db
                .batch_execute(&format!(
                    "ALTER TABLE {q} ALTER COLUMN {col} TYPE {t} USING CAST(NULL AS {t})",
                    t = Dialect::Postgres.type_of(c.ty)
                ))
                .await
                .with_context(|| format!("retyping the column {} of {name} as {want}", c.name))?,
            Some(_) => {}
        }
    }
    let keys: Vec<String> = table.primary_key.iter().map(|k| quote_ident(k)).collect();
    if !keys.is_empty() {
        db.batch_execute(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {q} ({})",
            quote_ident(&format!("{name}_key")),
            keys.join(", ")
        ))
        .await?;
    }
    Ok(())
}

/// The batch objects under `prefix`, with their format.
async fn batches<S: ObjectSink>(sink: &S, prefix: &str) -> Result<Vec<(String, Format)>> {
    Ok(sink
        .list(prefix)
        .await?
        .into_iter()
        .filter_map(|k| {
            let format = [Format::Parquet, Format::Ndjson]
                .into_iter()
                .find(|f| k.ends_with(&format!(".{}", f.extension())))?;
            Some((k, format))
        })
        .collect())
}

/// Copies the rows of every batch under `prefix` into `into` (columns of `table`), one batch
/// in memory at a time; returns how many rows.
async fn copy_in<S: ObjectSink>(
    db: &impl GenericClient,
    sink: &S,
    prefix: &str,
    table: &'static Table,
    into: &str,
) -> Result<u64> {
    let objects = batches(sink, prefix).await?;
    if objects.is_empty() {
        return Ok(0);
    }
    let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(c.name)).collect();
    let types: Vec<Type> = table.columns.iter().map(|c| copy_type(c.ty)).collect();
    let copy = db
        .client()
        .copy_in(&format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            quote_ident(into),
            cols.join(", ")
        ))
        .await
        .with_context(|| format!("starting the copy into {into}"))?;
    let writer = BinaryCopyInWriter::new(copy, &types);
    pin_mut!(writer);
    let mut n = 0u64;
    for (key, format) in objects {
        let bytes = sink
            .get(&key)
            .await?
            .with_context(|| format!("the batch {key} was listed but is gone"))?;
        let rows = batch_read::read(table, format, bytes)
            .with_context(|| format!("reading the batch {key}"))?;
        for r in 0..rows.len {
            let row: Vec<PgCell> = rows.cells.iter().map(|c| PgCell(&c[r])).collect();
            writer
                .as_mut()
                .write_raw(row.iter().map(|c| c as &(dyn ToSql + Sync)))
                .await
                .with_context(|| format!("copying {key} into {into}"))?;
        }
        n += rows.len as u64;
    }
    writer
        .finish()
        .await
        .with_context(|| format!("finishing the copy into {into}"))?;
    Ok(n)
}

async fn count(db: &impl GenericClient, sql: &str) -> Result<u64> {
    let n: i64 = db.query_one(sql, &[]).await?.get(0);
    Ok(n as u64)
}

/// Upserts the rows of the temporary table `from` into `table` by its primary key (a record
/// read twice in one sync, by its created-since and updated-since chains, counts once).
async fn upsert(db: &impl GenericClient, table: &Table, from: &str) -> Result<()> {
    let name = quote_ident(table.name);
    let keys: Vec<String> = table.primary_key.iter().map(|k| quote_ident(k)).collect();
    let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(c.name)).collect();
    let from = quote_ident(from);
    db.batch_execute(&format!(
        "DELETE FROM {name} t USING {from} n WHERE {on}; \
         INSERT INTO {name} ({cols}) SELECT DISTINCT ON ({keys}) {cols} FROM {from};",
        on = keys
            .iter()
            .map(|k| format!("t.{k} = n.{k}"))
            .collect::<Vec<_>>()
            .join(" AND "),
        keys = keys.join(", "),
        cols = cols.join(", "),
    ))
    .await
    .with_context(|| format!("adding the incremental rows of {}", table.name))
}

/// The tables of the current schema.
async fn existing_tables(db: &impl GenericClient, schema: &str) -> Result<HashSet<String>> {
    Ok(db
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
            &[&schema],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Loads the latest complete sync in `sink` (`from` names it in messages) into the schema
/// `schema` of the database at `dsn`.
pub async fn load<S: ObjectSink>(sink: &S, from: &str, dsn: &str, schema: &str) -> Result<Loaded> {
    let history = affinity_sync_io::journal::history(sink).await?;
    let manifest: SyncManifest = history.last().cloned().with_context(|| {
        format!("no complete sync in {from}: run `affinity-sync sync --out {from}` first")
    })?;
    let mut client = connect(dsn).await?;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s}",
            s = quote_ident(schema)
        ))
        .await
        .with_context(|| {
            format!("creating the schema {schema} (the user needs CREATE on the database)")
        })?;

    let mut tables = vec![];
    for s in &manifest.streams {
        let syncs = syncs_of(&history, &s.stream, from)?;
        let tx = client.transaction().await?;
        for name in &s.tables {
            let t = super::plan::table_of(&manifest, name)?;
            ensure_table(&tx, schema, name, t).await?;
            tx.batch_execute(&format!("DELETE FROM {}", quote_ident(name)))
                .await?;
            copy_in(&tx, sink, &sync_prefix(name, &syncs[0].sync_id), t, name).await?;
            for later in &syncs[1..] {
                tx.batch_execute(&format!(
                    "CREATE TEMP TABLE _incoming (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP",
                    quote_ident(name)
                ))
                .await?;
                copy_in(
                    &tx,
                    sink,
                    &sync_prefix(name, &later.sync_id),
                    t,
                    "_incoming",
                )
                .await?;
                upsert(&tx, t, "_incoming").await?;
                tx.batch_execute("DROP TABLE _incoming").await?;
            }
            let n = count(&tx, &format!("SELECT count(*) FROM {}", quote_ident(name))).await?;
            tables.push((name.clone(), n));
        }
        tx.commit()
            .await
            .with_context(|| format!("committing the stream {}", s.stream))?;
    }

    let tx = client.transaction().await?;
    let changes = apply_changes(&tx, sink, schema, &manifest.started_at).await?;
    tx.batch_execute(&format!(
        "DROP TABLE IF EXISTS _affinity_sync; \
         CREATE TABLE _affinity_sync AS SELECT CAST({} AS text) AS sync_id, CAST({} AS text) AS format, \
           CAST({} AS timestamptz) AS finished_at, now() AS loaded_at",
        quote_str(&manifest.sync_id),
        quote_str(&manifest.format),
        quote_str(&manifest.finished_at)
    ))
    .await?;
    tx.commit()
        .await
        .context("committing the webhook changes")?;
    Ok(Loaded {
        sync_id: manifest.sync_id,
        tables,
        changes,
    })
}

fn sync_prefix(table: &str, sync_id: &str) -> String {
    format!("{table}/sync_id={sync_id}/")
}

/// Loads `changes/` (events, tombstones, refreshed rows) and applies it.
async fn apply_changes<S: ObjectSink>(
    tx: &tokio_postgres::Transaction<'_>,
    sink: &S,
    schema: &str,
    sync_started_at: &str,
) -> Result<change_sql::Applied> {
    let mut applied = change_sql::Applied::default();
    for (t, dir) in [(&CHANGE_EVENTS, "events"), (&TOMBSTONES, "tombstones")] {
        ensure_table(tx, schema, t.name, t).await?;
        let name = quote_ident(t.name);
        tx.batch_execute(&format!(
            "DELETE FROM {name}; CREATE TEMP TABLE _incoming (LIKE {name}) ON COMMIT DROP"
        ))
        .await?;
        copy_in(tx, sink, &format!("changes/{dir}/"), t, "_incoming").await?;
        // A redelivered event rewrites the same object; an event seen twice counts once.
        tx.batch_execute(&format!(
            "INSERT INTO {name} SELECT DISTINCT * FROM _incoming; DROP TABLE _incoming"
        ))
        .await
        .with_context(|| format!("loading {}", t.name))?;
    }
    applied.events = count(tx, "SELECT count(*) FROM change_events").await?;
    if batches(sink, "changes/").await?.is_empty() {
        return Ok(applied);
    }
    let loaded = existing_tables(tx, schema).await?;
    let exists = |t: &str| loaded.contains(t);
    for t in change_sql::refreshed_tables(&exists) {
        let up = up_table(t.name);
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP",
            quote_ident(&up),
            quote_ident(t.name)
        ))
        .await?;
        copy_in(tx, sink, &format!("changes/{}/", t.name), t, &up)
            .await
            .with_context(|| format!("reading the refreshed rows of {}", t.name))?;
    }
    tx.batch_execute(&change_sql::order(
        Dialect::Postgres,
        &exists,
        sync_started_at,
    )?)
    .await
    .context("ordering the changes")?;
    applied.upserted = count(tx, change_sql::COUNT_UPSERTS).await?;
    applied.deleted = count(tx, change_sql::COUNT_DELETES).await?;
    for (what, sql) in change_sql::apply(Dialect::Postgres, &exists) {
        tx.batch_execute(&sql).await.context(what)?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_appears_in_the_description() {
        let d = describe("postgres://loader:s3cr3t-pass@db.internal:6543/warehouse");
        assert_eq!(d, "postgres://loader@db.internal:6543/warehouse");
        let d = describe("host=db.internal user=loader password=s3cr3t-pass dbname=w");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(!describe("postgres://a:s3cr3t@[bad").contains("s3cr3t"));
    }

    #[test]
    fn every_catalog_type_has_the_name_the_server_reports_back() {
        // What format_type() answers for each column type: a disagreement would retype the
        // column at every load.
        for (ty, server) in [
            (Ty::Int64, "bigint"),
            (Ty::Float64, "double precision"),
            (Ty::Utf8, "text"),
            (Ty::Json, "jsonb"),
            (Ty::Bool, "boolean"),
            (Ty::Timestamp, "timestamp with time zone"),
            (Ty::Utf8List, "text[]"),
            (Ty::Int64List, "bigint[]"),
        ] {
            assert_eq!(server_type(ty), server, "{ty:?}");
        }
    }
}
