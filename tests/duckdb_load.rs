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

/// The sync manifests in `out`, oldest first.
fn manifests(out: &Path) -> Vec<serde_json::Value> {
    let mut found: Vec<serde_json::Value> = files_under(&out.join("_manifests"))
        .into_iter()
        .filter(|p| p.ends_with("sync.json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    found.sort_by_key(|m| m["started_at"].as_str().unwrap().to_string());
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_adds_what_changed_to_the_full_one() {
    use affinity_mock::model::NoteKind;
    let d = MockServer::start(
        MockConfig {
            seed: 23,
            sizes: Sizes::small(),
            // Three syncs in a row: no pacing to the per-minute limit in this test.
            limits: affinity_mock::RateLimits {
                per_minute: 1_000_000,
                ..Default::default()
            },
            ..MockConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = temp_dir("incremental");
    let (out, db) = (dir.join("out"), dir.join("db.duckdb"));
    let streams = "notes,note_replies,interactions,reminders";
    let sync = |incremental: bool, out: std::path::PathBuf| {
        let base = d.base_url();
        let dir = dir.clone();
        async move {
            let mut args: Vec<String> = [
                "sync",
                "--base-url",
                &base,
                "--out",
                &out.display().to_string(),
                "--streams",
                streams,
                "--quiet",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            if incremental {
                args.push("--incremental".into());
            }
            succeeded(&run(args, &dir).await)
        }
    };
    sync(false, out.clone()).await;

    // After the full sync: three notes edited and one written, now.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (edited, created) = d.edit(|ds| {
        let roots: Vec<usize> = (0..ds.notes.len())
            .filter(|i| matches!(ds.notes[*i].kind, NoteKind::Entities))
            .take(3)
            .collect();
        let mut edited = vec![];
        for i in roots {
            let n = &mut ds.notes[i];
            n.html = Some(format!("<p>edited {}</p>", n.id));
            n.updated_at = Some(now_ms);
            edited.push(n.id);
        }
        let mut new = ds
            .notes
            .iter()
            .find(|n| matches!(n.kind, NoteKind::Entities))
            .unwrap()
            .clone();
        new.id = ds.notes.iter().map(|n| n.id).max().unwrap() + 1;
        new.html = Some("<p>written after the sync</p>".into());
        new.created_at = now_ms;
        new.updated_at = None;
        let id = new.id;
        ds.notes.push(new);
        (edited, id)
    });
    let requests_before = d.stats().requests;
    sync(true, out.clone()).await;
    let incremental_requests = d.stats().requests - requests_before;

    let history = manifests(&out);
    assert_eq!(history.len(), 2);
    let (full, inc) = (&history[0], &history[1]);
    for s in ["notes", "note_replies", "interactions"] {
        assert!(stream_summary(full, s)["since"].is_null());
        assert!(
            stream_summary(inc, s)["since"].is_string(),
            "{s} is incremental: {inc}"
        );
    }
    assert!(
        stream_summary(inc, "reminders")["since"].is_null(),
        "reminders have no filter"
    );
    assert!(stream_summary(inc, "persons")["since"].is_null());
    // Only the changed notes were read again: created since (1) and updated since (3).
    assert_eq!(stream_summary(inc, "notes")["records"], 4);
    assert_eq!(stream_summary(inc, "notes")["chains"], 2);
    let full_pages = |m: &serde_json::Value| -> u64 {
        ["notes", "note_replies", "interactions"]
            .iter()
            .map(|s| stream_summary(m, s)["pages"].as_u64().unwrap())
            .sum()
    };
    assert!(
        full_pages(inc) < full_pages(full),
        "incremental: {} pages, full: {} ({incremental_requests} requests)",
        full_pages(inc),
        full_pages(full)
    );

    let printed = load_into(&out, &db, &dir).await;
    assert!(printed.contains("notes"), "{printed}");
    // The per-sync load `ddl` prints refuses the incremental sync (its batches are only what
    // changed) and names the full one.
    let refused = run(
        [
            "ddl",
            "--dialect",
            "snowflake",
            "--from",
            &out.display().to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect(),
        &dir,
    )
    .await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("read notes, note_replies, interactions incrementally")
            && err.contains(&format!("--sync-id {}", full["sync_id"].as_str().unwrap()))
            && err.contains("ddl --views"),
        "{err}"
    );
    let truth = d.dataset();
    let conn = duckdb::Connection::open(&db).unwrap();
    let want: BTreeSet<i64> = truth
        .notes
        .iter()
        .filter(|n| n.parent_id().is_none())
        .map(|n| n.id)
        .collect();
    assert_eq!(ids(&conn, "SELECT id FROM notes"), want);
    assert!(want.contains(&created));
    for id in &edited {
        let content: String = conn
            .query_row("SELECT content_html FROM notes WHERE id = ?", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(content, format!("<p>edited {id}</p>"));
    }
    drop(conn);

    // The same tables as a full sync of the changed double.
    let (fresh_out, fresh_db) = (dir.join("fresh"), dir.join("fresh.duckdb"));
    sync(false, fresh_out.clone()).await;
    load_into(&fresh_out, &fresh_db, &dir).await;
    support::changes::assert_same(
        &db,
        &fresh_db,
        &[
            "notes",
            "note_replies",
            "interactions",
            "reminders",
            "persons",
        ],
        &printed,
    );

    // Without the full sync to build on, loading says what to do.
    for m in files_under(&out.join("_manifests")) {
        if m.to_string_lossy()
            .contains(full["sync_id"].as_str().unwrap())
        {
            std::fs::remove_file(m).unwrap();
        }
    }
    let failed = run(
        [
            "load",
            "duckdb",
            "--from",
            &out.display().to_string(),
            "--db",
            &dir.join("other.duckdb").display().to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect(),
        &dir,
    )
    .await;
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("no complete full sync of it") && err.contains("without --incremental"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_duckdb_statements_load_the_same_rows() {
    let d = MockServer::start(
        MockConfig {
            seed: 29,
            sizes: Sizes::small(),
            ..MockConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = temp_dir("ddl");
    let (out, loaded, printed) = (
        dir.join("out"),
        dir.join("loaded.duckdb"),
        dir.join("printed.duckdb"),
    );
    sync_into(&d.base_url(), &out, "parquet", &dir).await;
    load_into(&out, &loaded, &dir).await;
    let args = [
        "ddl",
        "--dialect",
        "duckdb",
        "--from",
        &out.display().to_string(),
    ];
    let sql = succeeded(&run(args.iter().map(|a| a.to_string()).collect(), &dir).await);
    let conn = duckdb::Connection::open(&printed).unwrap();
    conn.execute_batch(&sql).unwrap();
    drop(conn);

    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "ATTACH '{}' AS l (READ_ONLY); ATTACH '{}' AS p (READ_ONLY);",
        loaded.display(),
        printed.display()
    ))
    .unwrap();
    let manifest = manifests(&out).pop().unwrap();
    let mut compared = 0;
    for s in manifest["streams"].as_array().unwrap() {
        for t in s["tables"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            let differ = |a: &str, b: &str| -> i64 {
                conn.query_row(
                    &format!(
                        "SELECT count(*) FROM (SELECT CAST(COLUMNS(*) AS VARCHAR) FROM {a}.{t} \
                         EXCEPT ALL SELECT CAST(COLUMNS(*) AS VARCHAR) FROM {b}.{t})"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap()
            };
            let rows: i64 = conn
                .query_row(&format!("SELECT count(*) FROM p.{t}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!((differ("l", "p"), differ("p", "l")), (0, 0), "{t}");
            compared += rows;
        }
    }
    assert!(compared > 1000, "{compared} rows compared");

    // Nothing to go on: a clear error.
    let bare = run(
        ["ddl", "--dialect", "snowflake"]
            .iter()
            .map(|a| a.to_string())
            .collect(),
        &dir,
    )
    .await;
    assert!(!bare.status.success());
    assert!(String::from_utf8_lossy(&bare.stderr).contains("--sync-id"));
}
