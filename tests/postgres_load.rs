//! `affinity-sync load postgres` against a real PostgreSQL (a throwaway cluster per test):
//! after a full sync, after webhook changes and after a second, incremental sync, every
//! PostgreSQL table holds exactly the rows `load duckdb` makes of the same directory (itself
//! checked against the double in tests/duckdb_load.rs and tests/webhooks.rs), the changed
//! tables equal a fresh full sync of the changed double, and the ids equal the double's own
//! records. The DSN's password shows nowhere.

mod support;

use affinity_sync_core::table::{Table, Ty};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::changes::{TABLES, change, idle, serve};
use support::postgres::{PASSWORD, Postgres, start_postgres};
use support::*;

const SCHEMA: &str = "affinity";

async fn cli(args: Vec<String>, cwd: PathBuf) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        affinity_sync(&args, Some("test-key"), &cwd)
    })
    .await
    .unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

async fn sync(base: &str, out: &Path, extra: &[&str], cwd: &Path) {
    let mut args = strings(&["sync", "--base-url", base, "--out", &s(out), "--quiet"]);
    args.extend(strings(extra));
    succeeded(&cli(args, cwd.into()).await);
}

async fn load_duckdb(out: &Path, db: &Path, cwd: &Path) {
    let _ = std::fs::remove_file(db);
    let args = strings(&["load", "duckdb", "--from", &s(out), "--db", &s(db)]);
    succeeded(&cli(args, cwd.into()).await);
}

/// `load postgres`; returns what it printed, which must not hold the password.
async fn load_postgres(out: &Path, pg: &Postgres, cwd: &Path) -> String {
    let args = strings(&[
        "load",
        "postgres",
        "--from",
        &s(out),
        "--dsn",
        &pg.dsn(),
        "--schema",
        SCHEMA,
    ]);
    let o = cli(args, cwd.into()).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "the password was printed:\n{stdout}\n{stderr}"
    );
    succeeded(&o)
}

/// Numbers as f64 and object keys sorted (the change ids' canonical form), so both engines'
/// JSON compares as values.
fn canonical(v: &Value) -> String {
    fn norm(v: &Value) -> Value {
        match v {
            Value::Number(n) => json!(n.as_f64().unwrap()),
            Value::Array(items) => Value::Array(items.iter().map(norm).collect()),
            Value::Object(m) => {
                let sorted: std::collections::BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, norm(v))).collect();
                serde_json::to_value(sorted).unwrap()
            }
            other => other.clone(),
        }
    }
    let mut out = String::new();
    affinity_sync_core::changes::canonical(&norm(v), &mut out);
    out
}

/// A table's rows in PostgreSQL, canonical and sorted; `None` when it does not exist.
async fn pg_rows(client: &tokio_postgres::Client, t: &Table, keep_sync_id: bool) -> Vec<String> {
    let cols: Vec<String> = t
        .columns
        .iter()
        .filter(|c| keep_sync_id || c.name != "_sync_id")
        .map(|c| match c.ty {
            Ty::Timestamp => format!(
                "CAST(extract(epoch FROM \"{0}\") * 1000000 AS bigint) AS \"{0}\"",
                c.name
            ),
            _ => format!("\"{}\"", c.name),
        })
        .collect();
    let sql = format!(
        "SELECT CAST(row_to_json(x) AS text) FROM (SELECT {} FROM {SCHEMA}.\"{}\") x",
        cols.join(", "),
        t.name
    );
    let mut rows: Vec<String> = client
        .query(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| canonical(&serde_json::from_str(r.get::<_, &str>(0)).unwrap()))
        .collect();
    rows.sort();
    rows
}

/// The same table's rows in a DuckDB database `load duckdb` made.
fn duck_rows(db: &Path, t: &Table, keep_sync_id: bool) -> Vec<String> {
    let conn = duckdb::Connection::open(db).unwrap();
    let cols: Vec<String> = t
        .columns
        .iter()
        .filter(|c| keep_sync_id || c.name != "_sync_id")
        .map(|c| match c.ty {
            Ty::Timestamp => format!("epoch_us(\"{0}\") AS \"{0}\"", c.name),
            Ty::Json => format!("CAST(\"{0}\" AS JSON) AS \"{0}\"", c.name),
            _ => format!("\"{}\"", c.name),
        })
        .collect();
    let sql = format!(
        "SELECT CAST(to_json(x) AS VARCHAR) FROM (SELECT {} FROM \"{}\") x",
        cols.join(", "),
        t.name
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let mut rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| canonical(&serde_json::from_str(&r.unwrap()).unwrap()))
        .collect();
    rows.sort();
    rows
}

/// Every table in `tables` holds the same rows in PostgreSQL and in the DuckDB `db`.
async fn assert_same(
    client: &tokio_postgres::Client,
    db: &Path,
    tables: &[&str],
    keep_sync_id: bool,
    when: &str,
) {
    for name in tables {
        let t = affinity_sync_core::catalog::table(name)
            .or_else(|| {
                affinity_sync_core::changes::tables()
                    .into_iter()
                    .find(|t| t.name == *name)
            })
            .unwrap();
        let (pg, duck) = (
            pg_rows(client, t, keep_sync_id).await,
            duck_rows(db, t, keep_sync_id),
        );
        if pg != duck {
            let (p, d): (BTreeSet<_>, BTreeSet<_>) = (pg.iter().collect(), duck.iter().collect());
            let only_pg: Vec<_> = p.difference(&d).take(3).collect();
            let only_duck: Vec<_> = d.difference(&p).take(3).collect();
            panic!(
                "{when}: {name}: {} rows in PostgreSQL, {} in DuckDB\nonly in PostgreSQL: {only_pg:#?}\nonly in DuckDB: {only_duck:#?}",
                pg.len(),
                duck.len()
            );
        }
    }
}

async fn ids(client: &tokio_postgres::Client, sql: &str) -> BTreeSet<i64> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The tables of the latest complete sync in `out`.
fn sync_tables(out: &Path) -> Vec<String> {
    let id = complete_syncs(out).pop().unwrap();
    let m: Value = serde_json::from_slice(
        &std::fs::read(out.join(format!("_manifests/sync_id={id}/sync.json"))).unwrap(),
    )
    .unwrap();
    m["streams"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tables"].as_array().unwrap().iter())
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_holds_the_sync_then_the_webhook_changes_then_the_next_sync() {
    let pg = start_postgres();
    let client = pg.client().await;
    let d = support::e2e::small_double(31, "test-key").await;
    let work = temp_dir("postgres");
    let (out, db) = (work.join("out"), work.join("same.duckdb"));

    // 1. A full sync.
    sync(&d.base_url(), &out, &[], &work).await;
    let printed = load_postgres(&out, &pg, &work).await;
    assert!(
        printed.contains("loaded sync") && printed.contains("persons"),
        "{printed}"
    );
    load_duckdb(&out, &db, &work).await;
    let tables = sync_tables(&out);
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    assert!(names.len() > 15, "{names:?}");
    assert_same(&client, &db, &names, true, "after the full sync").await;
    let truth: BTreeSet<i64> = d.dataset().persons.iter().map(|p| p.id).collect();
    assert_eq!(ids(&client, "SELECT id FROM affinity.persons").await, truth);

    // 2. Webhook changes: the changed tables equal a fresh full sync of the changed double.
    let receiver = serve(&d.base_url(), &out, &work);
    change(
        &d,
        &receiver,
        60,
        json!({"seed": 8, "duplicate_every": 4, "shuffle_window": 5}),
    )
    .await;
    idle(&receiver).await;
    drop(receiver);
    let printed = load_postgres(&out, &pg, &work).await;
    assert!(printed.contains("webhook changes: "), "{printed}");
    let (fresh, fresh_db) = (work.join("fresh"), work.join("fresh.duckdb"));
    sync(&d.base_url(), &fresh, &[], &work).await;
    load_duckdb(&fresh, &fresh_db, &work).await;
    // _sync_id differs (the sync's or the change's): the rest must match.
    let changed: Vec<&str> = TABLES
        .iter()
        .copied()
        .filter(|t| !["person_fields", "company_fields", "list_fields"].contains(t))
        .collect();
    assert_same(
        &client,
        &fresh_db,
        &changed,
        false,
        "after the webhook changes",
    )
    .await;
    load_duckdb(&out, &db, &work).await;
    assert_same(
        &client,
        &db,
        &["change_events", "tombstones"],
        true,
        "change tables",
    )
    .await;
    let truth: BTreeSet<i64> = d.dataset().persons.iter().map(|p| p.id).collect();
    assert_eq!(ids(&client, "SELECT id FROM affinity.persons").await, truth);

    // 3. A second, incremental sync, loaded again (replacing): the same as DuckDB's load.
    sync(&d.base_url(), &out, &["--incremental"], &work).await;
    load_postgres(&out, &pg, &work).await;
    load_duckdb(&out, &db, &work).await;
    assert_same(&client, &db, &names, true, "after the incremental sync").await;
    let n: i64 = client
        .query_one("SELECT count(*) FROM affinity._affinity_sync", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_batches_load_and_an_old_table_is_migrated() {
    let pg = start_postgres();
    let client = pg.client().await;
    // A table left by an older release: a column missing, one of another type, one extra.
    client
        .batch_execute(
            "CREATE SCHEMA affinity; \
             CREATE TABLE affinity.persons (id text, first_name text, retired_column int); \
             INSERT INTO affinity.persons VALUES ('stale', 'Old', 1);",
        )
        .await
        .unwrap();
    let d = support::e2e::small_double(32, "test-key").await;
    let work = temp_dir("postgres-ndjson");
    let (out, db) = (work.join("out"), work.join("same.duckdb"));
    sync(&d.base_url(), &out, &["--format", "ndjson"], &work).await;
    load_postgres(&out, &pg, &work).await;
    load_duckdb(&out, &db, &work).await;
    let tables = sync_tables(&out);
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    assert_same(&client, &db, &names, true, "from NDJSON").await;
    let ty: String = client
        .query_one(
            "SELECT data_type::text FROM information_schema.columns \
             WHERE table_schema = 'affinity' AND table_name = 'persons' AND column_name = 'id'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ty, "bigint");

    // Mistakes get clear errors that keep the password out.
    let bad = cli(
        strings(&[
            "load",
            "postgres",
            "--from",
            &s(&out),
            "--dsn",
            &format!("postgres://loader:{PASSWORD}@127.0.0.1:1/postgres"),
        ]),
        work.clone(),
    )
    .await;
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        err.contains("connecting to postgres://loader@127.0.0.1:1/postgres")
            && !err.contains(PASSWORD),
        "{err}"
    );
    let missing = cli(
        strings(&[
            "load",
            "postgres",
            "--from",
            &s(&work.join("nothing")),
            "--dsn",
            &pg.dsn(),
        ]),
        work.clone(),
    )
    .await;
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("no such directory") && err.contains("affinity-sync sync --out"),
        "{err}"
    );
}
