//! Core throughput: records per second to turn one page into its batches (`step::handle`:
//! parse the JSON, convert every record into typed rows, encode each table), per stream kind
//! and format. Pages come from the test double's own renderer, so they have the shapes and
//! field mixes the double serves (v2 persons with enriched, global and relationship-
//! intelligence fields; list entries with list-specific fields too; a v1 page of 500).
//!
//! `cargo bench -p affinity-sync-core --bench page_to_batch`; `bench/run.sh` runs it and puts
//! the figures in `bench/RESULTS.md`.

use affinity_mock::api::Req;
use affinity_mock::store::Store;
use affinity_mock::{Sizes, generate, v1, v2};
use affinity_sync_core::table::Table;
use affinity_sync_core::{Config, Format, Job, batch, record, step};
use arrow_array::ArrayRef;
use criterion::{Criterion, Throughput};
use std::collections::BTreeMap;
use std::hint::black_box;

/// One page of `path` as the double renders it, with the query the stream's job sends.
fn page(store: &Store, cfg: &Config, job: &Job) -> (Vec<u8>, usize) {
    let url = url::Url::parse(&step::request(cfg, job).unwrap().url).unwrap();
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let req = Req {
        path: url.path(),
        query,
        base_url: "https://api.affinity.co",
    };
    let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
    let body = if segments[0] == "v2" {
        v2::route(store, &req, &segments[1..])
    } else {
        v1::route(store, &req, &segments, serde_json::json!({}))
    }
    .unwrap_or_else(|e| panic!("{}: {:?}", url, e.body()));
    let records = ["data", "reminders", "entity_files"]
        .iter()
        .find_map(|k| body.get(*k).and_then(|v| v.as_array()).map(Vec::len))
        .expect("a page of records");
    (serde_json::to_vec(&body).unwrap(), records)
}

fn bench(c: &mut Criterion) {
    let sizes = Sizes {
        persons: 2_000,
        companies: 1_000,
        reminders: 1_000,
        entries_per_list: 500,
        ..Sizes::default()
    };
    let store = Store::new(generate(7, &sizes));
    let list_id = store
        .ds
        .lists
        .iter()
        .find(|l| store.entries_of(l.id).len() >= 100)
        .expect("a list of 100 entries")
        .id;
    let cases: [(&str, Job); 4] = [
        (
            "v2 persons, 100 with fields",
            Job::first("s1", "persons", BTreeMap::new()),
        ),
        (
            "v2 companies, 100 with fields",
            Job::first("s1", "companies", BTreeMap::new()),
        ),
        (
            "v2 list entries, 100 with fields",
            Job::first(
                "s1",
                "list_entries",
                BTreeMap::from([("list_id".into(), list_id)]),
            ),
        ),
        (
            "v1 reminders, 500",
            Job::first("s1", "reminders", BTreeMap::new()),
        ),
    ];
    for format in [Format::Parquet, Format::Ndjson] {
        let cfg = config(format);
        let mut group = c.benchmark_group(format!("page to batch ({})", format.name()));
        for (name, job) in &cases {
            let (body, records) = page(&store, &cfg, job);
            group.throughput(Throughput::Elements(records as u64));
            group.bench_function(*name, |b| {
                b.iter(|| black_box(step::handle(&cfg, job, 200, black_box(&body)).unwrap()))
            });
            // The floors under it: parsing the page onto simd-json's tape (a copy of the body,
            // parsed in place, as `step::handle` does), nothing else; and the Parquet writer
            // encoding the page's columns, already built, into its two batches.
            if format == Format::Parquet && job.stream == "persons" {
                group.bench_function("v2 persons, JSON parse only", |b| {
                    b.iter(|| {
                        let mut text = black_box(&body).clone();
                        let tape = affinity_sync_core::record::parse(&mut text).unwrap();
                        black_box(affinity_sync_core::record::root(&tape).is_object())
                    })
                });
                let built = columns_of(job, &body);
                group.bench_function("v2 persons, Parquet encoding only", |b| {
                    b.iter(|| {
                        for (table, arrays) in &built {
                            black_box(batch::encode(table, arrays.clone(), Format::Parquet));
                        }
                    })
                });
            }
        }
        group.finish();
    }
}

/// The Arrow columns of every table of `job`'s stream for a page, as `step::handle` builds
/// them before it encodes them.
fn columns_of(job: &Job, body: &[u8]) -> Vec<(&'static Table, Vec<ArrayRef>)> {
    let mut text = body.to_vec();
    let tape = record::parse(&mut text).unwrap();
    let records: Vec<record::Value> = record::root(&tape)
        .get("data")
        .and_then(|d| d.items())
        .expect("a v2 page")
        .collect();
    let tables = job.stream().unwrap().tables;
    tables
        .iter()
        .map(|table| {
            let (_, arrays) = table
                .arrays(&records, body.len(), "bench", |_| None)
                .unwrap();
            (table, arrays)
        })
        .collect()
}

/// The config of a sync of the default streams, as `affinity-sync sync` runs it: child jobs of
/// opt-in streams (a person's interaction windows) are not made.
fn config(format: Format) -> Config {
    let defaults = affinity_sync_core::catalog::STREAMS
        .iter()
        .filter(|s| s.default);
    Config::new("https://api.affinity.co", "bench", format)
        .unwrap()
        .reading(defaults.map(|s| s.name))
}

/// `cargo bench` passes `--bench`: measure. `cargo test --all-targets` runs this binary as a
/// test (with the test harness's arguments, which criterion's parser refuses): handle each
/// case's page once and check it, no timing.
fn main() {
    if std::env::args().any(|a| a == "--bench") {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c);
        c.final_summary();
        return;
    }
    let store = Store::new(generate(7, &Sizes::small()));
    for format in [Format::Parquet, Format::Ndjson] {
        let cfg = config(format);
        for job in [
            Job::first("s1", "persons", BTreeMap::new()),
            Job::first("s1", "reminders", BTreeMap::new()),
        ] {
            let (body, records) = page(&store, &cfg, &job);
            let out = step::handle(&cfg, &job, 200, &body).unwrap();
            assert_eq!(out.records, records, "{}", job.stream);
        }
    }
    println!("page_to_batch: every case handled once (run `cargo bench` to measure)");
}
