//! Helpers for end-to-end tests of `affinity-sync`: run the binary, and read what a sync
//! wrote back into plain JSON rows (the same normal form from Parquet and from NDJSON).
#![allow(dead_code)]

pub mod azurite;
pub mod changes;
pub mod e2e;
pub mod gcs;
pub mod lambda_api;
pub mod moto;
pub mod postgres;
pub mod show;

use affinity_sync_core::catalog;
use affinity_sync_core::table::{Ty, parse_timestamp};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub type Row = Map<String, Value>;

/// Runs `affinity-sync` with `args` and the API key in the environment.
pub fn affinity_sync(args: &[&str], key: Option<&str>, cwd: &Path) -> Output {
    affinity_sync_with_env(args, key, cwd, &[])
}

/// The stdout of a command that must have succeeded (else panics with both outputs).
pub fn succeeded(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Like [`affinity_sync`], with more environment variables.
pub fn affinity_sync_with_env(
    args: &[&str],
    key: Option<&str>,
    cwd: &Path,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_affinity-sync"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("AFFINITY_API_KEY")
        .env_remove("AFFINITY_BASE_URL")
        .env_remove("AWS_ENDPOINT_URL_S3");
    if let Some(k) = key {
        cmd.env("AFFINITY_API_KEY", k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run affinity-sync")
}

/// The Python of the test venv (pyarrow, duckdb, moto), made by `scripts/test.sh`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("AFFINITY_SYNC_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.is_file(),
        "no test Python: run ./scripts/test.sh (it creates .venv from scripts/requirements-test.txt) or set AFFINITY_SYNC_PYTHON"
    );
    venv
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on loopback `port` (a server just started).
pub fn wait_for_port(port: u16, what: &str) {
    let began = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(60),
            "{what} did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs `script` with the test venv's Python, `sys.argv[1:]` = `args`; its lines of output
/// (a failed script fails the test with its stderr).
pub fn python_lines(script: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The summary of stream `name` in a sync manifest (`sync.json`).
pub fn stream_summary<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    manifest["streams"]
        .as_array()
        .expect("a sync manifest lists its streams")
        .iter()
        .find(|s| s["stream"] == name)
        .unwrap_or_else(|| panic!("no stream {name} in {manifest}"))
}

/// Every file under `dir`, at any depth (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "affinity-sync-test-{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

/// The sync ids of the `sync_id=<id>` folders in `dir`, sorted.
pub fn sync_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("sync_id=")
                .map(str::to_string)
        })
        .collect();
    ids.sort();
    ids
}

/// The sync ids that have a sync manifest (complete syncs).
pub fn complete_syncs(out: &Path) -> Vec<String> {
    let manifests = out.join("_manifests");
    sync_ids(&manifests)
        .into_iter()
        .filter(|id| {
            manifests
                .join(format!("sync_id={id}"))
                .join("sync.json")
                .is_file()
        })
        .collect()
}

/// Every file under `dir`, recursively, appended to `out`.
pub fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

/// Every batch file of `table` in sync `sync_id`, sorted.
pub fn batch_files(out: &Path, table: &str, sync_id: &str) -> Vec<PathBuf> {
    let mut all = vec![];
    files(
        &out.join(table).join(format!("sync_id={sync_id}")),
        &mut all,
    );
    all.retain(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'));
    all.sort();
    all
}

fn column_types(table: &str) -> Vec<(&'static str, Ty)> {
    let t = catalog::STREAMS
        .iter()
        .flat_map(|s| s.tables.iter())
        .find(|t| t.name == table)
        .expect("known table");
    t.columns.iter().map(|c| (c.name, c.ty)).collect()
}

/// Normal form of a cell: timestamps as UTC microseconds, JSON columns as JSON (Parquet keeps
/// them as JSON text, NDJSON nests them).
fn normal(ty: Ty, v: Value, json_as_text: bool) -> Value {
    match (ty, v) {
        (_, Value::Null) => Value::Null,
        (Ty::Timestamp, Value::String(s)) => json!(parse_timestamp(&s).expect("timestamp")),
        (Ty::Json, Value::String(s)) if json_as_text => {
            serde_json::from_str(&s).expect("json column")
        }
        (_, v) => v,
    }
}

fn arrow_value(a: &ArrayRef, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Int64 => json!(a.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => json!(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => json!(a.as_string::<i32>().value(i)),
        DataType::Boolean => json!(a.as_boolean().value(i)),
        DataType::Timestamp(_, _) => json!(a.as_primitive::<TimestampMicrosecondType>().value(i)),
        DataType::List(_) => {
            let items = a.as_list::<i32>().value(i);
            Value::Array((0..items.len()).map(|k| arrow_value(&items, k)).collect())
        }
        other => panic!("unexpected column type {other}"),
    }
}

/// Reads one batch file (Parquet or gzip NDJSON) into normal-form rows.
pub fn read_batch(path: &Path, table: &str) -> Vec<Row> {
    let types = column_types(table);
    let name = path.to_string_lossy();
    let mut rows = vec![];
    if name.ends_with(".parquet") {
        let file = std::fs::File::open(path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let names: Vec<String> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(
                names,
                types.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
                "{name}: columns as declared"
            );
            for i in 0..batch.num_rows() {
                let mut row = Row::new();
                for (c, (col, ty)) in types.iter().enumerate() {
                    row.insert(
                        col.to_string(),
                        normal(*ty, arrow_value(batch.column(c), i), true),
                    );
                }
                rows.push(row);
            }
        }
    } else if name.ends_with(".ndjson.gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        for line in text.lines() {
            let v: Row = serde_json::from_str(line).unwrap();
            let keys: Vec<&str> = v.keys().map(String::as_str).collect();
            let mut want: Vec<&str> = types.iter().map(|(n, _)| *n).collect();
            want.sort();
            let mut keys = keys;
            keys.sort();
            assert_eq!(keys, want, "{name}: columns as declared");
            let mut row = Row::new();
            for (col, ty) in &types {
                row.insert(col.to_string(), normal(*ty, v[*col].clone(), false));
            }
            rows.push(row);
        }
    } else {
        panic!("unexpected file {name}");
    }
    rows
}

/// Every row of `table` in sync `sync_id`.
pub fn read_table(out: &Path, table: &str, sync_id: &str) -> Vec<Row> {
    batch_files(out, table, sync_id)
        .iter()
        .flat_map(|p| read_batch(p, table))
        .collect()
}

/// The CloudWatch Embedded Metric Format lines of a log, each checked against the format's
/// rules: an `_aws` object with a millisecond `Timestamp` and `CloudWatchMetrics` directives
/// in namespace `AffinitySync`, whose dimensions and metrics name top-level members (the
/// dimensions strings, the metrics numbers), with units CloudWatch knows.
pub fn emf_lines(log: &str) -> Vec<Value> {
    const UNITS: &[&str] = &["Count", "Bytes", "Milliseconds", "Seconds"];
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut out = vec![];
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        let Some(aws) = v.get("_aws") else { continue };
        let at = aws["Timestamp"]
            .as_i64()
            .unwrap_or_else(|| panic!("no Timestamp: {line}"));
        assert!(
            (now_ms - 3_600_000..=now_ms).contains(&at),
            "a millisecond timestamp: {line}"
        );
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert!(!directives.is_empty());
        for d in directives {
            assert_eq!(d["Namespace"], "AffinitySync", "{line}");
            // The whole function's set, which the template's alarms name.
            assert!(
                d["Dimensions"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(["FunctionName"])),
                "{line}"
            );
            for set in d["Dimensions"].as_array().unwrap() {
                let set = set.as_array().unwrap();
                assert!(!set.is_empty() && set.len() <= 30);
                for name in set {
                    assert!(
                        v[name.as_str().unwrap()].is_string(),
                        "dimension {name}: {line}"
                    );
                }
            }
            let metrics = d["Metrics"].as_array().unwrap();
            assert!(!metrics.is_empty() && metrics.len() <= 100);
            for m in metrics {
                let name = m["Name"].as_str().unwrap();
                assert!(v[name].is_number(), "metric {name}: {line}");
                assert!(UNITS.contains(&m["Unit"].as_str().unwrap()), "{line}");
            }
        }
        out.push(v);
    }
    out
}

/// The metric lines of one sync that ran without faults against its `manifest`: a line per
/// page written, whose records add up per stream to the manifest's, whose requests add up
/// to `requests`, with no retry, 429 or parked page; and one completion line. Returns the
/// pages counted.
pub fn check_metrics(manifest: &Value, metrics: &[Value], requests: u64, function: &str) -> u64 {
    let sync_id = &manifest["sync_id"];
    let pages: Vec<&Value> = metrics
        .iter()
        .filter(|m| m.get("Pages").is_some() && m["sync_id"] == *sync_id)
        .collect();
    let sum = |lines: &[&Value], name: &str| -> u64 {
        lines.iter().map(|m| m[name].as_u64().unwrap()).sum()
    };
    assert_eq!(sum(&pages, "Requests"), requests);
    assert_eq!(
        sum(&pages, "Retries") + sum(&pages, "Throttled") + sum(&pages, "Parked"),
        0
    );
    let mut total = 0;
    for s in manifest["streams"].as_array().unwrap() {
        let stream = s["stream"].as_str().unwrap();
        let mine: Vec<&Value> = pages
            .iter()
            .copied()
            .filter(|m| m["Stream"] == stream)
            .collect();
        assert_eq!(
            sum(&mine, "Records"),
            s["records"].as_u64().unwrap(),
            "{stream}"
        );
        assert_eq!(
            sum(&mine, "Pages"),
            s["pages"].as_u64().unwrap(),
            "{stream}"
        );
        total += s["records"].as_u64().unwrap();
    }
    assert!(
        pages.iter().all(|m| m["FunctionName"] == function),
        "{function}"
    );
    assert!(
        pages
            .iter()
            .all(|m| m["RateLimitUserRemaining"].is_u64() && m["RateLimitOrgRemaining"].is_u64())
    );
    assert!(
        pages
            .iter()
            .all(|m| m["BytesWritten"].as_u64().unwrap() > 0)
    );
    let done: Vec<&Value> = metrics
        .iter()
        .filter(|m| m.get("SyncsCompleted").is_some() && m["sync_id"] == *sync_id)
        .collect();
    assert_eq!(done.len(), 1, "one completion line");
    assert_eq!(
        (&done[0]["SyncRecords"], &done[0]["SyncsCompleted"]),
        (&json!(total), &json!(1))
    );
    assert_eq!(done[0]["SyncRequests"], requests);
    sum(&pages, "Pages")
}
