//! `affinity-sync sync` end to end against the Affinity test double: what lands in the output
//! directory is compared with the double's ground truth, record by record and value by value,
//! in both formats; the requests made are the minimum the API allows; bad input fails clearly
//! and leaves no complete-looking sync behind.

mod support;

use affinity_mock::model::{Dataset, EntityKind, Field, Value as Cell};
use affinity_mock::{FaultPlan, MockConfig, MockServer, RateLimits, Sizes};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use support::*;

async fn double(config: MockConfig) -> MockServer {
    MockServer::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Runs a sync in a blocking thread (the double keeps serving on the runtime meanwhile).
async fn sync(base: &str, out: &Path, extra: &[&str], key: Option<&str>) -> std::process::Output {
    let mut args: Vec<String> = vec![
        "sync".into(),
        "--base-url".into(),
        base.into(),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let key = key.map(str::to_string);
    let cwd = out.parent().unwrap().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        affinity_sync(&args, key.as_deref(), &cwd)
    })
    .await
    .unwrap()
}

fn ok(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "sync failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn ints(rows: &[Row], col: &str) -> Vec<i64> {
    let mut v: Vec<i64> = rows.iter().map(|r| r[col].as_i64().unwrap()).collect();
    v.sort();
    v
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// What the typed columns of a field value row must hold, from the truth.
fn expected_cells(ds: &Dataset, f: &Field, v: &Cell) -> BTreeMap<&'static str, Value> {
    let mut m = BTreeMap::new();
    let option = |id: &i64| {
        f.dropdown_options
            .iter()
            .find(|o| o.id == *id)
            .unwrap()
            .text
            .clone()
    };
    match v {
        Cell::Text(Some(s)) | Cell::FilterableText(Some(s)) => {
            m.insert("value_text", json!(s));
        }
        Cell::FilterableTextMulti(Some(s)) => {
            m.insert("value_texts", json!(s));
        }
        Cell::Number(Some(x)) | Cell::FormulaNumber(Some(x)) => {
            m.insert("value_number", json!(x));
        }
        Cell::Datetime(Some(ms)) => {
            m.insert("value_datetime", json!(ms * 1000));
        }
        Cell::Dropdown(Some(o)) | Cell::RankedDropdown(Some(o)) => {
            m.insert("value_id", json!(o));
            m.insert("value_text", json!(option(o)));
        }
        Cell::DropdownMulti(Some(os)) => {
            m.insert("value_ids", json!(os));
            m.insert(
                "value_texts",
                json!(os.iter().map(option).collect::<Vec<_>>()),
            );
        }
        Cell::Person(Some(p)) => {
            m.insert("value_id", json!(p));
        }
        Cell::Company(Some(c)) => {
            m.insert("value_id", json!(c));
            m.insert(
                "value_text",
                json!(ds.companies.iter().find(|x| x.id == *c).unwrap().name),
            );
        }
        Cell::PersonMulti(Some(ids)) | Cell::CompanyMulti(Some(ids)) => {
            // v2 truncates nested associations at 100.
            m.insert("value_ids", json!(ids.iter().take(100).collect::<Vec<_>>()));
        }
        Cell::Interaction(Some((kind, id))) => {
            m.insert("value_id", json!(id));
            m.insert("value_text", json!(kind.v2_name()));
        }
        _ => {}
    }
    m
}

fn check_field_values(
    ds: &Dataset,
    rows: &[Row],
    expected: Vec<(i64, &Field, &Cell)>,
    key_col: &str,
    what: &str,
) {
    let got: BTreeMap<(i64, String), &Row> = rows
        .iter()
        .map(|r| {
            (
                (
                    r[key_col].as_i64().unwrap(),
                    r["field_id"].as_str().unwrap().to_string(),
                ),
                r,
            )
        })
        .collect();
    assert_eq!(
        got.len(),
        rows.len(),
        "{what}: one row per ({key_col}, field)"
    );
    let want_keys: BTreeSet<(i64, String)> = expected
        .iter()
        .map(|(k, f, _)| (*k, f.key.clone()))
        .collect();
    let got_keys: BTreeSet<(i64, String)> = got.keys().cloned().collect();
    assert_eq!(got_keys, want_keys, "{what}: the set of (row, field) pairs");
    for (k, f, v) in expected {
        let row = got[&(k, f.key.clone())];
        assert_eq!(
            row["value_type"],
            json!(f.value_type.v2_name()),
            "{what} {k} {}",
            f.key
        );
        assert_eq!(row["field_type"], json!(f.kind.v2_name()));
        for (col, want) in expected_cells(ds, f, v) {
            assert_eq!(row[col], want, "{what} {k} {} {col}", f.key);
        }
        assert!(!row["value_json"].is_null());
    }
}

/// Checks every table of a sync against the truth.
fn check_against_truth(ds: &Dataset, out: &Path, sync_id: &str) {
    let field = |id: i64| ds.fields.iter().find(|f| f.id == id).unwrap();
    let t = |name: &str| read_table(out, name, sync_id);

    let persons = t("persons");
    assert_eq!(
        ints(&persons, "id"),
        sorted(ds.persons.iter().map(|p| p.id).collect())
    );
    for p in &ds.persons {
        let row = persons.iter().find(|r| r["id"] == p.id).unwrap();
        assert_eq!(row["first_name"], json!(p.first_name));
        assert_eq!(row["last_name"], json!(p.last_name));
        assert_eq!(row["primary_email_address"], json!(p.primary_email));
        assert_eq!(row["email_addresses"], json!(p.emails));
        assert_eq!(row["_sync_id"], json!(sync_id));
    }
    let companies = t("companies");
    assert_eq!(
        ints(&companies, "id"),
        sorted(ds.companies.iter().map(|c| c.id).collect())
    );
    for c in &ds.companies {
        let row = companies.iter().find(|r| r["id"] == c.id).unwrap();
        assert_eq!(
            (
                &row["name"],
                &row["domain"],
                &row["domains"],
                &row["is_global"]
            ),
            (
                &json!(c.name),
                &json!(c.domain),
                &json!(c.domains),
                &json!(c.is_global)
            )
        );
    }
    let opps = t("opportunities");
    assert_eq!(
        sorted(
            opps.iter()
                .map(|r| (r["id"].as_i64().unwrap(), r["list_id"].as_i64().unwrap()))
                .collect::<Vec<_>>()
        ),
        sorted(ds.opportunities.iter().map(|o| (o.id, o.list_id)).collect())
    );
    assert_eq!(
        ints(&t("lists"), "id"),
        sorted(ds.lists.iter().map(|l| l.id).collect())
    );

    for (table, kind) in [
        ("persons_field_values", EntityKind::Person),
        ("companies_field_values", EntityKind::Company),
    ] {
        let expected: Vec<(i64, &Field, &Cell)> = ds
            .field_values
            .iter()
            .filter(|v| v.list_entry_id.is_none() && field(v.field_id).entity == kind)
            .map(|v| (v.entity_id, field(v.field_id), &v.value))
            .collect();
        assert!(!expected.is_empty() || ds.persons.len() < 2);
        check_field_values(ds, &t(table), expected, "entity_id", table);
    }

    let entries = t("list_entries");
    assert_eq!(
        ints(&entries, "id"),
        sorted(ds.list_entries.iter().map(|e| e.id).collect())
    );
    for e in &ds.list_entries {
        let row = entries.iter().find(|r| r["id"] == e.id).unwrap();
        assert_eq!(
            (&row["list_id"], &row["entity_id"], &row["creator_id"]),
            (&json!(e.list_id), &json!(e.entity_id), &json!(e.creator_id))
        );
        assert_eq!(row["created_at"], json!(e.created_at * 1000));
    }
    let mut expected: Vec<(i64, &Field, &Cell)> = vec![];
    for e in &ds.list_entries {
        let list = ds.lists.iter().find(|l| l.id == e.list_id).unwrap();
        for v in &ds.field_values {
            let f = field(v.field_id);
            let entity_level =
                v.list_entry_id.is_none() && f.entity == list.entity && v.entity_id == e.entity_id;
            if entity_level || v.list_entry_id == Some(e.id) {
                expected.push((e.id, f, &v.value));
            }
        }
    }
    check_field_values(
        ds,
        &t("list_entries_field_values"),
        expected,
        "list_entry_id",
        "list_entries_field_values",
    );

    let list_fields = t("list_fields");
    let want: Vec<(i64, String)> = ds
        .lists
        .iter()
        .flat_map(|l| {
            ds.fields
                .iter()
                .filter(move |f| {
                    f.entity == l.entity && (f.list_id.is_none() || f.list_id == Some(l.id))
                })
                .map(move |f| (l.id, f.key.clone()))
        })
        .collect();
    let got: Vec<(i64, String)> = list_fields
        .iter()
        .map(|r| {
            (
                r["list_id"].as_i64().unwrap(),
                r["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(sorted(got), sorted(want));

    assert_eq!(
        ints(&t("saved_views"), "id"),
        sorted(ds.saved_views.iter().map(|v| v.id).collect())
    );
    let shown: Vec<(i64, i64)> = ds
        .saved_views
        .iter()
        .flat_map(|v| {
            ds.list_entries
                .iter()
                .filter(move |e| e.list_id == v.list_id && v.shows(e))
                .map(move |e| (v.id, e.id))
        })
        .collect();
    let got: Vec<(i64, i64)> = t("saved_view_entries")
        .iter()
        .map(|r| {
            (
                r["view_id"].as_i64().unwrap(),
                r["list_entry_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sorted(got), sorted(shown));

    let notes = t("notes");
    assert_eq!(
        ints(&notes, "id"),
        sorted(
            ds.notes
                .iter()
                .filter(|n| n.parent_id().is_none())
                .map(|n| n.id)
                .collect()
        )
    );
    for n in ds.notes.iter().filter(|n| n.parent_id().is_none()) {
        let row = notes.iter().find(|r| r["id"] == n.id).unwrap();
        assert_eq!(row["content_html"], json!(n.html));
        assert_eq!(row["creator_id"], json!(n.creator_id));
        assert_eq!(row["created_at"], json!(n.created_at * 1000));
        assert_eq!(row["updated_at"], json!(n.updated_at.map(|u| u * 1000)));
        assert_eq!(row["person_ids"], json!(n.person_ids));
        assert_eq!(row["company_ids"], json!(n.company_ids));
        assert_eq!(row["mentioned_person_ids"], json!(n.mentioned_person_ids));
        assert_eq!(
            row["replies_count"],
            json!(
                ds.notes
                    .iter()
                    .filter(|r| r.parent_id() == Some(n.id))
                    .count()
            )
        );
    }
    let replies = t("note_replies");
    assert_eq!(
        sorted(
            replies
                .iter()
                .map(|r| (r["id"].as_i64().unwrap(), r["parent_id"].as_i64().unwrap()))
                .collect::<Vec<_>>()
        ),
        sorted(
            ds.notes
                .iter()
                .filter_map(|n| n.parent_id().map(|p| (n.id, p)))
                .collect()
        )
    );
    let reminders = t("reminders");
    assert_eq!(
        ints(&reminders, "id"),
        sorted(ds.reminders.iter().map(|r| r.id).collect())
    );
    for r in &ds.reminders {
        let row = reminders.iter().find(|x| x["id"] == r.id).unwrap();
        assert_eq!(
            (
                &row["person_id"],
                &row["company_id"],
                &row["opportunity_id"]
            ),
            (
                &json!(r.person_id),
                &json!(r.company_id),
                &json!(r.opportunity_id)
            )
        );
        assert_eq!(row["due_date"], json!(r.due_date * 1000));
    }
    assert_eq!(
        ints(&t("entity_files"), "id"),
        sorted(ds.entity_files.iter().map(|f| f.id).collect())
    );
    assert_eq!(
        ints(&t("webhook_subscriptions"), "id"),
        sorted(ds.webhook_subscriptions.iter().map(|w| w.id).collect())
    );
    let options: Vec<(i64, i64)> = ds
        .fields
        .iter()
        .filter(|f| f.in_v1() && f.value_type == affinity_mock::model::ValueType::RankedDropdown)
        .flat_map(|f| f.dropdown_options.iter().map(move |o| (f.id, o.id)))
        .collect();
    let got: Vec<(i64, i64)> = t("dropdown_options")
        .iter()
        .map(|r| (r["field_id"].as_i64().unwrap(), r["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(sorted(got), sorted(options));
}

/// The fewest requests the API allows for a full sync of `ds`.
fn minimum_requests(ds: &Dataset) -> u64 {
    let v2 = |n: usize| n.div_ceil(100).max(1) as u64;
    let v1 = |n: usize| (n / 500 + 1) as u64; // a full last page is followed by an empty one
    let mut total = 1; // the quota check's /rate-limit (free of the monthly quota)
    total += v2(ds.persons.len()) + v2(ds.companies.len()) + v2(ds.opportunities.len());
    total += v2(ds
        .fields
        .iter()
        .filter(|f| f.entity == EntityKind::Person && f.list_id.is_none())
        .count());
    total += v2(ds
        .fields
        .iter()
        .filter(|f| f.entity == EntityKind::Company && f.list_id.is_none())
        .count());
    total += 1 + 1; // v1 /fields and /webhook: one response each
    total += v2(ds.lists.len());
    for l in &ds.lists {
        total += v2(ds
            .fields
            .iter()
            .filter(|f| f.entity == l.entity && (f.list_id.is_none() || f.list_id == Some(l.id)))
            .count());
        total += v2(ds.list_entries.iter().filter(|e| e.list_id == l.id).count());
        let views: Vec<_> = ds
            .saved_views
            .iter()
            .filter(|v| v.list_id == l.id)
            .collect();
        total += v2(views.len());
        for v in views {
            total += v2(ds
                .list_entries
                .iter()
                .filter(|e| e.list_id == l.id && v.shows(e))
                .count());
        }
    }
    let roots: Vec<_> = ds
        .notes
        .iter()
        .filter(|n| n.parent_id().is_none())
        .collect();
    total += v2(roots.len());
    for n in roots {
        let replies = ds
            .notes
            .iter()
            .filter(|r| r.parent_id() == Some(n.id))
            .count();
        if replies > 0 {
            total += v2(replies);
        }
    }
    total += v1(ds.reminders.len()) + v1(ds.entity_files.len());
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_equals_the_ground_truth_in_both_formats_with_the_fewest_requests() {
    for (seed, format) in [(7, "parquet"), (23, "ndjson")] {
        let d = double(MockConfig {
            seed,
            sizes: Sizes::small(),
            ..MockConfig::default()
        })
        .await;
        let dir = temp_dir(&format!("full-{seed}"));
        let out = dir.join("out");
        let output = sync(&d.base_url(), &out, &["--format", format], Some("test-key")).await;
        ok(&output);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("complete in"), "summary table: {stdout}");
        let syncs = complete_syncs(&out);
        assert_eq!(syncs.len(), 1);
        check_against_truth(d.dataset(), &out, &syncs[0]);
        let ext = if format == "parquet" {
            ".parquet"
        } else {
            ".ndjson.gz"
        };
        assert!(
            batch_files(&out, "persons", &syncs[0])
                .iter()
                .all(|p| p.to_string_lossy().ends_with(ext))
        );
        assert_eq!(
            d.stats().requests,
            minimum_requests(d.dataset()),
            "a full sync makes the fewest requests the API allows"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_and_ndjson_hold_the_same_rows() {
    let d = double(MockConfig {
        seed: 5,
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("formats");
    let (pq, nd) = (dir.join("pq"), dir.join("nd"));
    ok(&sync(
        &d.base_url(),
        &pq,
        &["--format", "parquet"],
        Some("test-key"),
    )
    .await);
    ok(&sync(
        &d.base_url(),
        &nd,
        &["--format", "ndjson"],
        Some("test-key"),
    )
    .await);
    let (a, b) = (complete_syncs(&pq).remove(0), complete_syncs(&nd).remove(0));
    for table in affinity_sync::catalog::STREAMS
        .iter()
        .flat_map(|s| s.tables.iter())
    {
        let strip = |rows: Vec<Row>| {
            let mut v: Vec<String> = rows
                .into_iter()
                .map(|mut r| {
                    r.remove("_sync_id");
                    Value::Object(r).to_string()
                })
                .collect();
            v.sort();
            v
        };
        let (x, y) = (
            strip(read_table(&pq, table.name, &a)),
            strip(read_table(&nd, table.name, &b)),
        );
        assert_eq!(x.len(), y.len(), "{}", table.name);
        assert!(x == y, "{}: Parquet and NDJSON rows differ", table.name);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_account_syncs_to_empty_tables() {
    let d = double(MockConfig {
        seed: 1,
        sizes: Sizes::empty(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("empty");
    let out = dir.join("out");
    ok(&sync(&d.base_url(), &out, &[], Some("test-key")).await);
    let id = complete_syncs(&out).remove(0);
    check_against_truth(d.dataset(), &out, &id);
    // Every top-level table exists as a batch, even with no rows, so loaders find it.
    for table in ["companies", "opportunities", "lists", "notes", "reminders"] {
        assert_eq!(batch_files(&out, table, &id).len(), 1, "{table}");
        assert!(read_table(&out, table, &id).is_empty(), "{table}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_stops_the_sync_naming_where_the_key_came_from() {
    let d = double(MockConfig {
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("badkey");
    let out = dir.join("out");
    let output = sync(&d.base_url(), &out, &[], Some("not-the-key")).await;
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("401") && err.contains("AFFINITY_API_KEY"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-key"),
        "the key never appears in errors"
    );
    assert!(
        complete_syncs(&out).is_empty(),
        "nothing is presented as complete"
    );

    let output = sync(&d.base_url(), &dir.join("out2"), &[], None).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no Affinity API key"));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_fail_before_any_request() {
    let d = double(MockConfig {
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("badargs");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--streams".into(), "persons,secrets".into()],
            "unknown stream \"secrets\"",
        ),
        (
            vec!["--format".into(), "csv".into()],
            "--format must be parquet or ndjson",
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = sync(&d.base_url(), &dir.join("out"), &args, Some("test-key")).await;
        assert!(!output.status.success());
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(message), "{message}: {err}");
    }
    // An output path that is a file cannot be a directory.
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let output = sync(&d.base_url(), &file, &[], Some("test-key")).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot create the output directory"));
    // A base URL with a path is refused.
    let output = sync(
        &format!("{}/v2", d.base_url()),
        &dir.join("out3"),
        &[],
        Some("test-key"),
    )
    .await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--base-url"));
    assert_eq!(d.stats().requests, 0, "nothing was fetched");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_streams_bring_their_parents_and_nothing_else() {
    let d = double(MockConfig {
        seed: 9,
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("select");
    let out = dir.join("out");
    ok(&sync(
        &d.base_url(),
        &out,
        &["--streams", "list_entries"],
        Some("test-key"),
    )
    .await);
    let id = complete_syncs(&out).remove(0);
    let mut tables: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    tables.sort();
    assert_eq!(
        tables,
        [
            "_manifests",
            "list_entries",
            "list_entries_field_values",
            "lists"
        ]
    );
    assert_eq!(
        ints(&read_table(&out, "list_entries", &id), "id"),
        sorted(d.dataset().list_entries.iter().map(|e| e.id).collect())
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_through_faults_still_equals_the_ground_truth() {
    let faults = FaultPlan {
        script: FaultPlan::parse_script(
            "2=429,3=500,5=drop,8=truncated,13=malformed,21=503,34=slow,35-36=500",
        )
        .unwrap(),
        slow_ms: 200,
        ..FaultPlan::default()
    };
    // A scaled clock keeps the 429's reset to a second.
    let limits = RateLimits {
        clock_scale: 60.0,
        ..RateLimits::default()
    };
    let d = double(MockConfig {
        seed: 31,
        sizes: Sizes::small(),
        faults,
        limits,
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("faults");
    let out = dir.join("out");
    ok(&sync(&d.base_url(), &out, &[], Some("test-key")).await);
    let id = complete_syncs(&out).remove(0);
    check_against_truth(d.dataset(), &out, &id);
    let stats = d.stats();
    assert_eq!(
        stats.faults.values().sum::<u64>(),
        9,
        "every scripted fault was injected"
    );
    let failed_attempts = 8; // the slow one succeeds
    assert_eq!(
        stats.requests,
        minimum_requests(d.dataset()) + failed_attempts,
        "each fault cost exactly one retry"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The opt-in, per-entity streams: every interaction exactly once (though it comes back in
/// the chain of every external participant), strengths and change history as in the truth,
/// and exactly one request per pruned window page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_entity_streams_land_every_record_exactly_once() {
    // Over 900 requests: a scaled clock makes the rate-limit minute a second.
    let limits = RateLimits {
        clock_scale: 60.0,
        ..RateLimits::default()
    };
    let d = double(MockConfig {
        seed: 17,
        sizes: Sizes::small(),
        limits,
        ..MockConfig::default()
    })
    .await;
    let ds = d.dataset();
    let dir = temp_dir("per-entity");
    let out = dir.join("out");
    ok(&sync(
        &d.base_url(),
        &out,
        &[
            "--streams",
            "interactions,relationship_strengths,field_value_changes",
        ],
        Some("test-key"),
    )
    .await);
    let id = complete_syncs(&out).remove(0);

    let rows = read_table(&out, "interactions", &id);
    let got: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r["type"].as_i64().unwrap(), r["id"].as_i64().unwrap()))
        .collect();
    let unique: BTreeSet<(i64, i64)> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "no interaction is written twice");
    let want: BTreeSet<(i64, i64)> = ds
        .interactions
        .iter()
        .map(|i| (i.kind.v1_code(), i.id))
        .collect();
    assert_eq!(
        unique, want,
        "every interaction, of every type, past and upcoming"
    );
    for i in &ds.interactions {
        let row = rows
            .iter()
            .find(|r| r["type"] == i.kind.v1_code() && r["id"] == i.id)
            .unwrap();
        assert_eq!(row["date"], json!(i.date * 1000));
        let mut people = row["person_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect::<Vec<_>>();
        people.sort();
        assert_eq!(
            people,
            sorted(i.person_ids.clone()),
            "{:?} {}",
            i.kind,
            i.id
        );
    }

    let strengths: Vec<(i64, i64, f64)> = read_table(&out, "relationship_strengths", &id)
        .iter()
        .map(|r| {
            (
                r["internal_id"].as_i64().unwrap(),
                r["external_id"].as_i64().unwrap(),
                r["strength"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut want: Vec<(i64, i64, f64)> = ds
        .relationship_strengths
        .iter()
        .map(|r| (r.internal_id, r.external_id, r.strength))
        .collect();
    let key = |a: &(i64, i64, f64)| (a.0, a.1);
    want.sort_by_key(key);
    let mut strengths = strengths;
    strengths.sort_by_key(key);
    assert_eq!(strengths, want);

    let changes = read_table(&out, "field_value_changes", &id);
    assert_eq!(
        ints(&changes, "id"),
        sorted(ds.field_value_changes.iter().map(|c| c.id).collect())
    );
    for c in &ds.field_value_changes {
        let row = changes.iter().find(|r| r["id"] == c.id).unwrap();
        assert_eq!(
            (&row["field_id"], &row["entity_id"], &row["action_type"]),
            (
                &json!(c.field_id),
                &json!(c.entity_id),
                &json!(c.action_type)
            )
        );
        assert_eq!(row["changed_at"], json!(c.changed_at * 1000));
    }

    // Requests: persons pages, one /fields, one page per tracked field, one per person with
    // interactions, and per interaction window the pages its person's interactions fill.
    let http = reqwest::Client::new();
    let mut windows = 0u64;
    let mut window_pages = 0u64;
    let mut with_interactions = 0u64;
    for p in ds
        .persons
        .iter()
        .filter(|p| p.kind == affinity_mock::model::PersonKind::External)
    {
        let person: Value = http
            .get(format!(
                "{}/v2/persons/{}?fieldTypes=relationship-intelligence",
                d.base_url(),
                p.id
            ))
            .bearer_auth("test-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if affinity_sync::interactions::has_interactions(&person) {
            with_interactions += 1;
        }
        for w in affinity_sync::interactions::windows(&person) {
            let get = |k: &str| w.iter().find(|(n, _)| *n == k).unwrap().1;
            let (ty, start, end) = (get("type"), get("start") * 1000, get("end") * 1000);
            let n = ds
                .interactions
                .iter()
                .filter(|i| {
                    i.kind.v1_code() == ty
                        && i.person_ids.contains(&p.id)
                        && i.date >= start
                        && i.date <= end
                })
                .count();
            windows += 1;
            window_pages += (n / 100 + 1) as u64;
        }
    }
    assert!(windows > 0);
    let tracked = ds
        .fields
        .iter()
        .filter(|f| f.in_v1() && f.track_changes)
        .count() as u64;
    let persons_pages = ds.persons.len().div_ceil(100) as u64;
    let stats = d.stats();
    // The sync's requests: all of them but the one per external person made above.
    let during_sync = stats.requests
        - ds.persons
            .iter()
            .filter(|p| p.kind == affinity_mock::model::PersonKind::External)
            .count() as u64;
    assert_eq!(
        during_sync,
        1 + persons_pages + 1 + tracked + with_interactions + window_pages,
        "{windows} windows"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The bill before the sync: `plan` predicts a scheduled sync from the previous one, and a
/// sync the monthly quota cannot pay for does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_predict_requests_and_the_quota_guard_refuses_what_cannot_finish() {
    let d = double(MockConfig {
        seed: 3,
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("plan");
    let out = dir.join("out");
    let plan = |d: &MockServer, out: &Path| {
        let (base, out, cwd) = (d.base_url(), out.display().to_string(), dir.clone());
        tokio::task::spawn_blocking(move || {
            affinity_sync(
                &["plan", "--base-url", &base, "--out", &out],
                Some("test-key"),
                &cwd,
            )
        })
    };
    // Before any sync: list entries are exact (from v1 /lists), the rest lower bounds.
    let first = plan(&d, &out).await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout).to_string();
    let entries_pages: u64 = d
        .dataset()
        .lists
        .iter()
        .map(|l| {
            d.dataset()
                .list_entries
                .iter()
                .filter(|e| e.list_id == l.id)
                .count()
                .div_ceil(100)
                .max(1) as u64
        })
        .sum();
    let row = text
        .lines()
        .find(|l| l.starts_with("list_entries "))
        .unwrap();
    assert!(
        row.split_whitespace().nth(1) == Some(&entries_pages.to_string()),
        "{row}"
    );
    assert!(
        text.contains("≥") && text.contains("monthly quota: "),
        "{text}"
    );

    // After a sync, the plan is exactly what that sync cost.
    ok(&sync(&d.base_url(), &out, &[], Some("test-key")).await);
    let before = d.stats().requests;
    let second = plan(&d, &out).await.unwrap();
    let text = String::from_utf8_lossy(&second.stdout).to_string();
    let total: u64 = text
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        total,
        minimum_requests(d.dataset()) - 1,
        "the previous sync's requests, stream by stream: {text}"
    );
    assert_eq!(
        d.stats().requests - before,
        2,
        "a plan costs /rate-limit (free of the month) and /lists"
    );

    // A quota too small for the sync: refused before any page is fetched.
    let small = double(MockConfig {
        seed: 3,
        sizes: Sizes::small(),
        limits: RateLimits {
            monthly: 10,
            ..RateLimits::default()
        },
        ..MockConfig::default()
    })
    .await;
    let out2 = dir.join("out2");
    let refused = sync(&small.base_url(), &out2, &[], Some("test-key")).await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("needs at least")
            && err.contains("only 10 of the monthly quota of 10 remain")
            && err.contains("--ignore-quota"),
        "{err}"
    );
    assert_eq!(small.stats().requests, 1, "only /rate-limit was asked");
    assert!(complete_syncs(&out2).is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
