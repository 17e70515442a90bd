//! Shared by the end-to-end suites: run a sync against a double, and check what it wrote
//! against the double's ground truth, record by record and value by value.

use super::*;
use affinity_mock::model::{Dataset, EntityKind, Field, Value as Cell};
use affinity_mock::{MockConfig, MockServer};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub async fn double(config: MockConfig) -> MockServer {
    MockServer::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A double with the small data set of `seed` and no per-minute limit to pace to: for
/// tests that run several syncs in a row.
pub async fn unpaced_double(seed: u64) -> MockServer {
    double(MockConfig {
        seed,
        sizes: affinity_mock::Sizes::small(),
        limits: affinity_mock::RateLimits {
            per_minute: 1_000_000,
            ..Default::default()
        },
        ..MockConfig::default()
    })
    .await
}

/// A double with the small data set of `seed` that accepts only `api_key`.
pub async fn small_double(seed: u64, api_key: &str) -> MockServer {
    double(MockConfig {
        seed,
        sizes: affinity_mock::Sizes::small(),
        api_key: api_key.into(),
        ..MockConfig::default()
    })
    .await
}

/// Runs a sync in a blocking thread (the double keeps serving on the runtime meanwhile).
pub async fn sync(
    base: &str,
    out: &Path,
    extra: &[&str],
    key: Option<&str>,
) -> std::process::Output {
    run_command("sync", base, out, extra, key, &[]).await
}

/// Runs `affinity-sync resume` on `out`, like [`sync`].
pub async fn resume(
    base: &str,
    out: &Path,
    extra: &[&str],
    key: Option<&str>,
) -> std::process::Output {
    run_command("resume", base, out, extra, key, &[]).await
}

/// Runs `affinity-sync <command>` on `out` with more environment variables, in a blocking
/// thread (the double keeps serving on the runtime meanwhile).
pub async fn run_command(
    command: &str,
    base: &str,
    out: &Path,
    extra: &[&str],
    key: Option<&str>,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args: Vec<String> = vec![
        command.into(),
        "--base-url".into(),
        base.into(),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let key = key.map(str::to_string);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cwd = out.parent().unwrap().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        affinity_sync_with_env(&args, key.as_deref(), &cwd, &env)
    })
    .await
    .unwrap()
}

pub fn ok(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "sync failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn ints(rows: &[Row], col: &str) -> Vec<i64> {
    let mut v: Vec<i64> = rows.iter().map(|r| r[col].as_i64().unwrap()).collect();
    v.sort();
    v
}

pub fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// What the typed columns of a field value row must hold, from the truth.
pub fn expected_cells(ds: &Dataset, f: &Field, v: &Cell) -> BTreeMap<&'static str, Value> {
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

pub fn check_field_values(
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
pub fn check_against_truth(ds: &Dataset, out: &Path, sync_id: &str) {
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
    // Every field v1 shows, with its list and its v2 id when it is a custom field.
    let fields: Vec<(i64, String, String, String)> = ds
        .fields
        .iter()
        .filter(|f| f.in_v1())
        .map(|f| {
            let custom = f.enrichment_source.is_none();
            (
                f.id,
                f.name.clone(),
                json!(f.list_id).to_string(),
                if custom { json!(f.key) } else { Value::Null }.to_string(),
            )
        })
        .collect();
    let got: Vec<(i64, String, String, String)> = t("fields")
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["name"].as_str().unwrap().to_string(),
                r["list_id"].to_string(),
                r["field_v2_id"].to_string(),
            )
        })
        .collect();
    assert_eq!(sorted(got), sorted(fields));
}

/// The fewest requests the API allows for a full sync of `ds`.
pub fn minimum_requests(ds: &Dataset) -> u64 {
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
