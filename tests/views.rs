//! `affinity-sync ddl --views`: views created once over a store show what `load duckdb`
//! builds, table for table and row for row, and keep showing it as the store moves on: a full
//! sync, an incremental one, webhook changes, a stopped sync (never shown) and a later
//! complete sync (shown with nothing run again). DuckDB's run on DuckDB, Snowflake's on
//! fakesnow, Databricks' on Apache Spark, BigQuery's and Redshift's on DuckDB as sqlglot
//! translates them (tests/warehouse_views.py).

mod support;

use affinity_mock::model::NoteKind;
use affinity_mock::{FaultPlan, MockServer};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::changes::{change, idle, serve};
use support::*;

async fn cli(args: &[&str], cwd: &Path) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        affinity_sync(&args, Some("test-key"), &cwd)
    })
    .await
    .unwrap()
}

async fn sync(base: &str, out: &Path, extra: &[&str], cwd: &Path) -> std::process::Output {
    let o = out.display().to_string();
    let mut args = vec!["sync", "--base-url", base, "--out", &o, "--quiet"];
    args.extend_from_slice(extra);
    cli(&args, cwd).await
}

/// What `affinity-sync ddl <args>` printed.
async fn ddl(args: &[&str], cwd: &Path) -> String {
    let mut all = vec!["ddl"];
    all.extend_from_slice(args);
    succeeded(&cli(&all, cwd).await)
}

/// `load duckdb` of `out` into a new database; returns its path.
async fn load(out: &Path, cwd: &Path, name: &str) -> PathBuf {
    let db = cwd.join(name);
    let (o, d) = (out.display().to_string(), db.display().to_string());
    succeeded(&cli(&["load", "duckdb", "--from", &o, "--db", &d], cwd).await);
    db
}

/// The first column of `sql`'s rows, as text.
fn strings(conn: &duckdb::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The tables `load duckdb` made in `db` (not its own `_affinity_sync`).
fn loaded_tables(conn: &duckdb::Connection) -> Vec<String> {
    strings(
        conn,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_catalog = 'l' AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_%' ESCAPE '\\' \
         ORDER BY table_name",
    )
}

/// Every table `load duckdb` made in `loaded` equals the view of the same name in `views`,
/// every column compared as text, duplicates counted, and no view shows a row of the sync
/// `hidden`; returns the rows compared. Each view is read once (the DuckDB the tests link is
/// built without optimizations).
fn assert_views_equal_load(views: &Path, loaded: &Path, hidden: Option<&str>) -> i64 {
    let conn = duckdb::Connection::open(views).unwrap();
    conn.execute_batch(&format!("ATTACH '{}' AS l (READ_ONLY);", loaded.display()))
        .unwrap();
    let tables = loaded_tables(&conn);
    for t in [
        "persons",
        "list_entries_field_values",
        "notes",
        "tombstones",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} loaded: {tables:?}");
    }
    let mut compared = 0;
    for t in &tables {
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE shown AS SELECT * FROM main.\"{t}\""
        ))
        .unwrap_or_else(|e| panic!("reading the view {t}: {e}"));
        let only = |a: &str, b: &str| -> i64 {
            conn.query_row(
                &format!(
                    "SELECT count(*) FROM (SELECT CAST(COLUMNS(*) AS VARCHAR) FROM {a} \
                     EXCEPT ALL SELECT CAST(COLUMNS(*) AS VARCHAR) FROM {b})"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("comparing {t}: {e}"))
        };
        let load = format!("l.\"{t}\"");
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {load}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            (only("shown", &load), only(&load, "shown")),
            (0, 0),
            "{t}: rows only in the views, rows only in the load ({rows} loaded)"
        );
        if let Some(id) = hidden.filter(|_| !["change_events", "tombstones"].contains(&t.as_str()))
        {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM shown WHERE _sync_id = ?", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(n, 0, "{t} shows rows of the stopped sync {id}");
        }
        compared += rows;
    }
    compared
}

/// What tests/warehouse_views.py printed for `engine`, once it has compared every table and
/// wide view (the main ones among them, none empty) and found them equal.
fn all_equal(run: &std::process::Output, engine: &str) -> String {
    let report = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        run.status.success(),
        "{engine}: {report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for t in [
        "persons",
        "list_entries_field_values",
        "notes",
        "tombstones",
        "persons_wide",
        "companies_wide",
    ] {
        assert!(
            report.contains(&format!("\n{t}: ")),
            "{engine}: {t} compared: {report}"
        );
    }
    assert!(
        report.lines().any(|l| l.starts_with("list_")
            && l.contains("_wide: ")
            && l.ends_with(" rows, equal")),
        "{engine}: a list's wide view compared: {report}"
    );
    assert!(
        !report
            .lines()
            .any(|l| l.ends_with(": 0 rows, equal") && !l.contains("_wide")),
        "{engine}: {report}"
    );
    report
}

/// tests/warehouse_views.py for `engine`, on the statements `sql` (written into `work`) over
/// `store`, comparing each view with the tables `load duckdb` made in `loaded`.
fn warehouse_views(
    engine: &str,
    sql: &str,
    store: &Path,
    loaded: &Path,
    work: &Path,
) -> std::process::Command {
    let file = work.join(format!("{engine}.sql"));
    std::fs::write(&file, sql).unwrap();
    let mut command = std::process::Command::new(python());
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/warehouse_views.py"
        ))
        .arg(engine)
        .args([file.as_path(), store, loaded])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// A child process, killed if the test ends before it is waited for.
struct Running(Option<std::process::Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A copy of the folder `from` at `to`.
fn copy_dir(from: &Path, to: &Path) {
    for file in files_under(from) {
        let target = to.join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
}

/// Edits two notes (on entities, not among `spare`) in the double without a webhook.
fn edit_notes(d: &MockServer, text: &str, spare: &BTreeSet<i64>) -> Vec<i64> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    d.edit(|ds| {
        let mut edited = vec![];
        for n in ds
            .notes
            .iter_mut()
            .filter(|n| matches!(n.kind, NoteKind::Entities) && !spare.contains(&n.id))
            .take(2)
        {
            n.html = Some(format!("<p>{text} {}</p>", n.id));
            n.updated_at = Some(now_ms);
            edited.push(n.id);
        }
        edited
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_follow_the_store_as_load_duckdb_would() {
    // Four syncs in a row: no pacing to the per-minute limit.
    let d = support::e2e::unpaced_double(43).await;
    let base = d.base_url();
    let work = temp_dir("views");
    let out = work.join("out");
    let o = out.display().to_string();
    let views = work.join("views.duckdb");

    // The views are made once, before the first sync: nothing to show yet, and no error.
    let sql = ddl(&["--dialect", "duckdb", "--views", "--location", &o], &work).await;
    let conn = duckdb::Connection::open(&views).unwrap();
    conn.execute_batch(&sql).unwrap();
    let empty: i64 = conn
        .query_row("SELECT count(*) FROM persons", [], |r| r.get(0))
        .unwrap();
    assert_eq!(empty, 0);
    drop(conn);

    // A full sync, an incremental one, then webhook changes.
    succeeded(&sync(&base, &out, &[], &work).await);
    edit_notes(&d, "edited", &BTreeSet::new());
    succeeded(&sync(&base, &out, &["--incremental"], &work).await);
    let receiver = serve(&base, &out, &work);
    change(
        &d,
        &receiver,
        80,
        json!({"seed": 7, "duplicate_every": 4, "shuffle_window": 5}),
    )
    .await;
    idle(&receiver).await;
    drop(receiver);
    let conn = duckdb::Connection::open(&views).unwrap();
    let (events, deleted): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM change_events), (SELECT count(*) FROM tombstones)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(events, 80);
    assert!(deleted > 0, "the changes deleted records");
    drop(conn);

    // A sync stopped by a page that fails for good: its batches are in the store, never in
    // the views.
    d.set_faults(FaultPlan {
        script: FaultPlan::parse_script("5=403").unwrap(),
        ..FaultPlan::default()
    });
    let stopped = sync(&base, &out, &["--concurrency", "1"], &work).await;
    assert_eq!(stopped.status.code(), Some(1), "the sync stops");
    d.set_faults(FaultPlan::default());
    let complete: BTreeSet<String> = complete_syncs(&out).into_iter().collect();
    let stopped_id = sync_ids(&out.join("_jobs"))
        .into_iter()
        .find(|id| !complete.contains(id))
        .expect("the stopped sync's journal");
    assert!(
        !batch_files(&out, "persons", &stopped_id).is_empty(),
        "the stopped sync wrote batches"
    );
    let loaded = load(&out, &work, "loaded.duckdb").await;
    let compared = assert_views_equal_load(&views, &loaded, Some(&stopped_id));
    assert!(compared > 5_000, "{compared} rows compared");

    // Over a local store, DuckDB's statements end with the wide views, a column per field
    // there is now: the same as `load duckdb`'s.
    let sql = ddl(&["--dialect", "duckdb", "--views", "--from", &o], &work).await;
    let wide = work.join("wide.duckdb");
    let conn = duckdb::Connection::open(&wide).unwrap();
    conn.execute_batch(&sql).unwrap();
    conn.execute_batch(&format!("ATTACH '{}' AS l (READ_ONLY);", loaded.display()))
        .unwrap();
    let wide_views = strings(
        &conn,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_catalog = 'l' AND table_type = 'VIEW' AND table_name LIKE '%\\_wide' ESCAPE '\\' \
         ORDER BY table_name",
    );
    assert!(wide_views.len() >= 3, "{wide_views:?}");
    for v in &wide_views {
        assert!(
            sql.contains(&format!("CREATE OR REPLACE VIEW \"{v}\" AS")),
            "{v}"
        );
        let columns = |db: &str| {
            strings(
                &conn,
                &format!(
                    "SELECT column_name FROM information_schema.columns \
                     WHERE table_catalog = '{db}' AND table_name = '{v}' ORDER BY ordinal_position"
                ),
            )
        };
        let fields = columns("l");
        assert_eq!(columns("wide"), fields, "{v}");
        let only = |a: &str, b: &str| -> i64 {
            conn.query_row(
                &format!(
                    "SELECT count(*) FROM (SELECT CAST(COLUMNS(*) AS VARCHAR) FROM {a}.\"{v}\" \
                     EXCEPT ALL SELECT CAST(COLUMNS(*) AS VARCHAR) FROM {b}.\"{v}\")"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!((only("wide", "l"), only("l", "wide")), (0, 0), "{v}");
    }
    drop(conn);

    // Databricks' statements on Apache Spark, over a copy of the store as it is now (the
    // test goes on with the store meanwhile: Spark takes minutes to start and plan).
    let spark_store = work.join("spark-store");
    copy_dir(&out, &spark_store);
    let s = spark_store.display().to_string();
    let sql = ddl(&["--dialect", "databricks", "--views", "--from", &s], &work).await;
    let mut spark = Running(Some(
        warehouse_views("spark", &sql, &spark_store, &loaded, &work)
            .spawn()
            .unwrap(),
    ));

    // DuckDB's statements over s3:// on moto, with the wide views, over the same copy: the
    // script uploads it and gives DuckDB an `s3://` filesystem over boto3, as httpfs cannot
    // be installed here (tests/warehouse_views.py says how).
    let moto = support::moto::start_moto();
    support::moto::create_bucket(&moto, "affinity-views").await;
    let sql = ddl(
        &[
            "--dialect",
            "duckdb",
            "--views",
            "--location",
            "s3://affinity-views/affinity",
            "--from",
            &s,
        ],
        &work,
    )
    .await;
    let mut on_s3 = Running(Some(
        warehouse_views("duckdb-s3", &sql, &spark_store, &loaded, &work)
            .env("AFFINITY_SYNC_MOTO", &moto.url)
            .spawn()
            .unwrap(),
    ));

    // Snowflake's statements over the same store, on fakesnow (Snowflake SQL on DuckDB),
    // equal the same load; its stage and external tables are stood in for by tables holding
    // the files they would read (tests/warehouse_views.py says how). With --from, the wide
    // views' columns are the store's fields.
    let o = out.display().to_string();
    let sql = succeeded(
        &cli(
            &[
                "ddl",
                "--dialect",
                "snowflake",
                "--views",
                "--location",
                "s3://bucket/affinity",
                "--from",
                &o,
            ],
            &work,
        )
        .await,
    );
    let checked = warehouse_views("snowflake", &sql, &out, &loaded, &work)
        .output()
        .unwrap();
    let report = all_equal(&checked, "snowflake");
    assert!(report.contains("1 x CREATE STAGE"), "{report}");

    // BigQuery's and Redshift's statements, parsed as their SQL and run on DuckDB as sqlglot
    // translates them, over files standing in for their external tables and copy jobs (no
    // engine or emulator of either runs here: tests/warehouse_views.py says how).
    for (dialect, location) in [
        ("bigquery", "gs://bucket/affinity"),
        ("redshift", "s3://bucket/affinity"),
    ] {
        let args = [
            "--dialect",
            dialect,
            "--views",
            "--location",
            location,
            "--from",
            &o,
        ];
        let sql = ddl(&args, &work).await;
        let checked = warehouse_views(dialect, &sql, &out, &loaded, &work)
            .output()
            .unwrap();
        let report = all_equal(&checked, dialect);
        assert!(
            report.contains("run on DuckDB as sqlglot translates them"),
            "{report}"
        );
    }

    // A new complete sync shows with nothing run again.
    // Notes the webhooks did not touch: a webhook's refresh is the record as of its event,
    // and those events are recent enough to be applied on top of the new sync too (real
    // Affinity sends a newer event for a newer edit; the double's edit sends none).
    let touched: BTreeSet<i64> = {
        let conn = duckdb::Connection::open(&views).unwrap();
        let mut stmt = conn
            .prepare("SELECT DISTINCT entity_id FROM change_events WHERE entity_id IS NOT NULL")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let edited = edit_notes(&d, "edited again", &touched);
    let before: BTreeSet<String> = complete_syncs(&out).into_iter().collect();
    succeeded(&sync(&base, &out, &["--incremental"], &work).await);
    let latest = complete_syncs(&out)
        .into_iter()
        .find(|id| !before.contains(id))
        .expect("a new complete sync");
    let reloaded = load(&out, &work, "reloaded.duckdb").await;
    assert_views_equal_load(&views, &reloaded, Some(&stopped_id));
    let conn = duckdb::Connection::open(&views).unwrap();
    for id in edited {
        let html: String = conn
            .query_row("SELECT content_html FROM notes WHERE id = ?", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(html, format!("<p>edited again {id}</p>"));
    }
    let shown: i64 = conn
        .query_row(
            "SELECT count(*) FROM _affinity_syncs WHERE sync_id = ?",
            [&latest],
            |r| r.get(0),
        )
        .unwrap();
    assert!(shown > 0, "_affinity_syncs lists {latest}");

    let on_s3 = on_s3.0.take().unwrap().wait_with_output().unwrap();
    let report = all_equal(&on_s3, "duckdb-s3");
    assert!(
        report.contains("over s3://affinity-views/affinity (")
            && report.contains("read through boto3"),
        "{report}"
    );
    drop(moto);
    let spark = spark.0.take().unwrap().wait_with_output().unwrap();
    let report = all_equal(&spark, "spark");
    assert!(report.contains("ran on Spark 4."), "{report}");

    // --views needs a place to read.
    let bare = cli(&["ddl", "--dialect", "duckdb", "--views"], &work).await;
    assert!(!bare.status.success());
    assert!(
        String::from_utf8_lossy(&bare.stderr).contains("--location"),
        "{}",
        String::from_utf8_lossy(&bare.stderr)
    );
}
