//! `affinity-sync show` in a real browser (Debian's chromium, driven through chromium-driver
//! by tests/show_browser.py): over a store with a full sync, a second full sync in which a
//! stream's count fell, and a sync stopped by a 403, the page shows what the manifests and
//! the database hold, refuses writes, and each view is photographed (docs/screenshots/ holds
//! the copies the README shows). Then its guards: a token off loopback, and bad input.

mod support;

use affinity_mock::FaultPlan;
use serde_json::{Value, json};
use std::path::Path;
use support::changes::{change, idle, serve};
use support::show::Show;
use support::*;

/// The one line a refused `show` printed, and that it exited with status 2.
fn refused(args: &[&str], cwd: &Path) -> String {
    let mut all = vec!["show"];
    all.extend_from_slice(args);
    let o = affinity_sync(&all, None, cwd);
    let stderr = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_store_and_database_in_a_browser() {
    // Four syncs in a row: no pacing to the per-minute limit.
    let d = support::e2e::unpaced_double(44).await;
    let base = d.base_url();
    let work = temp_dir("show");
    // Named as `sync`'s default, and shown by the relative name a person would type (the
    // screenshots show it).
    let out = work.join("affinity-data");
    let o = out.display().to_string();
    let sync = |extra: &[&str]| {
        let mut args = vec!["sync", "--base-url", &base, "--out", &o, "--quiet"];
        args.extend_from_slice(extra);
        affinity_sync(&args, Some("test-key"), &work)
    };

    // A full sync; then half the persons go, and the next full sync has fewer.
    succeeded(&sync(&[]));
    d.edit(|ds| {
        let keep = ds.persons.len() / 2;
        ds.persons.truncate(keep);
    });
    succeeded(&sync(&[]));
    // Webhook events after it, received by `serve`.
    let receiver = serve(&base, &out, &work);
    change(&d, &receiver, 12, json!({"seed": 3})).await;
    idle(&receiver).await;
    drop(receiver);
    let db = work.join("affinity.duckdb");
    let dbs = db.display().to_string();
    succeeded(&affinity_sync(
        &["load", "duckdb", "--from", &o, "--db", &dbs],
        None,
        &work,
    ));
    // A sync that stops at a page Affinity refuses.
    d.set_faults(FaultPlan {
        script: FaultPlan::parse_script("5=403").unwrap(),
        ..FaultPlan::default()
    });
    assert_eq!(sync(&["--concurrency", "1"]).status.code(), Some(1));
    d.set_faults(FaultPlan::default());
    let complete = complete_syncs(&out);
    let stopped = sync_ids(&out.join("_jobs"))
        .into_iter()
        .find(|id| !complete.contains(id))
        .expect("the stopped sync");

    // What a person must see: the latest complete sync's counts, as its manifest says (the
    // latest by start time: two syncs started in the same second sort by their random part).
    let manifest: Value = complete
        .iter()
        .map(|id| {
            let path = out
                .join("_manifests")
                .join(format!("sync_id={id}"))
                .join("sync.json");
            serde_json::from_slice::<Value>(&std::fs::read(path).unwrap()).unwrap()
        })
        .max_by_key(|m| m["started_at"].as_str().unwrap().to_string())
        .unwrap();
    let streams: serde_json::Map<String, Value> = manifest["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stream"].as_str().unwrap().to_string(),
                s["records"].clone(),
            )
        })
        .collect();
    let used: u64 = manifest["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    let quota_left = manifest["quota"]["monthly_remaining"].as_u64().unwrap() - used;
    let persons: i64 = duckdb::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM persons", [], |r| r.get(0))
        .unwrap();
    let expected = work.join("expected.json");
    std::fs::write(
        &expected,
        json!({
            "streams": streams,
            "syncs": 3,
            "fell": ["persons"],
            "persons": persons,
            "stopped_sync": stopped,
            "quota_left": quota_left,
            "events": 12,
            "tables": affinity_sync_core::catalog::STREAMS
                .iter()
                .map(|s| s.tables.len())
                .sum::<usize>() + 2,
        })
        .to_string(),
    )
    .unwrap();

    let show = Show::start(
        &[
            "--from",
            "./affinity-data",
            "--db",
            "affinity.duckdb",
            "--listen",
            "127.0.0.1:0",
        ],
        &work,
        &[],
    );
    let shots = match std::env::var("AFFINITY_SYNC_SCREENSHOTS") {
        Ok(dir) => std::path::PathBuf::from(dir),
        Err(_) => work.join("screenshots"),
    };
    let browser = std::process::Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/show_browser.py"
        ))
        .arg(&show.url)
        .arg(&expected)
        .arg(&shots)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&browser.stdout);
    assert!(
        browser.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    assert!(report.contains("all checks passed"), "{report}");
    for view in ["overview", "history", "tables", "data", "fields", "changes"] {
        let png = std::fs::read(shots.join(format!("{view}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{view}.png");
    }
    // The refused DROP left the table as it was.
    let after: i64 = duckdb::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM persons", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, persons);
    drop(show);

    // Off loopback a token is required; given once, it becomes a cookie and leaves the
    // address; without it nothing is shown; it is never on the page.
    assert!(refused(&["--from", &o, "--listen", "0.0.0.0:0"], &work).contains("--token"));
    let guarded = Show::start(
        &[
            "--from",
            &o,
            "--db",
            &dbs,
            "--listen",
            "127.0.0.1:0",
            "--token",
            "s3cret-t0ken",
        ],
        &work,
        &[],
    );
    assert!(guarded.url.ends_with("?token=<your"), "{}", guarded.url);
    let root = guarded.url.split('?').next().unwrap().to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bare = http.get(&root).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let wrong = http.get(format!("{root}?token=nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let traded = http
        .get(format!("{root}history?token=s3cret-t0ken"))
        .send()
        .await
        .unwrap();
    assert_eq!(traded.status(), 303);
    assert_eq!(traded.headers()["location"], "/history");
    let cookie = traded.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let page = http
        .get(format!("{root}history"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("chart-records") && !html.contains("s3cret-t0ken"));
    drop(guarded);

    // Without a token, a request naming another host is refused (DNS rebinding).
    let open = Show::start(&["--from", &o, "--listen", "127.0.0.1:0"], &work, &[]);
    let rebound = http
        .get(&open.url)
        .header("host", "attacker.example:8765")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    assert_eq!(http.get(&open.url).send().await.unwrap().status(), 200);
    drop(open);

    // Bad input: one clear line each, exit status 2.
    let empty = work.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = refused(&["--from", &empty.display().to_string()], &work);
    assert!(e.contains("holds no syncs"), "{e}");
    let e = refused(
        &["--from", &work.join("nowhere").display().to_string()],
        &work,
    );
    assert!(e.contains("no such directory"), "{e}");
    let e = refused(&["--from", &o, "--db", "missing.duckdb"], &work);
    assert!(e.contains("no DuckDB database there"), "{e}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let e = refused(&["--from", &o, "--listen", &port], &work);
    assert!(e.contains("in use"), "{e}");
}
