//! `affinity-sync sync` end to end against the Affinity test double: what lands in the output
//! directory is compared with the double's ground truth, record by record and value by value,
//! in both formats; the requests made are the minimum the API allows; bad input fails clearly
//! and leaves no complete-looking sync behind.

mod support;

use affinity_mock::{Fault, FaultPlan, MockConfig, MockServer, RateLimits, Sizes};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use support::*;

use support::e2e::*;

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
        // Every page after a chain's first was fetched while the page before it was handled.
        let total: Vec<u64> = stdout
            .lines()
            .find(|l| l.starts_with("total "))
            .expect("a total row")
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect();
        let (chains, pages) = (total[0], total[1]);
        assert!(pages > chains, "some chains have several pages: {stdout}");
        assert!(
            stdout.contains(&format!(", {} pages read ahead)", pages - chains)),
            "{stdout}"
        );
        let syncs = complete_syncs(&out);
        assert_eq!(syncs.len(), 1);
        check_against_truth(&d.dataset(), &out, &syncs[0]);
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
            minimum_requests(&d.dataset()),
            "a full sync makes the fewest requests the API allows"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_read_ahead_stay_within_the_concurrency_cap() {
    // Every answer takes 25 ms, so requests overlap whenever the CLI lets them: with Affinity's
    // concurrency cap at `--concurrency`, one request too many would be a 429.
    let d = double(MockConfig {
        seed: 11,
        sizes: Sizes::small(),
        limits: RateLimits {
            max_concurrent: Some(2),
            ..RateLimits::default()
        },
        faults: FaultPlan {
            probability: 1.0,
            kinds: vec![Fault::Slow],
            slow_ms: 25,
            ..FaultPlan::default()
        },
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("read-ahead-cap");
    let out = dir.join("out");
    let output = sync(
        &d.base_url(),
        &out,
        &["--concurrency", "2"],
        Some("test-key"),
    )
    .await;
    ok(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("pages read ahead"), "{stdout}");
    let syncs = complete_syncs(&out);
    check_against_truth(&d.dataset(), &out, &syncs[0]);
    let stats = d.stats();
    assert_eq!(stats.rate_limited, 0, "never over the cap: {stdout}");
    assert_eq!(stats.requests, minimum_requests(&d.dataset()));
    std::fs::remove_dir_all(&dir).ok();
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
    for table in affinity_sync_core::catalog::STREAMS
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
    check_against_truth(&d.dataset(), &out, &id);
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
async fn a_redirect_is_not_followed_so_the_key_goes_nowhere_else() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    async fn listen(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }
    // Another origin, counting whatever reaches it.
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    let elsewhere = listen(axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    }))
    .await;
    // An "Affinity" that redirects every request there; with `quota`, all but the quota
    // check, so the sync gets to its pages.
    let redirecting = |quota: bool| {
        let target = elsewhere.clone();
        listen(axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let to = format!("{target}{uri}");
            async move {
                if quota && uri.path() == "/rate-limit" {
                    let n =
                        json!({"limit": 100_000, "remaining": 100_000, "reset": 3600, "used": 0});
                    let body = json!({"rate": {"api_key_per_minute": n, "org_monthly": n}});
                    return axum::response::IntoResponse::into_response(body.to_string());
                }
                let redirect = axum::http::StatusCode::TEMPORARY_REDIRECT;
                axum::response::IntoResponse::into_response((
                    redirect,
                    [(axum::http::header::LOCATION, to)],
                ))
            }
        }))
    };
    let dir = temp_dir("redirect");
    let key = "redirected-key-0123456789";
    for (quota, fails_at) in [(false, "/rate-limit"), (true, "/v2/persons")] {
        let base = redirecting(quota).await;
        let out = dir.join(format!("out-{quota}"));
        let output = sync(&base, &out, &["--streams", "persons"], Some(key)).await;
        assert!(!output.status.success());
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.contains(&format!("{fails_at} with a redirect (307)")),
            "{err}"
        );
        assert!(!err.contains(key));
        assert!(complete_syncs(&out).is_empty());
    }
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a request followed the redirect"
    );
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
        .filter(|name| !name.starts_with('.'))
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
    check_against_truth(&d.dataset(), &out, &id);
    let stats = d.stats();
    assert_eq!(
        stats.faults.values().sum::<u64>(),
        9,
        "every scripted fault was injected"
    );
    let failed_attempts = 8; // the slow one succeeds
    assert_eq!(
        stats.requests,
        minimum_requests(&d.dataset()) + failed_attempts,
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
        let mut text = serde_json::to_vec(&person).unwrap();
        let tape = affinity_sync_core::record::parse(&mut text).unwrap();
        let person = affinity_sync_core::record::root(&tape);
        if affinity_sync_core::interactions::has_interactions(person) {
            with_interactions += 1;
        }
        for w in affinity_sync_core::interactions::windows(person) {
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
        minimum_requests(&d.dataset()) - 1,
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

/// A page that fails beyond its retries is parked with the reason; the other chains finish,
/// the sync exits non-zero without a sync manifest, and `resume` completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_keeps_failing_is_parked_and_resume_finishes_the_sync() {
    let d = double(MockConfig {
        seed: 12,
        sizes: Sizes::small(),
        faults: FaultPlan {
            // Request 1 is the quota check; with one page at a time, 5 and its retry 6 are
            // the same page.
            script: FaultPlan::parse_script("5-6=500").unwrap(),
            ..FaultPlan::default()
        },
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("parked");
    let out = dir.join("out");
    let args = ["--concurrency", "1", "--max-retries", "1"];
    let first = sync(&d.base_url(), &out, &args, Some("test-key")).await;
    assert_eq!(first.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stdout.contains("incomplete"), "{stdout}");
    assert!(
        stdout.contains("parked: ") && stdout.contains("gave up after 2 attempts"),
        "the summary names the parked page and why: {stdout}"
    );
    assert!(
        stderr.contains("1 page(s) failed") && stderr.contains("affinity-sync resume --out"),
        "{stderr}"
    );
    assert!(complete_syncs(&out).is_empty(), "no sync manifest");
    let jobs = out.join("_jobs");
    let sync_dir = std::fs::read_dir(&jobs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let parked: Vec<_> = std::fs::read_dir(sync_dir.join("failed"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(parked.len(), 1);
    let record: Value = serde_json::from_slice(&std::fs::read(parked[0].path()).unwrap()).unwrap();
    assert_eq!(record["attempts"], 2);
    assert!(record["error"].as_str().unwrap().contains("500"));
    assert!(
        !sync_dir.join("pending").exists(),
        "every other page finished"
    );

    let second = resume(&d.base_url(), &out, &[], Some("test-key")).await;
    ok(&second);
    let syncs = complete_syncs(&out);
    assert_eq!(syncs.len(), 1);
    check_against_truth(&d.dataset(), &out, &syncs[0]);
    assert!(!jobs.exists(), "a complete sync leaves no journal");
    assert_eq!(
        d.stats().requests,
        minimum_requests(&d.dataset()) + 2,
        "the two failed attempts are the only extra requests: resume re-ran just that page"
    );
    let again = resume(&d.base_url(), &out, &[], Some("test-key")).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no unfinished sync"));
    std::fs::remove_dir_all(&dir).ok();
}

/// When the month's quota runs out mid-sync, the sync stops at once, says so, and keeps its
/// unfinished pages; resumed with quota (here: the same data on a fresh double) it completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_monthly_quota_stops_the_sync_and_resume_completes_it() {
    let config = |monthly| MockConfig {
        seed: 14,
        sizes: Sizes::small(),
        limits: RateLimits {
            monthly,
            enforce: true,
            ..RateLimits::default()
        },
        ..MockConfig::default()
    };
    let poor = double(config(12)).await;
    let dir = temp_dir("quota-spent");
    let out = dir.join("out");
    let first = sync(
        &poor.base_url(),
        &out,
        &["--ignore-quota"],
        Some("test-key"),
    )
    .await;
    assert_eq!(first.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("monthly request quota is spent")
            && stderr.contains("affinity-sync resume"),
        "{stderr}"
    );
    assert!(complete_syncs(&out).is_empty());
    assert!(
        poor.stats().rate_limited <= 4,
        "it stops at the first 429s (one per page in flight), not after retrying"
    );

    let rich = double(config(100_000)).await;
    ok(&resume(&rich.base_url(), &out, &[], Some("test-key")).await);
    let syncs = complete_syncs(&out);
    assert_eq!(syncs.len(), 1);
    check_against_truth(&rich.dataset(), &out, &syncs[0]);
    std::fs::remove_dir_all(&dir).ok();
}

/// With a job secret, the journal's jobs are signed: an altered entry is refused on resume,
/// by file name and reason, and nothing is fetched for it; the intact journal resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_jobs_refuse_a_tampered_journal() {
    let d = double(MockConfig {
        seed: 16,
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("signed");
    let out = dir.join("out");
    let run = |command: &'static str, extra: Vec<&'static str>, secret: &'static str| {
        let base = d.base_url();
        let out = out.clone();
        async move {
            let env = [("AFFINITY_SYNC_JOB_SECRET", secret)];
            run_command(command, &base, &out, &extra, Some("test-key"), &env).await
        }
    };
    let secret = "a-job-secret-of-more-than-16-bytes";
    let crashed = run(
        "sync",
        vec!["--inject", "crash-after-writes=30", "--concurrency", "1"],
        secret,
    )
    .await;
    assert_eq!(crashed.status.code(), Some(86));
    let pending_dir = std::fs::read_dir(out.join("_jobs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("pending");
    let entry = std::fs::read_dir(&pending_dir)
        .unwrap()
        .flatten()
        .find(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .unwrap()
        .path();
    let original = std::fs::read_to_string(&entry).unwrap();
    assert!(original.contains("\"mac\":\"") && !original.contains(secret));
    let mut altered: Value = serde_json::from_str(&original).unwrap();
    altered["records"] = json!(999_999);
    std::fs::write(&entry, altered.to_string()).unwrap();

    let requests = d.stats().requests;
    let refused = run("resume", vec![], secret).await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let name = entry.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        stderr.contains("signature does not match") && stderr.contains(&name),
        "{stderr}"
    );
    let wrong = run("resume", vec![], "another-secret-also-long-enough").await;
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("signature does not match"));
    assert_eq!(
        d.stats().requests,
        requests,
        "nothing fetched for a refused journal"
    );

    std::fs::write(&entry, original).unwrap();
    ok(&run("resume", vec![], secret).await);
    let syncs = complete_syncs(&out);
    assert_eq!(syncs.len(), 1);
    check_against_truth(&d.dataset(), &out, &syncs[0]);
    std::fs::remove_dir_all(&dir).ok();
}

/// Standard base64, to look for a key hidden in a Basic authorization header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The API key and the job secret appear nowhere a sync leaves a trace: not in debug logs
/// (retries and errors included), batches, manifests or journal entries, plain or base64.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_objects_or_the_journal() {
    let key = "affinity-key-4b1d-never-leak";
    let secret = "job-secret-9f3e-never-leak";
    let d = double(MockConfig {
        api_key: key.into(),
        seed: 18,
        sizes: Sizes::small(),
        faults: FaultPlan {
            script: FaultPlan::parse_script("3=500,4=drop,6=truncated,9=malformed,12=503").unwrap(),
            ..FaultPlan::default()
        },
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("leaks");
    let out = dir.join("out");
    let run = |command: &'static str, extra: Vec<&'static str>, key: &'static str| {
        let base = d.base_url();
        let out = out.clone();
        async move {
            let env = [
                ("AFFINITY_SYNC_JOB_SECRET", secret),
                ("AFFINITY_SYNC_LOG", "debug"),
            ];
            run_command(command, &base, &out, &extra, Some(key), &env).await
        }
    };
    let needles = [
        key.to_string(),
        secret.to_string(),
        base64(format!(":{key}").as_bytes()),
    ];
    let mut outputs = vec![];
    let crashed = run("sync", vec!["--inject", "crash-after-writes=40"], key).await;
    assert_eq!(crashed.status.code(), Some(86));
    let mut all_files = vec![];
    files(&out, &mut all_files);
    assert!(
        all_files
            .iter()
            .any(|f| f.to_string_lossy().contains("_jobs"))
    );
    outputs.push(crashed);
    outputs.push(run("resume", vec![], key).await);
    ok(outputs.last().unwrap());
    let wrong = run("sync", vec![], "wrong-key-5555-never-leak").await;
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("401"));
    outputs.push(wrong);
    files(&out, &mut all_files);
    assert!(
        all_files.len() > 50,
        "the scan covers every object: {}",
        all_files.len()
    );

    let mut haystacks: Vec<(String, Vec<u8>)> = vec![];
    for o in &outputs {
        haystacks.push(("stdout".into(), o.stdout.clone()));
        haystacks.push(("stderr".into(), o.stderr.clone()));
    }
    assert!(
        String::from_utf8_lossy(&outputs[0].stderr).contains("DEBUG"),
        "the logs were at debug level"
    );
    for f in &all_files {
        if let Ok(bytes) = std::fs::read(f) {
            haystacks.push((f.display().to_string(), bytes));
        }
    }
    for (name, bytes) in &haystacks {
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{name} holds a secret"
            );
        }
        assert!(
            !bytes.windows(25).any(|w| w == b"wrong-key-5555-never-leak"),
            "{name} holds the rejected key"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
