//! The Parquet that affinity-sync writes, read back by independent readers (pyarrow and
//! DuckDB, from the test venv that `scripts/test.sh` creates): same rows, same ids, the
//! column types warehouses expect, and timestamps that mean the same instant.

mod support;

use affinity_mock::{MockConfig, MockServer, Sizes};
use affinity_sync_core::catalog::STREAMS;
use affinity_sync_core::table::Ty;
use serde_json::Value;
use support::*;

fn pyarrow_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Int64 => "int64",
        Ty::Float64 => "double",
        Ty::Utf8 | Ty::Json => "string",
        Ty::Bool => "bool",
        Ty::Timestamp => "timestamp[us, tz=UTC]",
        Ty::Utf8List => "list<item: string>",
        Ty::Int64List => "list<item: int64>",
    }
}

fn duckdb_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Int64 => "BIGINT",
        Ty::Float64 => "DOUBLE",
        Ty::Utf8 | Ty::Json => "VARCHAR",
        Ty::Bool => "BOOLEAN",
        Ty::Timestamp => "TIMESTAMP WITH TIME ZONE",
        Ty::Utf8List => "VARCHAR[]",
        Ty::Int64List => "BIGINT[]",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_and_duckdb_read_what_we_wrote() {
    let python = python();
    let double = MockServer::start(
        MockConfig {
            seed: 13,
            sizes: Sizes::small(),
            ..MockConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = temp_dir("readers");
    let out = dir.join("out");
    let (base, out2) = (double.base_url(), out.clone());
    let output = tokio::task::spawn_blocking(move || {
        affinity_sync(
            &[
                "sync",
                "--base-url",
                &base,
                "--out",
                out2.to_str().unwrap(),
                "--quiet",
            ],
            Some("test-key"),
            &dir,
        )
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sync_id = complete_syncs(&out).remove(0);

    let read = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/read_back.py"))
        .arg(&out)
        .arg(&sync_id)
        .output()
        .expect("run the read-back script");
    assert!(
        read.status.success(),
        "read_back.py: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let seen: Value = serde_json::from_slice(&read.stdout).unwrap();

    let mut checked = 0;
    // A default sync: the opt-in streams' tables are not written.
    for table in STREAMS
        .iter()
        .filter(|s| s.default)
        .flat_map(|s| s.tables.iter())
    {
        let got = &seen[table.name];
        assert!(got.is_object(), "{} was read", table.name);
        let ours = read_table(&out, table.name, &sync_id);
        assert_eq!(
            got["pyarrow_rows"],
            ours.len(),
            "{}: pyarrow rows",
            table.name
        );
        assert_eq!(
            got["duckdb_rows"],
            ours.len(),
            "{}: duckdb rows",
            table.name
        );
        for c in table.columns {
            assert_eq!(
                got["pyarrow_types"][c.name],
                pyarrow_type(c.ty),
                "{}.{} in pyarrow",
                table.name,
                c.name
            );
            assert_eq!(
                got["duckdb_types"][c.name],
                duckdb_type(c.ty),
                "{}.{} in duckdb",
                table.name,
                c.name
            );
        }
        assert_eq!(
            got["duckdb_types"]["sync_id"], "VARCHAR",
            "sync_id is a discovered Hive partition"
        );
        if table.columns.iter().any(|c| c.name == "id") {
            // Ids are integers, or strings for field metadata (`field-12`).
            let mut ids: Vec<Value> = ours.iter().map(|r| r["id"].clone()).collect();
            ids.sort_by(|a, b| match (a.as_i64(), b.as_i64()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.as_str().cmp(&b.as_str()),
            });
            assert_eq!(
                got["pyarrow_ids"],
                serde_json::json!(ids),
                "{}: ids in pyarrow",
                table.name
            );
            assert_eq!(
                got["duckdb_ids"],
                serde_json::json!(ids),
                "{}: ids in duckdb",
                table.name
            );
        }
        checked += 1;
    }
    // Timestamps mean the same instant in DuckDB as in the source data.
    let truth: Vec<Value> = {
        let mut e: Vec<(i64, i64)> = double
            .dataset()
            .list_entries
            .iter()
            .map(|e| (e.id, e.created_at * 1000))
            .collect();
        e.sort();
        e.into_iter()
            .map(|(id, us)| serde_json::json!([id, us]))
            .collect()
    };
    assert_eq!(
        seen["list_entries"]["duckdb_created_at"],
        Value::Array(truth)
    );
    println!("{checked} tables read back identically by pyarrow and DuckDB");
}
