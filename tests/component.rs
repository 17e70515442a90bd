//! The WebAssembly component (`crates/affinity-sync-wasm`) run as a `wasi:http` host runs it:
//! the built `.wasm` is loaded into wasmtime (`crates/affinity-sync-wasm-host`), moto serves S3 and
//! SQS, the test double is Affinity, and this test plays the queue worker: it receives each
//! message, POSTs it to `/jobs`, and deletes it when the component says it is done. What lands
//! in the bucket is compared with the double's ground truth.
//!
//! The component is built by scripts/test.sh (`scripts/component.sh`: cargo's `--profile wasm`
//! build, then `wasm-opt -Oz`; the file we ship) before the tests run.

mod support;

use affinity_mock::MockServer;
use affinity_sync_wasm_host::{Answer, ComponentHost, Outcome};
use aws_sdk_sqs::types::Message;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::e2e::*;
use support::moto::*;
use support::*;

const BUCKET: &str = "affinity-wasm";
const API_KEY: &str = "affinity-key-never-logged";
const JOB_SECRET: &str = "job-secret-0123456789-never-logged";
const TOKEN: &str = "trigger-token-0123456789-never-logged";
const AWS_SECRET: &str = "aws-secret-access-key-never-logged";
const WEBHOOK_SECRET: &str = "webhook-secret-0123456789-never-logged";

/// The component scripts/test.sh built: `<target>/wasm32-wasip2/wasm/`.
fn component_file() -> PathBuf {
    let target = Path::new(env!("CARGO_BIN_EXE_affinity-sync"))
        .parent()
        .and_then(Path::parent)
        .expect("the target dir");
    let path = target.join("wasm32-wasip2/wasm/affinity-sync.wasm");
    assert!(
        path.exists(),
        "{} is missing: build it with `scripts/component.sh` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The component asks S3 for SSE-KMS with this key (signed headers on every PUT).
const KMS_SETTING: &str = "kms:alias/affinity-sync-component";

struct Stage {
    aws: Aws,
    double: MockServer,
    host: Arc<ComponentHost>,
    /// What the component wrote to stdout: its metric lines.
    stdout: PathBuf,
}

async fn stage(seed: u64) -> Stage {
    let aws = local_aws(BUCKET, AWS_SECRET).await;
    let queue_url = aws.queue_url.clone();
    stage_on(aws, seed, BUCKET, &queue_url).await
}

/// The stage with the bucket and queue the component is told to use.
async fn stage_on(aws: Aws, seed: u64, bucket: &str, queue_url: &str) -> Stage {
    let double = small_double(seed, API_KEY).await;
    let stdout = temp_dir("component-stdout").join("stdout.log");
    let host = Arc::new(
        ComponentHost::load(
            &component_file(),
            &[
                ("AFFINITY_SYNC_BUCKET", bucket),
                ("AFFINITY_SYNC_PREFIX", "affinity"),
                ("AFFINITY_SYNC_QUEUE_URL", queue_url),
                ("AFFINITY_SYNC_DEAD_LETTER_URL", &aws.dead_letter_url),
                ("AFFINITY_BASE_URL", &double.base_url()),
                ("AFFINITY_API_KEY", API_KEY),
                ("AFFINITY_SYNC_JOB_SECRET", JOB_SECRET),
                ("AFFINITY_SYNC_TRIGGER_TOKEN", TOKEN),
                ("AFFINITY_SYNC_WEBHOOK_SECRET", WEBHOOK_SECRET),
                ("AWS_ENDPOINT_URL_S3", &aws.moto.url),
                ("AFFINITY_SYNC_S3_SSE", KMS_SETTING),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
                ("AWS_REGION", "us-east-1"),
                ("AFFINITY_SYNC_LOG", "warn"),
            ],
        )
        .expect("the component loads")
        .with_stdout(std::fs::File::create(&stdout).unwrap()),
    );
    Stage {
        aws,
        double,
        host,
        stdout,
    }
}

const AUTH: (&str, &str) = (
    "authorization",
    "Bearer trigger-token-0123456789-never-logged",
);

async fn post_job(host: &ComponentHost, m: &Message) -> Answer {
    let attempt = m
        .message_attributes()
        .and_then(|a| a.get("attempt"))
        .and_then(|v| v.string_value())
        .unwrap_or("1")
        .to_string();
    host.call(
        "POST",
        "/jobs",
        &[AUTH, ("x-affinity-sync-attempt", &attempt)],
        m.body().unwrap_or_default().as_bytes(),
    )
    .await
}

#[derive(Debug, Default)]
struct Worked {
    messages: u64,
    redelivered: u64,
}

/// How the worker hands a message to the component.
#[derive(Clone, Copy)]
enum Door {
    /// `POST /jobs`.
    Http,
    /// The typed `affinity:sync/step` export's `run-job`.
    Step,
}

/// Hands one message to the component; whether it was written (`false`: already done).
async fn deliver(s: &Stage, door: Door, m: &Message) -> bool {
    match door {
        Door::Http => {
            let answer = post_job(&s.host, m).await;
            assert_eq!(answer.status, 200, "{answer:?}");
            match answer.body["result"].as_str() {
                Some("written") => true,
                Some("already_done") => false,
                _ => panic!("{answer:?}"),
            }
        }
        Door::Step => {
            let attempt = m
                .message_attributes()
                .and_then(|a| a.get("attempt"))
                .and_then(|v| v.string_value())
                .map_or(1, |a| a.parse().unwrap());
            let outcome = s
                .host
                .run_job(m.body().unwrap(), attempt)
                .await
                .expect("no trap")
                .expect("the page is finished");
            match outcome {
                Outcome::Written => true,
                Outcome::AlreadyDone => false,
                other => panic!("{other:?}"),
            }
        }
    }
}

/// The queue worker: every message through `door` until the queue is empty; every
/// `redeliver_every`-th one is delivered a second time, as SQS may deliver it.
async fn work(s: &Stage, door: Door, redeliver_every: u64, pages_only: bool) -> Worked {
    let mut w = Worked::default();
    loop {
        let got = s
            .aws
            .sqs
            .receive_message()
            .queue_url(&s.aws.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            if s.aws.queue_is_empty().await {
                return w;
            }
            continue;
        }
        for m in got.messages() {
            let written = deliver(s, door, m).await;
            // A page's first delivery always writes it; a webhook refresh may find its work
            // done by the refresh of the same event delivered twice.
            assert!(written || !pages_only, "a first delivery writes its page");
            w.messages += 1;
            if w.messages % redeliver_every == 0 {
                assert!(!deliver(s, door, m).await, "a redelivery is already done");
                w.redelivered += 1;
            }
            s.aws
                .sqs
                .delete_message()
                .queue_url(&s.aws.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// The bucket holds exactly the ground truth as sync `sync_id`, complete, with the journal
/// gone, no secret in any object, and the double served the minimum of requests.
async fn check_bucket(s: &Stage, sync_id: &str, name: &str, context: &str) {
    let dir = temp_dir(name);
    let keys = download(&s.aws.moto, BUCKET, &dir);
    assert!(
        !keys.iter().any(|k| k.starts_with("affinity/_jobs/")),
        "the journal is removed once the sync is complete: {keys:?}"
    );
    let sse = encryption_of(&s.aws.moto, BUCKET);
    assert!(
        sse.len() == keys.len()
            && sse
                .values()
                .all(|v| v == "aws:kms alias/affinity-sync-component"),
        "{sse:?}"
    );
    let out = dir.join("affinity");
    assert_eq!(complete_syncs(&out), [sync_id]);
    check_against_truth(&s.double.dataset(), &out, sync_id);
    // The minimum the CLI makes, less its quota check: redeliveries fetch nothing.
    assert_eq!(
        s.double.stats().requests,
        minimum_requests(&s.double.dataset()) - 1,
        "{context}"
    );
    assert!(s.aws.dead_letters().await.is_empty());
    for key in &keys {
        let text = String::from_utf8_lossy(&std::fs::read(dir.join(key)).unwrap()).into_owned();
        for secret in [API_KEY, JOB_SECRET, TOKEN, WEBHOOK_SECRET, AWS_SECRET] {
            assert!(!text.contains(secret), "{key} holds a secret");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_through_the_component_equals_the_ground_truth() {
    let s = stage(41).await;
    let started = s.host.call("POST", "/start", &[AUTH], b"").await;
    assert_eq!(started.status, 202, "{started:?}");
    assert_eq!(started.body["result"], "started");
    let sync_id = started.body["sync_id"].as_str().unwrap().to_string();

    let worked = work(&s, Door::Http, 5, true).await;
    assert!(worked.redelivered > 0, "{worked:?}");

    check_bucket(&s, &sync_id, "component-full", &format!("{worked:?}")).await;
    // The same metric lines as Lambda's, on stdout for the host to ship.
    let local = temp_dir("component-metrics");
    download(&s.aws.moto, BUCKET, &local);
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(local.join(format!("affinity/_manifests/sync_id={sync_id}/sync.json")))
            .unwrap(),
    )
    .unwrap();
    std::fs::remove_dir_all(&local).ok();
    let log = std::fs::read_to_string(&s.stdout).unwrap();
    check_metrics(
        &manifest,
        &emf_lines(&log),
        s.double.stats().requests,
        "affinity-sync",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_wants_the_token_and_bad_input_is_refused_with_a_reason() {
    let s = stage(42).await;
    type Headers = Vec<(&'static str, &'static str)>;
    let call = |method: &'static str, path: &'static str, headers: Headers, body: &'static [u8]| {
        let host = &s.host;
        async move { host.call(method, path, &headers, body).await }
    };
    for (answer, status, says) in [
        (
            call("POST", "/start", vec![], b"").await,
            401,
            "bearer token",
        ),
        (
            call(
                "POST",
                "/jobs",
                vec![("authorization", "Bearer wrong-token-0123456789")],
                b"x",
            )
            .await,
            401,
            "bearer token",
        ),
        (call("GET", "/jobs", vec![AUTH], b"").await, 405, "POST"),
        (
            call("POST", "/other", vec![AUTH], b"").await,
            404,
            "POST /jobs",
        ),
        (
            call(
                "POST",
                "/start",
                vec![AUTH],
                br#"{"streams": "persons,nope"}"#,
            )
            .await,
            400,
            "unknown stream \"nope\"",
        ),
        (
            call("POST", "/start", vec![AUTH], b"{not json").await,
            400,
            "not a start request",
        ),
        (
            call(
                "POST",
                "/jobs",
                vec![AUTH, ("x-affinity-sync-attempt", "0")],
                b"{}",
            )
            .await,
            400,
            "X-Affinity-Sync-Attempt",
        ),
    ] {
        assert_eq!(answer.status, status, "{answer:?}");
        let error = answer.body["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{error:?} should say {says:?}");
    }
    assert_eq!(
        s.double.stats().requests,
        0,
        "refused requests fetch nothing"
    );

    // A job this deployment did not sign is dead-lettered, never fetched.
    let forged =
        json!({"sync": "20260101T000000Z-0000", "stream": "persons", "page": 0}).to_string();
    let answer = s
        .host
        .call("POST", "/jobs", &[AUTH], forged.as_bytes())
        .await;
    assert_eq!(answer.body, json!({"result": "parked"}), "{answer:?}");
    let dead = s.aws.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some(forged.as_str()));
    let reason = dead[0].message_attributes().unwrap()["error"]
        .string_value()
        .unwrap();
    assert!(reason.starts_with("not a valid job"), "{reason}");
    assert_eq!(s.double.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_component_and_the_cli_worker_run_a_whole_sync() {
    let s = stage(43).await;
    let address = s
        .host
        .clone()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let started = s
        .host
        .call("POST", "/start", &[AUTH], b"{\"format\": \"ndjson\"}")
        .await;
    assert_eq!(started.status, 202, "{started:?}");
    let sync_id = started.body["sync_id"].as_str().unwrap().to_string();

    let invoke = format!("http://{address}/jobs");
    let (queue_url, moto_url) = (s.aws.queue_url.clone(), s.aws.moto.url.clone());
    let out = tokio::task::spawn_blocking(move || {
        let cwd = std::env::temp_dir();
        affinity_sync_with_env(
            &[
                "worker",
                "--queue-url",
                &queue_url,
                "--invoke",
                &invoke,
                "--until-empty",
                // Three loops carry messages at once, as the event source would.
                "--concurrency",
                "3",
            ],
            None,
            &cwd,
            &[
                ("AFFINITY_SYNC_TRIGGER_TOKEN", TOKEN),
                ("AWS_ENDPOINT_URL_SQS", &moto_url),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
                ("AWS_REGION", "us-east-1"),
            ],
        )
    })
    .await
    .unwrap();
    ok(&out);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("left for another delivery"), "{said}");
    assert!(
        said.contains(" 0 left"),
        "every message was done the first time: {said}"
    );
    check_bucket(&s, &sync_id, "component-served", &said).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_through_the_typed_step_export_equals_the_ground_truth() {
    let s = stage(44).await;
    let started = s
        .host
        .start("")
        .await
        .expect("no trap")
        .expect("the sync starts");
    let started: serde_json::Value = serde_json::from_str(&started).unwrap();
    let sync_id = started["sync_id"].as_str().unwrap().to_string();
    let worked = work(&s, Door::Step, 7, true).await;
    assert!(worked.redelivered > 0, "{worked:?}");
    check_bucket(&s, &sync_id, "component-step", &format!("{worked:?}")).await;
    let refused = s.host.start(r#"{"format": "csv"}"#).await.unwrap();
    assert!(refused.unwrap_err().contains("use parquet or ndjson"));

    // An incremental sync reads notes only since the sync above (nothing changed: no note is
    // read again, by either of its two chains) and the other streams whole.
    let again = s
        .host
        .start(r#"{"incremental": true}"#)
        .await
        .expect("no trap")
        .expect("the incremental sync starts");
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    work(&s, Door::Step, u64::MAX, true).await;
    let dir = temp_dir("component-incremental");
    download(&s.aws.moto, BUCKET, &dir);
    let manifest = dir.join(format!(
        "affinity/_manifests/sync_id={}/sync.json",
        again["sync_id"].as_str().unwrap()
    ));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert!(
        stream_summary(&manifest, "notes")["since"].is_string(),
        "{manifest}"
    );
    assert_eq!(
        (
            &stream_summary(&manifest, "notes")["records"],
            &stream_summary(&manifest, "notes")["chains"]
        ),
        (&serde_json::json!(0), &serde_json::json!(2))
    );
    assert!(stream_summary(&manifest, "persons")["since"].is_null());
    assert_eq!(
        stream_summary(&manifest, "persons")["records"],
        s.double.dataset().persons.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_through_the_component_bring_the_bucket_to_the_current_state() {
    let s = stage(44).await;
    let started = s.host.call("POST", "/start", &[AUTH], b"").await;
    assert_eq!(started.status, 202, "{started:?}");
    work(&s, Door::Http, 1_000_000, true).await;

    let events = s.double.change(&affinity_mock::ChangePlan {
        seed: 8,
        changes: 50,
        sent_at: None,
    });
    let deliveries = affinity_mock::mutate::delivery_order(
        &events,
        &affinity_mock::DeliveryPlan {
            seed: 9,
            duplicate_every: 4,
            shuffle_window: 5,
            parallel: 1,
        },
    );
    let url = format!("/webhook?token={WEBHOOK_SECRET}");
    for e in &deliveries {
        let a = s
            .host
            .call("POST", &url, &[], e.to_string().as_bytes())
            .await;
        assert_eq!(a.status, 200, "{a:?}");
    }
    // The trigger token does not open /webhook, and a wrong token is refused.
    let a = s
        .host
        .call(
            "POST",
            "/webhook",
            &[AUTH],
            events[0].to_string().as_bytes(),
        )
        .await;
    assert_eq!(a.status, 401, "{a:?}");
    let a = s
        .host
        .call("POST", "/webhook?token=wrong-token-0123456789", &[], b"{}")
        .await;
    assert_eq!(a.status, 401, "{a:?}");
    let a = s.host.call("POST", &url, &[], b"{\"type\": 1}").await;
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body["error"].as_str().unwrap().contains("type"), "{a:?}");

    // The refreshes come through the queue like pages.
    let worked = work(&s, Door::Http, 3, false).await;
    assert!(worked.messages > 0 && worked.redelivered > 0, "{worked:?}");
    assert!(s.aws.dead_letters().await.is_empty());

    let dir = temp_dir("component-webhooks");
    download(&s.aws.moto, BUCKET, &dir.join("bucket"));
    let out = dir.join("bucket/affinity");
    assert_eq!(
        std::fs::read_dir(out.join("changes/events"))
            .unwrap()
            .count(),
        events.len()
    );
    let run = |args: &[&str], key: Option<&str>| {
        let o = affinity_sync(args, key, &dir);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (applied, fresh, fresh_db) = (
        dir.join("applied.duckdb"),
        dir.join("fresh"),
        dir.join("fresh.duckdb"),
    );
    run(
        &[
            "load",
            "duckdb",
            "--from",
            out.to_str().unwrap(),
            "--db",
            applied.to_str().unwrap(),
        ],
        None,
    );
    run(
        &[
            "sync",
            "--base-url",
            &s.double.base_url(),
            "--out",
            fresh.to_str().unwrap(),
            "--quiet",
        ],
        Some(API_KEY),
    );
    run(
        &[
            "load",
            "duckdb",
            "--from",
            fresh.to_str().unwrap(),
            "--db",
            fresh_db.to_str().unwrap(),
        ],
        None,
    );
    support::changes::assert_same_tables(&applied, &fresh_db, "");
    std::fs::remove_dir_all(&dir).ok();
}

/// A bucket or a queue that is not there: the component answers one line naming the setting
/// to correct, and the CLI worker that carries its queue does the same for `--queue-url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_or_queue_is_one_line_that_names_the_setting() {
    let aws = local_aws(BUCKET, AWS_SECRET).await;
    let missing_queue = format!(
        "{}/no-such-queue",
        aws.queue_url.rsplit_once('/').unwrap().0
    );
    let moto_url = aws.moto.url.clone();
    let queue_url = aws.queue_url.clone();
    let s = stage_on(aws, 46, "no-such-bucket", &queue_url).await;
    let answer = s.host.call("POST", "/start", &[AUTH], b"").await;
    let error = answer.body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("s3://no-such-bucket/affinity/")
            && error
                .ends_with(": NoSuchBucket: the bucket does not exist; check AFFINITY_SYNC_BUCKET")
            && !error.contains('\n'),
        "{answer:?}"
    );
    let s = stage_on(s.aws, 46, BUCKET, &missing_queue).await;
    let answer = s.host.call("POST", "/start", &[AUTH], b"").await;
    let error = answer.body["error"].as_str().unwrap_or_default();
    let doing = format!("SQS SendMessageBatch on {missing_queue}");
    assert!(
        missing_queue_lines(&doing, "AFFINITY_SYNC_QUEUE_URL")
            .iter()
            .any(|line| error.ends_with(line)),
        "{answer:?}"
    );
    assert!(!error.contains('\n') && !error.contains(AWS_SECRET));

    // The worker: receiving from the missing queue.
    let dir = temp_dir("worker-missing-queue");
    let o = affinity_sync_with_env(
        &[
            "worker",
            "--queue-url",
            &missing_queue,
            "--invoke",
            "http://127.0.0.1:9/jobs",
            "--sqs-endpoint",
            &moto_url,
            "--until-empty",
        ],
        None,
        &dir,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let doing = format!("receiving from {missing_queue}");
    assert!(
        missing_queue_lines(&doing, "--queue-url")
            .iter()
            .any(|line| stderr == format!("error: {line}\n")),
        "{stderr}"
    );
}
