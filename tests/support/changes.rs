//! Comparing two DuckDB databases table by table: the tables `load duckdb` made from a sync
//! plus webhook changes, against those of a fresh full sync of the same data.

use affinity_mock::MockServer;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The webhook secret the receivers of the tests use.
pub const SECRET: &str = "test-webhook-secret-0123456789";

/// `affinity-sync serve` on a free port, and the address it took.
pub struct Receiver {
    child: Child,
    pub url: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(base: &str, out: &Path, cwd: &Path) -> Receiver {
    serve_to(base, &out.display().to_string(), cwd, &[])
}

/// `affinity-sync serve` into the store `out` (a directory or a bucket), with `env` added.
pub fn serve_to(base: &str, out: &str, cwd: &Path, env: &[(&str, &str)]) -> Receiver {
    let secret_file = cwd.join("webhook-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_affinity-sync"))
        .args([
            "serve",
            "--base-url",
            base,
            "--out",
            out,
            "--listen",
            "127.0.0.1:0",
            "--webhook-secret-file",
            &secret_file.display().to_string(),
        ])
        .current_dir(cwd)
        .env("AFFINITY_API_KEY", "test-key")
        .env("AFFINITY_SYNC_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start affinity-sync serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("serve did not say where it listens: {line:?}"))
        .to_string();
    // Keep stderr drained so the receiver never blocks on a full pipe; tests print it on failure.
    let stderr = child.stderr.take().unwrap();
    let log = cwd.join("serve.log");
    std::thread::spawn(move || {
        let mut f = std::fs::File::create(log).unwrap();
        let _ = std::io::copy(&mut BufReader::new(stderr), &mut f);
    });
    Receiver {
        child,
        url: format!("http://{addr}"),
    }
}

/// Waits until the receiver has nothing queued or running; returns its counts.
pub async fn idle(receiver: &Receiver) -> Value {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        let h: Value = http
            .get(format!("{}/health", receiver.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["queued"] == 0 && h["running"] == 0 {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the receiver never finished its refreshes");
}

/// Asks the double for `changes` changes, delivered to the receiver as `delivery` says.
pub async fn change(d: &MockServer, receiver: &Receiver, changes: usize, delivery: Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{}/__changes", d.base_url()))
        .json(&json!({
            "changes": {"seed": 11, "changes": changes},
            "deliver_to": format!("{}/webhook?token={SECRET}", receiver.url),
            "delivery": delivery,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Tables the change model keeps current.
pub const TABLES: &[&str] = &[
    "persons",
    "persons_field_values",
    "companies",
    "companies_field_values",
    "opportunities",
    "lists",
    "list_entries",
    "list_entries_field_values",
    "notes",
    "reminders",
    "entity_files",
    "fields",
    "dropdown_options",
    "person_fields",
    "company_fields",
    "list_fields",
];

/// v2 field metadata tables: a field created after the sync gets its row there at the next
/// full sync (docs/changes.md), so rows of fields the change series created (their ids are
/// the events' `sent_at`, far above generated ids) are left out of the comparison.
const NEW_FIELDS_LATER: &[&str] = &["person_fields", "company_fields", "list_fields"];
const CREATED_FIELD: &str =
    "WHERE NOT (id LIKE 'field-%' AND TRY_CAST(substr(id, 7) AS BIGINT) >= 1000000000)";

/// Rows of `table` in `db` (all columns but `_sync_id`, each as text: a JSON column reads the
/// same typed `JSON` or `VARCHAR`), as sorted JSON lines.
fn rows(conn: &duckdb::Connection, db: &str, table: &str) -> Vec<String> {
    let filter = if NEW_FIELDS_LATER.contains(&table) {
        CREATED_FIELD
    } else {
        ""
    };
    let sql = format!(
        "SELECT CAST(to_json(t) AS VARCHAR) FROM (SELECT CAST(COLUMNS(*) AS VARCHAR) FROM (SELECT * EXCLUDE (_sync_id) FROM {db}.{table} {filter})) t"
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let mut out: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out.sort();
    out
}

/// Every change-model table in `applied` equals the same table in `fresh`, row for row;
/// on a difference, panics with a few differing rows and `log`.
pub fn assert_same_tables(applied: &Path, fresh: &Path, log: &str) {
    assert_same(applied, fresh, TABLES, log)
}

/// Each of `tables` in `applied` equals the same table in `fresh`, row for row.
pub fn assert_same(applied: &Path, fresh: &Path, tables: &[&str], log: &str) {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "ATTACH '{}' AS a (READ_ONLY); ATTACH '{}' AS f (READ_ONLY);",
        applied.display(),
        fresh.display()
    ))
    .unwrap();
    for table in tables {
        let (a, f) = (rows(&conn, "a", table), rows(&conn, "f", table));
        if a != f {
            let count = |rows: &[String]| {
                let mut m: BTreeMap<String, usize> = BTreeMap::new();
                for r in rows {
                    *m.entry(r.clone()).or_default() += 1;
                }
                m
            };
            let (ca, cf) = (count(&a), count(&f));
            let extra: Vec<_> = ca
                .iter()
                .filter(|(r, n)| cf.get(*r).copied().unwrap_or(0) < **n)
                .take(5)
                .collect();
            let missing: Vec<_> = cf
                .iter()
                .filter(|(r, n)| ca.get(*r).copied().unwrap_or(0) < **n)
                .take(5)
                .collect();
            panic!(
                "{table}: {} rows after applying webhooks, {} in a fresh sync\n\
                 only after webhooks: {extra:#?}\nonly in the fresh sync: {missing:#?}\nlog: {log}",
                a.len(),
                f.len(),
            );
        }
    }
}
