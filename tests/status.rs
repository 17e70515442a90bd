//! `affinity-sync status` over what real syncs wrote, on a directory and on S3 (moto): a
//! complete full sync, a complete incremental sync, a running sync (a journal with pending
//! pages), one stopped by a crash, one stopped by a page that fails for good (a scripted 403
//! from the double), and webhook changes. Each time the report must say exactly what the
//! manifests and the journal hold, with the exit status a monitoring script relies on, and a
//! next step that, when run, finishes the sync.

mod support;

use affinity_mock::FaultPlan;
use affinity_mock::{MockConfig, MockServer, Sizes};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::e2e::*;
use support::moto::*;
use support::*;

/// `affinity-sync status <args>` with `env`.
fn status(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    affinity_sync_with_env(&all, None, cwd, env)
}

/// `status --json` (+ `args`), its object and exit status; checks that every field is
/// documented in docs/status.md.
fn status_json(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (Value, i32) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = status(&all, cwd, env);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status.md")).unwrap();
    for path in paths(&report) {
        assert!(
            doc.contains(&format!("| `{path}` |")) || doc.contains(&format!("| `{path}?` |")),
            "docs/status.md does not document {path}"
        );
    }
    (report, o.status.code().unwrap())
}

/// Every field path of `v` (`syncs[].pages.done`), parent ids' keys left out (data).
fn paths(v: &Value) -> BTreeSet<String> {
    fn walk(v: &Value, at: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    out.insert(path.clone());
                    if !path.ends_with("parked[].parents") {
                        walk(child, &path, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, &format!("{at}[]"), out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(v, "", &mut out);
    out
}

async fn small_double() -> MockServer {
    double(MockConfig {
        seed: 43,
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await
}

/// The sync manifest of `id` in the directory `out`.
fn manifest(out: &Path, id: &str) -> Value {
    let path = out.join(format!("_manifests/sync_id={id}/sync.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A complete sync as `status <id> --json` reports it equals its manifest, stream by stream.
fn assert_matches_manifest(sync: &Value, manifest: &Value) {
    assert_eq!(sync["state"], "complete");
    assert_eq!(sync["started_at"], manifest["started_at"]);
    assert_eq!(sync["finished_at"], manifest["finished_at"]);
    let mut records = 0;
    let streams = sync["streams"].as_array().unwrap();
    assert_eq!(streams.len(), manifest["streams"].as_array().unwrap().len());
    for s in manifest["streams"].as_array().unwrap() {
        let got = streams
            .iter()
            .find(|g| g["stream"] == s["stream"])
            .unwrap_or_else(|| panic!("no {} in {sync}", s["stream"]));
        assert_eq!(got["records"], s["records"], "{}", s["stream"]);
        assert_eq!(got["pages"]["done"], s["pages"], "{}", s["stream"]);
        assert_eq!(got["chains_done"], s["chains"], "{}", s["stream"]);
        assert_eq!(got["requests"], s["requests"], "{}", s["stream"]);
        records += s["records"].as_u64().unwrap();
    }
    assert_eq!(sync["records"], records);
}

/// Sets the modification time of every file under `dir` to `minutes` ago.
fn age(dir: &Path, minutes: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(minutes * 60);
    for f in files_under(dir) {
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

/// The one sync in `report` (`status <id>`).
fn only(report: &Value) -> &Value {
    let syncs = report["syncs"].as_array().unwrap();
    assert_eq!(syncs.len(), 1, "{report}");
    &syncs[0]
}

/// Runs a printed next step (`affinity-sync resume …`) against the double, as a user would.
fn run_next_step(step: &str, base: &str, cwd: &Path, env: &[(&str, &str)]) -> Output {
    let words: Vec<&str> = step.split_whitespace().collect();
    assert_eq!(&words[..2], ["affinity-sync", "resume"], "{step}");
    let mut args = words[1..].to_vec();
    args.extend(["--base-url", base, "--quiet"]);
    affinity_sync_with_env(&args, Some("test-key"), cwd, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_full_incremental_running_and_stopped_syncs_in_a_directory() {
    let d = small_double().await;
    let work = temp_dir("status");
    let out = work.join("out");
    let o = out.display().to_string();
    let base = d.base_url();
    // Every field any report here had: at the end, all the documented ones.
    let seen = std::cell::RefCell::new(BTreeSet::new());
    let st = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--out", o.as_str()]);
        let (report, code) = status_json(&all, &work, &[]);
        seen.borrow_mut().extend(paths(&report));
        (report, code)
    };

    // A complete full sync.
    ok(&sync(&base, &out, &[], Some("test-key")).await);
    let full = complete_syncs(&out).pop().unwrap();
    let (report, code) = st(&[]);
    assert_eq!((code, &report["health"]), (0, &json!("ok")));
    let s = only(&report);
    assert_eq!((&s["sync_id"], &s["kind"]), (&json!(full), &json!("full")));
    assert_eq!(
        s["pages"],
        json!({"done": s["pages"]["done"], "pending": 0, "parked": 0})
    );
    // Every request of the sync but the quota check is in its chains' tallies.
    assert_eq!(s["requests"], minimum_requests(&d.dataset()) - 1);
    assert_eq!((&s["retries"], &s["throttled"]), (&json!(0), &json!(0)));
    let (detail, code) = st(&[&full]);
    assert_eq!(code, 0);
    assert_matches_manifest(only(&detail), &manifest(&out, &full));
    // The people's view says the same.
    let text = status(&["--out", &o], &work, &[]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("healthy") && text.contains(&full), "{text}");

    // A complete incremental sync, listed first.
    ok(&sync(&base, &out, &["--incremental"], Some("test-key")).await);
    let incremental = complete_syncs(&out)
        .into_iter()
        .find(|id| *id != full)
        .unwrap();
    let (report, code) = st(&[]);
    assert_eq!(code, 0);
    let ids: Vec<&Value> = report["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["sync_id"])
        .collect();
    assert_eq!(ids, [&json!(incremental), &json!(full)], "newest first");
    assert_eq!(report["syncs"][0]["kind"], "incremental");
    let (detail, _) = st(&[&incremental]);
    assert_matches_manifest(only(&detail), &manifest(&out, &incremental));
    assert!(
        only(&detail)["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["since"].is_string())
    );
    let (last, _) = st(&["--last", "1"]);
    assert_eq!(last["syncs"].as_array().unwrap().len(), 1);

    // A sync that crashed a moment ago is running: pages pending, recent writes.
    let crashed = sync(
        &base,
        &out,
        &["--inject", "crash-after-writes=30"],
        Some("test-key"),
    )
    .await;
    assert_eq!(crashed.status.code(), Some(86));
    let (report, code) = st(&[]);
    let running = report["syncs"][0].clone();
    let id = running["sync_id"].as_str().unwrap().to_string();
    assert!(!complete_syncs(&out).contains(&id));
    assert_eq!(
        (code, &running["state"]),
        (0, &json!("running")),
        "{report}"
    );
    assert!(running["pages"]["pending"].as_u64().unwrap() > 0);
    assert_eq!(running["runs_on"], "cli");
    assert!(running.get("next_step").is_none());
    // Its pending pages are the journal's, stream by stream.
    let (detail, _) = st(&[&id]);
    let pending_dir = out.join(format!("_jobs/sync_id={id}/pending"));
    let journal: Vec<String> = std::fs::read_dir(&pending_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let pending_by_status: u64 = only(&detail)["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["pages"]["pending"].as_u64().unwrap())
        .sum();
    assert_eq!(pending_by_status, journal.len() as u64);

    // Nothing written for half an hour: stopped, and the next step finishes it.
    age(&out.join(format!("_jobs/sync_id={id}")), 30);
    age(&out.join(format!("_manifests/sync_id={id}")), 30);
    let (report, code) = st(&[]);
    let stopped = &report["syncs"][0];
    assert_eq!(
        (code, &stopped["state"], &report["health"]),
        (1, &json!("stopped"), &json!("attention"))
    );
    assert!(
        stopped["reason"]
            .as_str()
            .unwrap()
            .contains("nothing written for 30 min"),
        "{stopped}"
    );
    let step = stopped["next_step"].as_str().unwrap();
    assert_eq!(
        step,
        format!("affinity-sync resume --out {o} --sync-id {id}")
    );
    ok(&run_next_step(step, &base, &work, &[]));
    let (report, code) = st(&[&id]);
    assert_eq!(code, 0);
    assert_matches_manifest(only(&report), &manifest(&out, &id));

    // A page the key may not read (403) is parked at once: stopped, with the reason.
    d.set_faults(FaultPlan {
        script: FaultPlan::parse_script("5=403").unwrap(),
        ..FaultPlan::default()
    });
    let forbidden = sync(&base, &out, &["--concurrency", "1"], Some("test-key")).await;
    assert_eq!(forbidden.status.code(), Some(1));
    let (report, code) = st(&[]);
    let stopped = report["syncs"][0].clone();
    let id = stopped["sync_id"].as_str().unwrap().to_string();
    assert_eq!(
        (code, &stopped["state"]),
        (1, &json!("stopped")),
        "{report}"
    );
    assert_eq!(stopped["pages"]["parked"], 1);
    assert_eq!(stopped["pages"]["pending"], 0);
    let (detail, code) = st(&[&id]);
    assert_eq!(code, 1);
    let parked = &only(&detail)["parked"][0];
    let record: Value = serde_json::from_slice(
        &std::fs::read(
            std::fs::read_dir(out.join(format!("_jobs/sync_id={id}/failed")))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(parked["stream"], record["job"]["stream"]);
    assert_eq!(parked["page"], record["job"]["page"]);
    assert_eq!(parked["error"], record["error"]);
    assert!(
        parked["error"].as_str().unwrap().contains("403"),
        "{parked}"
    );
    assert_eq!(parked["attempts"], 1);
    // Its stream counts the records of its finished chains and those the parked page's chain
    // wrote before it.
    let stream = record["job"]["stream"].as_str().unwrap();
    let chains_dir = out.join(format!("_manifests/sync_id={id}/chains"));
    let finished: u64 = std::fs::read_dir(&chains_dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    serde_json::from_slice::<Value>(&std::fs::read(e.path()).unwrap()).unwrap()
                })
                .filter(|c| c["stream"] == stream)
                .map(|c| c["records"].as_u64().unwrap())
                .sum()
        })
        .unwrap_or(0);
    let counted = only(&detail)["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == stream)
        .unwrap()["records"]
        .as_u64()
        .unwrap();
    assert_eq!(
        counted,
        finished + record["job"]["records"].as_u64().unwrap()
    );
    let text = String::from_utf8(status(&["--out", &o, &id], &work, &[]).stdout).unwrap();
    assert!(
        text.contains("parked pages:") && text.contains("403"),
        "{text}"
    );
    assert!(
        text.contains(&format!("affinity-sync resume --out {o} --sync-id {id}")),
        "{text}"
    );
    // The records of its finished chains are counted; the next step completes it.
    let step = only(&detail)["next_step"].as_str().unwrap().to_string();
    ok(&run_next_step(&step, &base, &work, &[]));
    let (report, code) = st(&[&id]);
    assert_eq!(code, 0);
    assert_matches_manifest(only(&report), &manifest(&out, &id));
    pending_refresh(&out, affinity_sync_io::now_unix() - 60, 7);
    let (report, _) = st(&["--last", "100"]);
    assert_eq!(report["syncs"].as_array().unwrap().len(), 4);
    assert_eq!(report["changes"]["refreshes_pending"], 1);
    assert!(
        report["store_requests"]["gets"].as_u64().unwrap() <= 4 + 1,
        "one GET a complete sync: {report}"
    );
    let documented: BTreeSet<String> =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status.md"))
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split_once('`'))
            .map(|(path, _)| path.trim_end_matches('?').to_string())
            .collect();
    assert_eq!(
        *seen.borrow(),
        documented,
        "reports had every documented field"
    );
    std::fs::remove_dir_all(&work).ok();
}

/// A refresh waiting in `out` for the event sent at `sent_at` (what a receiver writes before
/// it fetches the record again): `status` counts them from their keys alone.
fn pending_refresh(out: &Path, sent_at: i64, id: i64) {
    use affinity_sync_core::layout::{JobState, refresh_key};
    let change = format!("{sent_at}-{id:016x}");
    let path = out.join(refresh_key("", JobState::Pending, &change, "person", id));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"{}").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_webhook_changes_since_the_latest_sync() {
    let d = small_double().await;
    let work = temp_dir("status-changes");
    let out = work.join("out");
    let o = out.display().to_string();
    ok(&sync(&d.base_url(), &out, &[], Some("test-key")).await);
    let receiver = support::changes::serve(&d.base_url(), &out, &work);
    let answer =
        support::changes::change(&d, &receiver, 25, json!({"seed": 3, "duplicate_every": 5})).await;
    support::changes::idle(&receiver).await;
    drop(receiver);
    let events = answer["events"].as_array().unwrap().len() as u64;
    let (report, code) = status_json(&["--out", &o], &work, &[]);
    assert_eq!(code, 0);
    let changes = &report["changes"];
    assert_eq!(
        changes["events_since_latest_sync"], events,
        "each event once, however often delivered"
    );
    assert_eq!(
        changes["latest_complete_sync"],
        report["syncs"][0]["sync_id"]
    );
    assert_eq!(
        (&changes["refreshes_pending"], &changes["refreshes_failed"]),
        (&json!(0), &json!(0))
    );

    // Refreshes a receiver has not worked off yet are counted from their keys.
    let sent_at = affinity_sync_io::now_unix() - 120;
    pending_refresh(&out, sent_at, 7);
    pending_refresh(&out, sent_at + 1, 8);
    let (report, _) = status_json(&["--out", &o], &work, &[]);
    assert_eq!(report["changes"]["refreshes_pending"], 2);
    assert_eq!(
        report["changes"]["oldest_pending_sent_at"],
        affinity_sync_core::table::format_timestamp(sent_at * 1_000_000)
    );
    // A sync after the changes: they are counted from it now, and still all of them, as
    // they were sent within the clock margin before its start (loaders apply them again,
    // which is harmless; missing one would not be).
    ok(&sync(&d.base_url(), &out, &[], Some("test-key")).await);
    let (report, _) = status_json(&["--out", &o], &work, &[]);
    assert_eq!(
        report["changes"]["latest_complete_sync"],
        report["syncs"][0]["sync_id"]
    );
    assert_ne!(
        report["changes"]["latest_complete_sync"],
        changes["latest_complete_sync"]
    );
    assert_eq!(report["changes"]["events_since_latest_sync"], events);
    std::fs::remove_dir_all(&work).ok();
}

/// What a directory holds, file by file, to show that nothing was written.
fn snapshot(dir: &Path) -> Vec<PathBuf> {
    let mut files = files_under(dir);
    files.sort();
    files
}

/// One line on stderr, naming `says`; exit status 2; nothing written.
fn refused(args: &[&str], cwd: &Path, says: &str, env: &[(&str, &str)]) {
    for json in [false, true] {
        let mut all = args.to_vec();
        if json {
            all.push("--json");
        }
        let o = status(&all, cwd, env);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert!(o.stdout.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stores_are_one_line_and_exit_2_and_nothing_is_written() {
    let d = small_double().await;
    let work = temp_dir("status-bad");
    let missing = work.join("nothing-here");
    refused(
        &["--out", &missing.display().to_string()],
        &work,
        "is not a directory",
        &[],
    );
    assert!(!missing.exists(), "status creates nothing");

    let empty = work.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(
        &["--out", &empty.display().to_string()],
        &work,
        "holds no syncs",
        &[],
    );

    let foreign = work.join("photos");
    std::fs::create_dir_all(foreign.join("2026")).unwrap();
    std::fs::write(foreign.join("2026/a.jpg"), b"jpeg").unwrap();
    let before = snapshot(&foreign);
    refused(
        &["--out", &foreign.display().to_string()],
        &work,
        "no affinity-sync syncs",
        &[],
    );
    assert_eq!(snapshot(&foreign), before);

    let out = work.join("out");
    ok(&sync(&d.base_url(), &out, &[], Some("test-key")).await);
    let id = complete_syncs(&out).pop().unwrap();
    std::fs::create_dir_all(out.join("_jobs/not-a-sync")).unwrap();
    std::fs::write(out.join("_jobs/not-a-sync/x.json"), b"{}").unwrap();
    refused(
        &["--out", &out.display().to_string()],
        &work,
        "_jobs/not-a-sync/ is not a folder affinity-sync writes",
        &[],
    );
    std::fs::remove_dir_all(out.join("_jobs/not-a-sync")).unwrap();

    let sync_json = out.join(format!("_manifests/sync_id={id}/sync.json"));
    std::fs::write(&sync_json, b"{\"version\": 1, \"sync_id\": ").unwrap();
    let before = snapshot(&out);
    refused(
        &["--out", &out.display().to_string()],
        &work,
        "is not a readable sync manifest",
        &[],
    );
    assert_eq!(snapshot(&out), before);
    refused(
        &["--out", &out.display().to_string(), "20990101T000000Z-none"],
        &work,
        "has no sync 20990101T000000Z-none",
        &[],
    );

    let usage = status(&["--last", "many"], &work, &[]);
    assert_eq!(usage.status.code(), Some(2), "a usage error");
    std::fs::remove_dir_all(&work).ok();
}

#[test]
fn the_status_doc_is_current() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status.md"))
        .unwrap_or_default();
    let o = status(&["--doc"], Path::new(env!("CARGO_MANIFEST_DIR")), &[]);
    assert!(
        committed == String::from_utf8(o.stdout).unwrap(),
        "docs/status.md is out of date: run `cargo run -- status --doc > docs/status.md`"
    );
}

const BUCKET: &str = "affinity-status";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_syncs_on_s3() {
    let moto = start_moto();
    create_bucket(&moto, BUCKET).await;
    let d = small_double().await;
    let work = temp_dir("status-s3");
    let out = format!("s3://{BUCKET}/exports/affinity");
    let base = d.base_url();
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", moto.url.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let sync_s3 = |extra: &[&str]| {
        let mut args = vec!["sync", "--base-url", &base, "--out", &out, "--quiet"];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (work, env) = (
            work.clone(),
            env.map(|(k, v)| (k.to_string(), v.to_string())),
        );
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            affinity_sync_with_env(&args, Some("test-key"), &work, &env)
        })
    };
    ok(&sync_s3(&[]).await.unwrap());
    let (report, code) = status_json(&["--out", &out], &work, &env);
    assert_eq!(
        (code, &report["syncs"][0]["state"]),
        (0, &json!("complete"))
    );
    let full = report["syncs"][0]["sync_id"].as_str().unwrap().to_string();
    assert_eq!(
        report["syncs"][0]["requests"],
        minimum_requests(&d.dataset()) - 1
    );
    // The same totals as the manifest in the bucket.
    let local = work.join("copy");
    download(&moto, BUCKET, &local);
    let (detail, _) = status_json(&["--out", &out, &full], &work, &env);
    assert_matches_manifest(
        only(&detail),
        &manifest(&local.join("exports/affinity"), &full),
    );

    d.set_faults(FaultPlan {
        script: FaultPlan::parse_script("4=403").unwrap(),
        ..FaultPlan::default()
    });
    assert_eq!(
        sync_s3(&["--concurrency", "1"])
            .await
            .unwrap()
            .status
            .code(),
        Some(1)
    );
    let (report, code) = status_json(&["--out", &out], &work, &env);
    let stopped = &report["syncs"][0];
    assert_eq!(
        (code, &stopped["state"], &stopped["pages"]["parked"]),
        (1, &json!("stopped"), &json!(1))
    );
    let id = stopped["sync_id"].as_str().unwrap();
    let (detail, _) = status_json(&["--out", &out, id], &work, &env);
    assert!(
        only(&detail)["parked"][0]["error"]
            .as_str()
            .unwrap()
            .contains("403")
    );
    let step = only(&detail)["next_step"].as_str().unwrap().to_string();
    assert_eq!(
        step,
        format!(
            "affinity-sync resume --out {out} --s3-endpoint {} --sync-id {id}",
            moto.url
        )
    );
    ok(&run_next_step(&step, &d.base_url(), &work, &env));
    let (report, code) = status_json(&["--out", &out], &work, &env);
    assert_eq!(
        (code, &report["syncs"][0]["state"]),
        (0, &json!("complete"))
    );

    // An incremental sync on S3, then one that crashed: running, and once quiet for longer
    // than --stalled-after (0 minutes here), stopped with its next step.
    ok(&sync_s3(&["--incremental"]).await.unwrap());
    let (report, _) = status_json(&["--out", &out], &work, &env);
    assert_eq!(
        (&report["syncs"][0]["kind"], &report["syncs"][0]["state"]),
        (&json!("incremental"), &json!("complete"))
    );
    let crashed = sync_s3(&["--inject", "crash-after-writes=30"])
        .await
        .unwrap();
    assert_eq!(crashed.status.code(), Some(86));
    let (report, code) = status_json(&["--out", &out], &work, &env);
    let running = &report["syncs"][0];
    assert_eq!(
        (code, &running["state"], &running["runs_on"]),
        (0, &json!("running"), &json!("cli")),
        "{report}"
    );
    assert!(running["pages"]["pending"].as_u64().unwrap() > 0);
    assert!(
        running["last_activity"].is_string(),
        "S3's LastModified gives the last write"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (report, code) = status_json(&["--out", &out, "--stalled-after", "0"], &work, &env);
    let stopped = &report["syncs"][0];
    assert_eq!(
        (code, &stopped["state"]),
        (1, &json!("stopped")),
        "{report}"
    );
    let id = stopped["sync_id"].as_str().unwrap().to_string();
    let step = stopped["next_step"].as_str().unwrap().to_string();
    ok(&run_next_step(&step, &d.base_url(), &work, &env));
    let (report, code) = status_json(&["--out", &out, &id], &work, &env);
    assert_eq!((code, &only(&report)["state"]), (0, &json!("complete")));

    refused(
        &["--out", "s3://no-such-bucket-here/x"],
        &work,
        "NoSuchBucket",
        &env,
    );
    std::fs::remove_dir_all(&work).ok();
}

/// `--log-format json` prints the metric lines Lambda writes: one per page, one for the
/// completed sync, adding up to what the sync wrote and the requests the double saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clis_json_log_carries_the_same_metric_lines() {
    let d = small_double().await;
    let work = temp_dir("status-metrics");
    let out = work.join("out");
    let o = sync(
        &d.base_url(),
        &out,
        &["--log-format", "json"],
        Some("test-key"),
    )
    .await;
    ok(&o);
    let id = complete_syncs(&out).pop().unwrap();
    let log = String::from_utf8(o.stderr).unwrap();
    // Every request but the quota check (`/rate-limit`) is some page's.
    let pages = check_metrics(
        &manifest(&out, &id),
        &emf_lines(&log),
        d.stats().requests - 1,
        "affinity-sync-cli",
    );
    assert!(pages > 0);
    std::fs::remove_dir_all(&work).ok();
}
