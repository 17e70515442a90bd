//! Change capture end to end: a full sync, then the double changes its data (creates,
//! updates, deletes, merges) and posts the webhooks to `affinity-sync serve` (some twice,
//! some out of order, or a burst of 1,000 at once); after `load duckdb` every table equals
//! the double's current state exactly (compared with a fresh full sync of the changed double,
//! and with the double's own records), deletes included.

mod support;

use affinity_mock::{MockConfig, MockServer, RateLimits, Sizes};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::changes::{SECRET, assert_same_tables, change, idle, serve};
use support::*;

async fn cli(args: Vec<String>, cwd: PathBuf) -> String {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        succeeded(&affinity_sync(&args, Some("test-key"), &cwd))
    })
    .await
    .unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

async fn sync_and_load(base: &str, out: &Path, db: &Path, cwd: &Path) -> String {
    let o = out.display().to_string();
    cli(
        strings(&["sync", "--base-url", base, "--out", &o, "--quiet"]),
        cwd.into(),
    )
    .await;
    load(out, db, cwd).await
}

async fn load(out: &Path, db: &Path, cwd: &Path) -> String {
    cli(
        strings(&[
            "load",
            "duckdb",
            "--from",
            &out.display().to_string(),
            "--db",
            &db.display().to_string(),
        ]),
        cwd.into(),
    )
    .await
}

fn ids(db: &Path, sql: &str) -> BTreeSet<i64> {
    let conn = duckdb::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

async fn double(seed: u64, limits: RateLimits) -> MockServer {
    MockServer::start(
        MockConfig {
            seed,
            sizes: Sizes::small(),
            limits,
            ..MockConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// What a scenario saw.
struct Scenario {
    /// The double's answer to the deliveries.
    answer: Value,
    /// The receiver's `GET /health` once idle.
    health: Value,
    work: PathBuf,
    /// Requests the double refused with a 429 while `serve` ran.
    throttled_while_serving: u64,
}

/// A sync and a load, `changes` webhook events delivered to `serve` as `delivery` says, then
/// the load with the changes equal to a fresh sync's.
async fn run_scenario(seed: u64, changes: usize, delivery: Value, limits: RateLimits) -> Scenario {
    let d = double(seed, limits).await;
    let work = temp_dir("webhooks");
    let (out, db, fresh_out, fresh_db) = (
        work.join("out"),
        work.join("applied.duckdb"),
        work.join("fresh"),
        work.join("fresh.duckdb"),
    );
    sync_and_load(&d.base_url(), &out, &db, &work).await;
    let persons_before = ids(&db, "SELECT id FROM persons");

    let throttled_before = d.stats().rate_limited;
    let receiver = serve(&d.base_url(), &out, &work);
    let answer = change(&d, &receiver, changes, delivery).await;
    let health = idle(&receiver).await;
    drop(receiver);
    let throttled_while_serving = d.stats().rate_limited - throttled_before;

    let printed = load(&out, &db, &work).await;
    assert!(printed.contains("webhook changes:"), "{printed}");
    sync_and_load(&d.base_url(), &fresh_out, &fresh_db, &work).await;
    let log = std::fs::read_to_string(work.join("serve.log")).unwrap_or_default();
    assert_same_tables(&db, &fresh_db, &log);

    // And against the double's own records: creates arrived, deletes are gone.
    let truth: BTreeSet<i64> = d.dataset().persons.iter().map(|p| p.id).collect();
    let persons_after = ids(&db, "SELECT id FROM persons");
    assert_eq!(persons_after, truth);
    assert_ne!(persons_after, persons_before, "the changes touched persons");
    let entries: BTreeSet<i64> = d.dataset().list_entries.iter().map(|e| e.id).collect();
    assert_eq!(ids(&db, "SELECT id FROM list_entries"), entries);
    let fields: BTreeSet<i64> = d
        .dataset()
        .fields
        .iter()
        .filter(|f| f.in_v1())
        .map(|f| f.id)
        .collect();
    assert_eq!(ids(&db, "SELECT id FROM fields"), fields);
    Scenario {
        answer,
        health,
        work,
        throttled_while_serving,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_bring_the_warehouse_to_the_current_state() {
    // Every 4th event twice, shuffled within windows of 7: duplicates and out of order.
    let Scenario {
        answer,
        health,
        work,
        ..
    } = run_scenario(
        31,
        120,
        json!({"seed": 5, "duplicate_every": 4, "shuffle_window": 7}),
        RateLimits::default(),
    )
    .await;
    let events = answer["events"].as_array().unwrap();
    assert_eq!(events.len(), 120);
    assert_eq!(answer["delivered"], 120 + 30);
    assert_eq!(health["received"], 150);
    assert_eq!(health["failed"], 0);
    let kinds: BTreeSet<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for k in [
        "person.created",
        "person.updated",
        "person.deleted",
        "list_entry.created",
        "list_entry.deleted",
        "field_value.updated",
        "field_value.deleted",
        "note.deleted",
        "field.created",
        "field.updated",
        "field.deleted",
    ] {
        assert!(kinds.contains(k), "the series has a {k}: {kinds:?}");
    }
    // Each event is recorded once, however often it came.
    let conn = duckdb::Connection::open(work.join("applied.duckdb")).unwrap();
    let recorded: i64 = conn
        .query_row(
            "SELECT count(DISTINCT change_id) FROM change_events",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM change_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!((recorded, rows), (120, 120));
    // The statements `ddl --dialect duckdb` prints (the sync's load, then the change batches
    // applied), run as printed, reach the same state.
    let out = work.join("out").display().to_string();
    let sql = cli(
        strings(&["ddl", "--dialect", "duckdb", "--from", &out]),
        work.clone(),
    )
    .await;
    assert!(sql.contains("-- ordering the changes"), "{sql}");
    let printed = work.join("printed.duckdb");
    duckdb::Connection::open(&printed)
        .unwrap()
        .execute_batch(&sql)
        .unwrap();
    assert_same_tables(
        &printed,
        &work.join("fresh.duckdb"),
        "(ddl --dialect duckdb)",
    );
    // Nothing secret reached storage or the log.
    for file in files_under(&work.join("out")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET)
                && !String::from_utf8_lossy(&bytes).contains("test-key"),
            "{} holds a secret",
            file.display()
        );
    }
    let log = std::fs::read_to_string(work.join("serve.log")).unwrap();
    assert!(!log.contains(SECRET) && !log.contains("test-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_events_is_accepted_without_loss() {
    let Scenario {
        answer,
        health,
        work,
        ..
    } = run_scenario(
        32,
        1000,
        json!({"seed": 6, "parallel": 32}),
        RateLimits::default(),
    )
    .await;
    assert_eq!(answer["events"].as_array().unwrap().len(), 1000);
    assert_eq!(answer["delivered"], 1000);
    assert_eq!(health["received"], 1000);
    assert_eq!(health["failed"], 0);
    let conn = duckdb::Connection::open(work.join("applied.duckdb")).unwrap();
    let recorded: i64 = conn
        .query_row(
            "SELECT count(DISTINCT change_id) FROM change_events",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // One change record per distinct event: two identical events (same type, body and
    // second; the double sends several a second in a burst) are one change.
    let distinct: std::collections::HashSet<String> = answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(distinct.len() > 990, "{}", distinct.len());
    assert_eq!(recorded, distinct.len() as i64);
    // Merges record both ids: a tombstone for the removed company, the kept one refreshed.
    let events = answer["events"].as_array().unwrap();
    let merges: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "organization.merged")
        .collect();
    assert!(!merges.is_empty());
    let merged: i64 = conn
        .query_row(
            "SELECT count(DISTINCT change_id) FROM change_events e JOIN tombstones t USING (change_id) \
             WHERE e.type = 'organization.merged' AND t.entity = 'company' \
               AND t.id = CAST(json_extract(e.body, '$.removed_company.id') AS BIGINT)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(merged, merges.len() as i64);
}

/// `serve`'s refresh workers keep to the minute's budget as a sync does: against a double
/// that enforces 30 requests a minute (a minute of 3 real seconds), a burst of events takes
/// several windows and is refreshed whole with no refresh parked. A 429 can only meet the
/// workers' first requests, sent before an answer told the new process that the sync before
/// it left the window spent; without the shared budget, each worker met one in every window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_keep_to_the_minute_budget() {
    let limits = RateLimits {
        per_minute: 30,
        enforce: true,
        clock_scale: 20.0,
        ..RateLimits::default()
    };
    let s = run_scenario(33, 150, json!({"seed": 7, "parallel": 8}), limits).await;
    assert_eq!(s.answer["delivered"], 150);
    assert_eq!(s.health["failed"], 0);
    let refreshed = ["upserted", "deleted", "skipped"]
        .iter()
        .map(|k| s.health[k].as_u64().unwrap())
        .sum::<u64>();
    assert!(
        refreshed > 3 * 30,
        "several windows of refreshes: {}",
        s.health
    );
    // `serve`'s default: 2 workers.
    assert!(
        s.throttled_while_serving <= 2,
        "{}",
        s.throttled_while_serving
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_refuses_what_is_not_an_event_from_the_subscription() {
    let d = double(33, RateLimits::default()).await;
    let work = temp_dir("webhooks-bad");
    let out = work.join("out");
    let receiver = serve(&d.base_url(), &out, &work);
    let http = reqwest::Client::new();
    let post = |token: &str, body: String| {
        http.post(format!("{}/webhook?token={token}", receiver.url))
            .body(body)
            .send()
    };
    let good = r#"{"type":"person.updated","body":{"id":1},"sent_at":1764000000}"#;
    assert_eq!(
        post("wrong-token-0123456789", good.into())
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(post("", good.into()).await.unwrap().status(), 401);
    let bad = post(SECRET, "not json".into()).await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("not JSON"));
    let no_time = post(
        SECRET,
        r#"{"type":"person.updated","body":{"id":1}}"#.into(),
    )
    .await
    .unwrap();
    assert_eq!(no_time.status(), 400);
    assert!(no_time.text().await.unwrap().contains("sent_at"));
    // A replay of a delivery captured 13 hours ago (Affinity retries for at most 10 hours),
    // and an event from a clock far ahead.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (sent_at, says) in [(now - 13 * 3600, "replays"), (now + 3600, "ahead")] {
        let event = format!(r#"{{"type":"person.updated","body":{{"id":1}},"sent_at":{sent_at}}}"#);
        let refused = post(SECRET, event).await.unwrap();
        assert_eq!(refused.status(), 400);
        let error: serde_json::Value = refused.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(says), "{error}");
    }
    // Nothing was written for refused deliveries.
    assert!(files_under(&out).is_empty(), "{:?}", files_under(&out));
    let h = idle(&receiver).await;
    assert_eq!(
        (h["received"].clone(), h["refused"].clone()),
        (json!(0), json!(6))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_made_listed_and_deleted_within_affinitys_limit_of_three() {
    let d = double(34, RateLimits::default()).await;
    let work = temp_dir("webhooks-subs");
    std::fs::write(work.join("secret"), SECRET).unwrap();
    let base = d.base_url();
    let secret_file = work.join("secret").display().to_string();
    let run = |args: Vec<&str>| {
        let work = work.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                affinity_sync(&a, Some("test-key"), &work)
            })
            .await
            .unwrap()
        }
    };
    // The double starts with two (as an account might); one more fits.
    let listed = succeeded(&run(vec!["webhooks", "list", "--base-url", &base]).await);
    assert!(listed.contains("(2 of 3 allowed)"), "{listed}");
    let made = succeeded(
        &run(vec![
            "webhooks",
            "subscribe",
            "--base-url",
            &base,
            "--url",
            "https://hooks.example.com/webhook",
            "--events",
            "person.created,organization.merged",
            "--webhook-secret-file",
            &secret_file,
        ])
        .await,
    );
    let full = format!("https://hooks.example.com/webhook?token={SECRET}");
    assert!(
        made.contains(&full),
        "subscribe prints the URL to configure: {made}"
    );
    let mine = d
        .dataset()
        .webhook_subscriptions
        .iter()
        .find(|w| w.webhook_url == full)
        .cloned()
        .expect("the double has the new subscription");
    assert_eq!(
        mine.subscriptions,
        ["person.created", "organization.merged"]
    );

    let listed = succeeded(&run(vec!["webhooks", "list", "--base-url", &base]).await);
    assert!(
        listed.contains("token=***") && !listed.contains(SECRET),
        "{listed}"
    );
    assert!(listed.contains("(3 of 3 allowed)"), "{listed}");

    // A fourth is refused before Affinity is asked, naming the ones there are.
    let refused = run(vec![
        "webhooks",
        "subscribe",
        "--base-url",
        &base,
        "--url",
        "https://other.example.com/webhook",
        "--webhook-secret-file",
        &secret_file,
    ])
    .await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("allows 3 webhook subscriptions") && err.contains("webhooks delete"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
    assert_eq!(d.dataset().webhook_subscriptions.len(), 3);

    // An unknown event is refused with the list of known ones.
    let bad = run(vec![
        "webhooks",
        "subscribe",
        "--base-url",
        &base,
        "--url",
        "https://other.example.com/webhook",
        "--events",
        "person.exploded",
        "--webhook-secret-file",
        &secret_file,
    ])
    .await;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("person.exploded"));

    let id = mine.id.to_string();
    succeeded(&run(vec!["webhooks", "delete", "--base-url", &base, &id]).await);
    assert!(
        d.dataset()
            .webhook_subscriptions
            .iter()
            .all(|w| w.id != mine.id)
    );
    let missing = run(vec!["webhooks", "delete", "--base-url", &base, &id]).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
}
