//! `affinity-sync load duckdb` and `query`: the latest complete sync becomes DuckDB tables
//! equal to the ground truth (from Parquet and from NDJSON alike), loads replace, wide views
//! pivot field values into columns, and mistakes get clear errors.

mod support;

use affinity_mock::model::{EntityKind, Value as Cell};
use affinity_mock::{MockConfig, MockServer, Sizes};
use std::collections::BTreeSet;
use std::path::Path;
use support::*;

async fn run(args: Vec<String>, cwd: &Path) -> std::process::Output {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        affinity_sync(&args, Some("test-key"), &cwd)
    })
    .await
    .unwrap()
}

/// `affinity-sync sync` of the double into `out`, in `format`.
async fn sync_into(base: &str, out: &Path, format: &str, cwd: &Path) -> String {
    let args = [
        "sync",
        "--base-url",
        base,
        "--out",
        &out.display().to_string(),
        "--format",
        format,
        "--quiet",
    ];
    succeeded(&run(args.iter().map(|a| a.to_string()).collect(), cwd).await)
}

/// `affinity-sync load duckdb` of `out` into `db`; returns what it printed.
async fn load_into(out: &Path, db: &Path, cwd: &Path) -> String {
    let args = [
        "load",
        "duckdb",
        "--from",
        &out.display().to_string(),
        "--db",
        &db.display().to_string(),
    ];
    succeeded(&run(args.iter().map(|a| a.to_string()).collect(), cwd).await)
}

fn ids(conn: &duckdb::Connection, sql: &str) -> BTreeSet<i64> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_database_equals_the_ground_truth_in_both_formats() {
    let d = MockServer::start(
        MockConfig {
            seed: 21,
            sizes: Sizes::small(),
            ..MockConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let ds = d.dataset();
    let dir = temp_dir("duckdb");
    for format in ["parquet", "ndjson"] {
        let out = dir.join(format!("out-{format}"));
        let db = dir.join(format!("{format}.duckdb"));
        let s = |x: &Path| x.display().to_string();
        sync_into(&d.base_url(), &out, format, &dir).await;
        let printed = load_into(&out, &db, &dir).await;
        assert!(printed.contains("persons_wide"), "{printed}");

        let conn = duckdb::Connection::open(&db).unwrap();
        assert_eq!(
            ids(&conn, "SELECT id FROM persons"),
            ds.persons.iter().map(|p| p.id).collect()
        );
        assert_eq!(
            ids(&conn, "SELECT id FROM companies"),
            ds.companies.iter().map(|c| c.id).collect()
        );
        assert_eq!(
            ids(&conn, "SELECT id FROM list_entries"),
            ds.list_entries.iter().map(|e| e.id).collect()
        );
        assert_eq!(
            ids(&conn, "SELECT id FROM notes"),
            ds.notes
                .iter()
                .filter(|n| n.parent_id().is_none())
                .map(|n| n.id)
                .collect()
        );
        // Types as declared, whichever format the batches were.
        let ty: String = conn
            .query_row("SELECT data_type FROM information_schema.columns WHERE table_name = 'list_entries' AND column_name = 'created_at'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ty, "TIMESTAMP WITH TIME ZONE", "{format}");
        let ty: String = conn
            .query_row("SELECT data_type FROM information_schema.columns WHERE table_name = 'persons' AND column_name = 'email_addresses'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ty, "VARCHAR[]", "{format}");
        let created: i64 = conn
            .query_row(
                &format!(
                    "SELECT epoch_us(created_at) FROM list_entries WHERE id = {}",
                    ds.list_entries[0].id
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(created, ds.list_entries[0].created_at * 1000);

        // Wide views: one row per entity, one column per field, typed.
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM persons_wide", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows as usize, ds.persons.len());
        let rating = ds
            .fields
            .iter()
            .find(|f| f.entity == EntityKind::Person && f.name == "Rating")
            .unwrap();
        let (person, value) = ds
            .field_values
            .iter()
            .find_map(|v| match v.value {
                Cell::Number(Some(x)) if v.field_id == rating.id => Some((v.entity_id, x)),
                _ => None,
            })
            .unwrap();
        let got: f64 = conn
            .query_row(
                &format!("SELECT \"Rating\" FROM persons_wide WHERE id = {person}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(got, value);
        for list in &ds.lists {
            let n: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM list_{}_wide", list.id),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(
                n as usize,
                ds.list_entries
                    .iter()
                    .filter(|e| e.list_id == list.id)
                    .count()
            );
        }
        let loaded: String = conn
            .query_row("SELECT sync_id FROM _affinity_sync", [], |r| r.get(0))
            .unwrap();
        assert_eq!(loaded, complete_syncs(&out).pop().unwrap());
        drop(conn);

        // A second sync and load replace, never append.
        sync_into(&d.base_url(), &out, format, &dir).await;
        load_into(&out, &db, &dir).await;
        let table = succeeded(
            &run(
                vec![
                    "query".into(),
                    "--db".into(),
                    s(&db),
                    "SELECT count(*) AS persons FROM persons".into(),
                ],
                &dir,
            )
            .await,
        );
        assert!(
            table.contains(&ds.persons.len().to_string()) && table.contains("(1 rows)"),
            "{table}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_needs_a_complete_sync_and_queries_need_a_database() {
    let dir = temp_dir("duckdb-errors");
    let empty = dir.join("nothing");
    std::fs::create_dir_all(&empty).unwrap();
    let s = |x: &Path| x.display().to_string();
    let o = run(
        vec![
            "load".into(),
            "duckdb".into(),
            "--from".into(),
            s(&empty),
            "--db".into(),
            s(&dir.join("x.duckdb")),
        ],
        &dir,
    )
    .await;
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no complete sync"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(
        vec![
            "query".into(),
            "--db".into(),
            s(&dir.join("missing.duckdb")),
            "SELECT 1".into(),
        ],
        &dir,
    )
    .await;
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no DuckDB database"));
    std::fs::remove_dir_all(&dir).ok();
}
