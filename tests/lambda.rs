//! The Lambda function (`crates/affinity-sync-lambda`) run as AWS runs it: the real binary
//! polls a local Lambda Runtime API (`support::lambda_api`), moto serves S3, SQS and Secrets
//! Manager, and this test plays the SQS event source mapping: it receives messages from the
//! queue, hands them to the function as the `SqsEvent` JSON AWS sends, deletes what the
//! function acknowledged and makes the `batchItemFailures` visible again, until the queue is
//! empty. What lands in the bucket is compared with the test double's ground truth.
//!
//! The binary is the one `cargo test --workspace --all-targets` builds next to
//! `affinity-sync`; run the tests that way (scripts/test.sh does).

mod support;

use affinity_mock::{FaultPlan, MockServer};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use support::e2e::*;
use support::lambda_api::RuntimeApi;
use support::moto::*;
use support::*;

const BUCKET: &str = "affinity-lambda";
const API_KEY: &str = "affinity-key-never-logged";
const JOB_SECRET: &str = "job-secret-0123456789-never-logged";
const TRIGGER_TOKEN: &str = "trigger-token-0123456789-never-logged";
const WEBHOOK_SECRET: &str = "webhook-secret-0123456789-never-logged";
const AWS_SECRET: &str = "aws-secret-access-key-never-logged";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

fn lambda_binary() -> PathBuf {
    let path =
        Path::new(env!("CARGO_BIN_EXE_affinity-sync")).with_file_name("affinity-sync-lambda");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace --all-targets`",
        path.display()
    );
    path
}

/// moto with the queues and bucket (`support::moto::local_aws`) and the function's secret.
async fn aws() -> (Aws, String) {
    let aws = local_aws(BUCKET, AWS_SECRET).await;
    let secret_arn = aws_sdk_secretsmanager::Client::new(&aws.config)
        .create_secret()
        .name("affinity-sync")
        .secret_string(
            json!({"api_key": API_KEY, "job_secret": JOB_SECRET, "trigger_token": TRIGGER_TOKEN,
                   "webhook_secret": WEBHOOK_SECRET})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    (aws, secret_arn)
}

/// The function's process, serving `api`; its log (JSON lines) goes to `log`.
struct Function {
    child: Child,
    log: PathBuf,
}

impl Drop for Function {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Function {
    fn start(
        api: &RuntimeApi,
        aws: &Aws,
        secret_arn: &str,
        double: &MockServer,
        dir: &Path,
        extra: &[(&str, &str)],
    ) -> Function {
        let log = dir.join("function.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(lambda_binary());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "affinity-sync")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &aws.moto.url)
            .env("AWS_ENDPOINT_URL_S3", &aws.moto.url)
            .env("AFFINITY_SYNC_BUCKET", BUCKET)
            .env("AFFINITY_SYNC_PREFIX", "affinity")
            .env("AFFINITY_SYNC_QUEUE_URL", &aws.queue_url)
            .env("AFFINITY_SYNC_DEAD_LETTER_URL", &aws.dead_letter_url)
            .env("AFFINITY_SYNC_SECRET_ARN", secret_arn)
            .env("AFFINITY_BASE_URL", double.base_url())
            .env("AFFINITY_SYNC_LOG", "debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Function {
            child: cmd.spawn().expect("start the Lambda function binary"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Everything one test needs: moto with the function's resources, the test double (keyed
/// with `API_KEY`), a scratch dir, the Runtime API and the function polling it.
struct Stage {
    aws: Aws,
    double: MockServer,
    dir: PathBuf,
    api: RuntimeApi,
    function: Function,
}

async fn stage(seed: u64, name: &str, extra: &[(&str, &str)]) -> Stage {
    let (aws, secret_arn) = aws().await;
    let double = small_double(seed, API_KEY).await;
    let dir = temp_dir(name);
    let api = RuntimeApi::start().await;
    // As the template sets it: `status` prints the redrive command with it.
    let dlq = dead_letter_arn(&aws).await;
    let mut extra = extra.to_vec();
    extra.push(("AFFINITY_SYNC_DEAD_LETTER_ARN", &dlq));
    let function = Function::start(&api, &aws, &secret_arn, &double, &dir, &extra);
    Stage {
        aws,
        double,
        dir,
        api,
        function,
    }
}

/// One SQS message as the Lambda event source mapping puts it in an `SqsEvent`.
fn record(m: &aws_sdk_sqs::types::Message) -> Value {
    let attributes: BTreeMap<String, String> = m
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let message_attributes: BTreeMap<String, Value> = m
        .message_attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        json!({
                            "stringValue": v.string_value(),
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": v.data_type(),
                        }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messageId": m.message_id(),
        "receiptHandle": m.receipt_handle(),
        "body": m.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.md5_of_body(),
        "md5OfMessageAttributes": m.md5_of_message_attributes(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:affinity-jobs",
        "awsRegion": "us-east-1",
    })
}

#[derive(Debug, Default)]
struct Drained {
    invocations: u64,
    messages: u64,
    /// Messages handed to the function a second time after it acknowledged them.
    redelivered: u64,
    item_failures: u64,
}

/// Plays the event source mapping until the queue is empty: batches of up to `batch`
/// messages; every `redeliver_every`-th acknowledged message is delivered once more.
async fn drain(api: &RuntimeApi, aws: &Aws, batch: i32, redeliver_every: Option<u64>) -> Drained {
    let mut d = Drained::default();
    loop {
        let got = aws
            .sqs
            .receive_message()
            .queue_url(&aws.queue_url)
            .max_number_of_messages(batch)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = got.messages().to_vec();
        if messages.is_empty() {
            if aws.queue_is_empty().await {
                return d;
            }
            continue;
        }
        let event = json!({ "Records": messages.iter().map(record).collect::<Vec<_>>() });
        let answer = api.invoke(event.clone(), INVOKE_TIMEOUT).await;
        let answer = answer.unwrap_or_else(|e| panic!("the SQS batch failed as a whole: {e}"));
        d.invocations += 1;
        d.messages += messages.len() as u64;
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .expect("an SqsBatchResponse")
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap())
            .collect();
        d.item_failures += failed.len() as u64;
        for m in &messages {
            let handle = m.receipt_handle().unwrap();
            if failed.contains(&m.message_id().unwrap()) {
                aws.sqs
                    .change_message_visibility()
                    .queue_url(&aws.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
                continue;
            }
            if redeliver_every.is_some_and(|n| d.messages % n == 0) {
                // SQS may deliver a message again (at-least-once): the same message, same id.
                let again = json!({ "Records": [record(m)] });
                let answer = api.invoke(again, INVOKE_TIMEOUT).await.unwrap();
                assert_eq!(
                    answer["batchItemFailures"],
                    json!([]),
                    "a redelivery is acknowledged"
                );
                d.redelivered += 1;
                d.invocations += 1;
            }
            aws.sqs
                .delete_message()
                .queue_url(&aws.queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
    }
}

/// Every object in the bucket under the prefix, copied to `dir` (by boto3); the keys.
fn bucket_keys(aws: &Aws, dir: &Path) -> Vec<String> {
    std::fs::remove_dir_all(dir).ok();
    std::fs::create_dir_all(dir).unwrap();
    download(&aws.moto, BUCKET, dir)
}

fn assert_no_secret(text: &str, what: &str) {
    for secret in [
        API_KEY,
        JOB_SECRET,
        TRIGGER_TOKEN,
        WEBHOOK_SECRET,
        AWS_SECRET,
    ] {
        assert!(!text.contains(secret), "{what} holds a secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_on_lambda_equals_the_ground_truth_even_with_redeliveries() {
    let Stage {
        aws,
        double: d,
        dir,
        api,
        function,
    } = stage(31, "lambda-full", &[]).await;

    let started = api
        .invoke(json!({"action": "start"}), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("start failed: {e}\n{}", function.log()));
    assert_eq!(started["result"], "started", "{started}");
    let sync_id = started["sync_id"].as_str().unwrap().to_string();

    let drained = drain(&api, &aws, 5, Some(7)).await;
    assert!(
        drained.redelivered > 0 && drained.item_failures == 0,
        "{drained:?}"
    );

    let local = dir.join("bucket");
    let keys = bucket_keys(&aws, &local);
    assert!(
        keys.iter().all(|k| k.starts_with("affinity/")),
        "everything under the prefix"
    );
    assert!(
        !keys.iter().any(|k| k.starts_with("affinity/_jobs/")),
        "the journal is removed once the sync is complete: {keys:?}"
    );
    let out = local.join("affinity");
    assert_eq!(complete_syncs(&out), [sync_id.as_str()]);
    check_against_truth(&d.dataset(), &out, &sync_id);
    // Written with server-side encryption (SSE-S3, the default of AFFINITY_SYNC_S3_SSE).
    let sse = encryption_of(&aws.moto, BUCKET);
    assert!(
        sse.len() == keys.len() && sse.values().all(|s| s == "AES256"),
        "{sse:?}"
    );
    // The minimum the CLI makes, less its quota check (`/rate-limit`), which the function's
    // start does not make.
    assert_eq!(
        d.stats().requests,
        minimum_requests(&d.dataset()) - 1,
        "redelivered messages are recognised and fetch nothing ({drained:?})"
    );
    assert!(aws.dead_letters().await.is_empty());

    // The log: JSON lines, each page's lines carry the sync, stream and page; no secret.
    let log = function.log();
    assert_no_secret(&log, "the function's log");
    for (path, bytes) in support_files(&out) {
        assert!(
            !bytes
                .windows(API_KEY.len())
                .any(|w| w == API_KEY.as_bytes()),
            "{} holds the API key",
            path.display()
        );
    }
    let (mut written, mut skipped) = (0u64, 0u64);
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("already written"))
        {
            skipped += 1;
        }
        if v["fields"]["message"] == "page written" {
            written += 1;
            let span = &v["span"];
            assert!(
                span["sync"] == sync_id.as_str()
                    && span["stream"].is_string()
                    && span["page"].is_u64(),
                "{line}"
            );
        }
    }
    assert_eq!((written, skipped), (drained.messages, drained.redelivered));

    // The metric lines: valid EMF, one per page written and one for the completed sync, and
    // their sums are the sync's.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(out.join(format!("_manifests/sync_id={sync_id}/sync.json"))).unwrap(),
    )
    .unwrap();
    let pages = check_metrics(
        &manifest,
        &emf_lines(&log),
        d.stats().requests,
        "affinity-sync",
    );
    assert_eq!(pages, written);
    std::fs::remove_dir_all(&dir).ok();
}

/// The template's alarms and dashboard watch metrics the function writes, under the
/// dimension set its lines publish for the whole function (`FunctionName`); the dead-letter
/// queue's ARN reaches the function for `status`'s redrive command.
#[test]
fn the_templates_alarms_and_dashboard_watch_metrics_the_function_writes() {
    let script = r#"
import json, re, sys
from cfnlint.decode import decode
tpl, errors = decode(sys.argv[1])
assert not errors, errors
res = tpl["Resources"]
out = []
for r in res.values():
    if r["Type"] == "AWS::CloudWatch::Alarm":
        p = r["Properties"]
        out.append(["alarm", p["Namespace"], p["MetricName"], [d["Name"] for d in p.get("Dimensions", [])]])
body = res["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
for w in json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]:
    prev = None
    for metric in w["properties"]["metrics"]:
        parts = [p for p in metric if isinstance(p, str)]
        parts = [prev[i] if p == "." and prev else p for i, p in enumerate(parts)]
        prev = parts
        out.append(["dashboard", parts[0], parts[1], parts[2::2]])
env = res["Function"]["Properties"]["Environment"]["Variables"]
out.append(["env", "", "AFFINITY_SYNC_DEAD_LETTER_ARN" in env, []])
print(json.dumps(out))
"#;
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml");
    let o = std::process::Command::new(python())
        .args(["-c", script, template])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let found: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let written: Vec<&str> = affinity_sync_core::metrics::PAGE_METRICS
        .iter()
        .chain(affinity_sync_core::metrics::SYNC_METRICS)
        .map(|(name, _)| *name)
        .collect();
    let mut watched = 0;
    for f in &found {
        if f[0] == "env" {
            assert_eq!(
                f[2], true,
                "the function gets AFFINITY_SYNC_DEAD_LETTER_ARN"
            );
            continue;
        }
        if f[1] != "AffinitySync" {
            continue;
        }
        watched += 1;
        let name = f[2].as_str().unwrap();
        assert!(
            written.contains(&name),
            "the template watches {name}, which nothing writes"
        );
        assert_eq!(f[3], json!(["FunctionName"]), "{f}");
    }
    assert!(watched >= 10, "{found:?}");
    for alarm in ["SyncsCompleted", "RateLimitOrgRemaining"] {
        assert!(
            found.iter().any(|f| f[0] == "alarm" && f[2] == alarm),
            "an alarm on {alarm}"
        );
    }
}

fn support_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths = vec![];
    files(dir, &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_fails_for_good_is_dead_lettered_with_its_reason_and_redriven() {
    let Stage {
        aws,
        double: d,
        dir,
        api,
        function,
    } = stage(32, "lambda-parked", &[("AFFINITY_SYNC_MAX_ATTEMPTS", "1")]).await;
    // Requests 3 and 4 fail with 500; with one attempt allowed, both pages are parked.
    d.set_faults(FaultPlan {
        script: FaultPlan::parse_script("3-4=500").unwrap(),
        ..FaultPlan::default()
    });
    let started = api
        .invoke(json!({"action": "start"}), INVOKE_TIMEOUT)
        .await
        .unwrap();
    let sync_id = started["sync_id"].as_str().unwrap().to_string();
    drain(&api, &aws, 1, None).await;

    let dead = aws.dead_letters().await;
    assert_eq!(dead.len(), 2, "two pages dead-lettered");
    for m in &dead {
        let error = m.message_attributes().unwrap()["error"]
            .string_value()
            .unwrap();
        assert!(
            error.contains("gave up after 1 attempts: Affinity answered 500"),
            "{error}"
        );
        assert!(m.body().unwrap().contains(&sync_id));
    }
    let local = dir.join("bucket");
    let keys = bucket_keys(&aws, &local);
    let parked: Vec<&String> = keys.iter().filter(|k| k.contains("/failed/")).collect();
    assert_eq!(parked.len(), 2, "{keys:?}");
    assert!(
        complete_syncs(&local.join("affinity")).is_empty(),
        "not complete with pages parked"
    );

    // `affinity-sync status` on the bucket: stopped, both pages with their reason, and the
    // dead-letter queue's redrive command, since this sync runs on Lambda.
    let dlq_arn = dead_letter_arn(&aws).await;
    let (report, code) = status_of(&aws, &[&sync_id]);
    assert_eq!(code, 1, "{report}");
    let sync = &report["syncs"][0];
    assert_eq!(
        (&sync["state"], &sync["runs_on"], &sync["pages"]["parked"]),
        (&json!("stopped"), &json!("lambda"), &json!(2))
    );
    let parked = sync["parked"].as_array().unwrap();
    assert!(
        parked.iter().all(|p| p["error"]
            .as_str()
            .unwrap()
            .contains("Affinity answered 500")),
        "{report}"
    );
    assert_eq!(
        sync["next_step"],
        format!("aws sqs start-message-move-task --source-arn {dlq_arn}")
    );

    // A second scheduled start while pages are parked (none pending) is not blocked by it.
    // First, redrive: the dead letters go back to the queue and complete the sync.
    for m in &dead {
        aws.sqs
            .send_message()
            .queue_url(&aws.queue_url)
            .message_body(m.body().unwrap())
            .send()
            .await
            .unwrap();
        aws.sqs
            .delete_message()
            .queue_url(&aws.dead_letter_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    drain(&api, &aws, 1, None).await;
    let keys = bucket_keys(&aws, &local);
    assert!(!keys.iter().any(|k| k.contains("/_jobs/")), "{keys:?}");
    let out = local.join("affinity");
    assert_eq!(complete_syncs(&out), [sync_id.as_str()]);
    check_against_truth(&d.dataset(), &out, &sync_id);
    let (report, code) = status_of(&aws, &[]);
    assert_eq!(
        (code, &report["syncs"][0]["state"]),
        (0, &json!("complete"))
    );
    assert_eq!(d.stats().requests, minimum_requests(&d.dataset()) - 1 + 2);
    // Two parked lines, and every request in some line.
    let metrics = emf_lines(&function.log());
    let parked: u64 = metrics.iter().filter_map(|m| m["Parked"].as_u64()).sum();
    let requests: u64 = metrics.iter().filter_map(|m| m["Requests"].as_u64()).sum();
    assert_eq!((parked, requests), (2, d.stats().requests));
    assert_no_secret(&function.log(), "the function's log");
    std::fs::remove_dir_all(&dir).ok();
}

/// The dead-letter queue's ARN, as moto names it.
async fn dead_letter_arn(aws: &Aws) -> String {
    aws.sqs
        .get_queue_attributes()
        .queue_url(&aws.dead_letter_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone()
}

/// `affinity-sync status --json --out s3://BUCKET/affinity <args>`: the report and exit status.
fn status_of(aws: &Aws, args: &[&str]) -> (Value, i32) {
    let out = format!("s3://{BUCKET}/affinity");
    let mut all = vec!["status", "--json", "--out", &out];
    all.extend_from_slice(args);
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", aws.moto.url.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let o = affinity_sync_with_env(&all, None, Path::new("."), &env);
    let report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    (report, o.status.code().unwrap())
}

fn url_event(method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Value {
    let mut headers = json!({"content-type": "application/json"});
    if let Some(t) = token {
        headers["authorization"] = json!(format!("Bearer {t}"));
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl/8"},
            "requestId": "r1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795000000000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_sync_needs_the_token_and_a_running_sync_is_not_started_twice() {
    let Stage {
        aws,
        double: d,
        dir,
        api,
        function,
    } = stage(33, "lambda-trigger", &[]).await;
    let call = |event: Value| api.invoke(event, INVOKE_TIMEOUT);

    for (event, status, says) in [
        (url_event("POST", "/sync", None, None), 401, "bearer token"),
        (
            url_event("POST", "/sync", Some("wrong-token-0123456789"), None),
            401,
            "bearer token",
        ),
        (
            url_event("GET", "/sync", Some(TRIGGER_TOKEN), None),
            405,
            "POST",
        ),
        (
            url_event("POST", "/other", Some(TRIGGER_TOKEN), None),
            404,
            "not found",
        ),
        (
            url_event(
                "POST",
                "/sync",
                Some(TRIGGER_TOKEN),
                Some(r#"{"streams":"nope"}"#),
            ),
            400,
            "unknown stream \\\"nope\\\"",
        ),
        (
            url_event("POST", "/sync", Some(TRIGGER_TOKEN), Some("{not json")),
            400,
            "not a start request",
        ),
    ] {
        let r = call(event).await.unwrap();
        assert_eq!(r["statusCode"], status, "{r}");
        assert!(r["body"].as_str().unwrap().contains(says), "{r}");
    }
    assert_eq!(d.stats().requests, 0, "refused requests start nothing");

    let r = call(url_event(
        "POST",
        "/sync",
        Some(TRIGGER_TOKEN),
        Some(r#"{"streams": "persons", "format": "ndjson"}"#),
    ))
    .await
    .unwrap();
    assert_eq!(r["statusCode"], 202, "{r}");
    let started: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (started["format"].as_str(), started["jobs"].as_u64()),
        (Some("ndjson"), Some(1))
    );
    let sync_id = started["sync_id"].as_str().unwrap().to_string();

    // The schedule fires while it runs: skipped, unless forced.
    let again = call(json!({"action": "start"})).await.unwrap();
    assert_eq!(again, json!({"result": "skipped", "running": sync_id}));
    // Not an event the function knows: an error naming what it takes.
    let err = call(json!({"hello": 1})).await.unwrap_err();
    assert!(err.to_string().contains("unrecognised event"), "{err}");
    let err = call(json!({"action": "stop"})).await.unwrap_err();
    assert!(err.to_string().contains("unknown action"), "{err}");
    // `status` on the bucket: running on Lambda, its first page pending.
    let (report, code) = status_of(&aws, &[]);
    let running = &report["syncs"][0];
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (&running["sync_id"], &running["state"], &running["runs_on"]),
        (&json!(sync_id), &json!("running"), &json!("lambda"))
    );
    assert_eq!(
        running["pages"],
        json!({"done": 0, "pending": 1, "parked": 0})
    );

    drain(&api, &aws, 10, None).await;
    let local = dir.join("bucket");
    bucket_keys(&aws, &local);
    let out = local.join("affinity");
    assert_eq!(complete_syncs(&out), [sync_id.as_str()]);
    let persons = read_table(&out, "persons", &sync_id);
    assert_eq!(
        sorted(ints(&persons, "id")),
        sorted(d.dataset().persons.iter().map(|p| p.id).collect::<Vec<_>>())
    );
    assert_no_secret(&function.log(), "the function's log");
    std::fs::remove_dir_all(&dir).ok();
}

/// A Function URL request `POST /webhook?token=...` carrying one Affinity event.
fn webhook_event(token: &str, event: &Value) -> Value {
    let mut e = url_event("POST", "/webhook", None, Some(&event.to_string()));
    e["rawQueryString"] = json!(format!("token={token}"));
    e["queryStringParameters"] = json!({ "token": token });
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_on_the_function_url_bring_the_bucket_to_the_current_state() {
    let Stage {
        aws,
        double: d,
        dir,
        api,
        function,
    } = stage(35, "lambda-webhooks", &[]).await;
    let started = api
        .invoke(json!({"action": "start"}), INVOKE_TIMEOUT)
        .await
        .unwrap();
    let sync_id = started["sync_id"].as_str().unwrap().to_string();
    drain(&api, &aws, 10, None).await;

    // The double changes; Affinity posts the events (every 5th twice, in shuffled windows).
    let events = d.change(&affinity_mock::ChangePlan {
        seed: 3,
        changes: 60,
        sent_at: None,
    });
    let deliveries = affinity_mock::mutate::delivery_order(
        &events,
        &affinity_mock::DeliveryPlan {
            seed: 4,
            duplicate_every: 5,
            shuffle_window: 6,
            parallel: 1,
        },
    );
    for e in &deliveries {
        let r = api
            .invoke(webhook_event(WEBHOOK_SECRET, e), INVOKE_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r["statusCode"], 200, "{r}");
    }
    // `status`: every event once, and the refreshes they queued waiting in the bucket.
    let (report, _) = status_of(&aws, &[]);
    let changes = &report["changes"];
    assert_eq!(changes["events_since_latest_sync"], events.len());
    assert_eq!(changes["latest_complete_sync"], sync_id.as_str());
    assert!(
        changes["refreshes_pending"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(changes["oldest_pending_sent_at"].is_string(), "{report}");
    for (token, status) in [("wrong-token-0123456789", 401), ("", 401)] {
        let r = api
            .invoke(webhook_event(token, &events[0]), INVOKE_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r["statusCode"], status, "{r}");
    }
    let r = api
        .invoke(
            url_event("POST", "/webhook", None, Some("{not json")),
            INVOKE_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 401, "no token, no parsing: {r}");
    // The refreshes travel through SQS like pages, redelivered now and then.
    let drained = drain(&api, &aws, 10, Some(4)).await;
    assert!(
        drained.messages > 0 && drained.redelivered > 0,
        "{drained:?}"
    );
    assert!(
        aws.dead_letters().await.is_empty(),
        "nothing was dead-lettered"
    );
    let (report, code) = status_of(&aws, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        (
            &report["changes"]["refreshes_pending"],
            &report["changes"]["refreshes_failed"]
        ),
        (&json!(0), &json!(0))
    );

    let local = dir.join("bucket");
    bucket_keys(&aws, &local);
    let out = local.join("affinity");
    let events_written = std::fs::read_dir(out.join("changes/events"))
        .unwrap()
        .count();
    assert_eq!(
        events_written,
        events.len(),
        "each event once, duplicates or not"
    );
    assert!(
        !out.join("changes/_refresh/pending").exists(),
        "every refresh finished"
    );
    let load = |from: &Path, db: &Path| {
        let o = affinity_sync(
            &[
                "load",
                "duckdb",
                "--from",
                &from.display().to_string(),
                "--db",
                &db.display().to_string(),
            ],
            None,
            &dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let applied = dir.join("applied.duckdb");
    load(&out, &applied);
    let fresh = dir.join("fresh");
    let o = affinity_sync(
        &[
            "sync",
            "--base-url",
            &d.base_url(),
            "--out",
            &fresh.display().to_string(),
            "--quiet",
        ],
        Some(API_KEY),
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fresh_db = dir.join("fresh.duckdb");
    load(&fresh, &fresh_db);
    support::changes::assert_same_tables(&applied, &fresh_db, &function.log());
    assert_eq!(complete_syncs(&out), [sync_id.as_str()]);
    for file in files_under(&out) {
        assert_no_secret(
            &String::from_utf8_lossy(&std::fs::read(&file).unwrap()),
            &file.display().to_string(),
        );
    }
    assert_no_secret(&function.log(), "the function's log");
    std::fs::remove_dir_all(&dir).ok();
}

/// The message of each log line (the function logs JSON lines) at `level`.
fn messages_at(log: &str, level: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == level)
        .map(|l| l["fields"].clone())
        .collect()
}

/// A bucket or a queue that is not there: the function says so in one line naming the
/// setting to correct (the init's error for the bucket, the start's for the queue), and the
/// SDK's whole error is only in the debug log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_or_queue_is_one_line_that_names_the_setting() {
    let (aws, secret_arn) = aws().await;
    let double = small_double(36, API_KEY).await;
    let dir = temp_dir("lambda-missing");

    // The bucket: the init's HEAD fails, and the function stops there.
    let api = RuntimeApi::start().await;
    let mut function = Function::start(
        &api,
        &aws,
        &secret_arn,
        &double,
        &dir,
        &[("AFFINITY_SYNC_BUCKET", "no-such-bucket")],
    );
    let exited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(status) = function.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the function stops after a failed init");
    assert!(!exited.success());
    let log = function.log();
    let errors = messages_at(&log, "ERROR");
    assert_eq!(
        errors,
        vec![
            json!({"message": "init failed: opening s3://no-such-bucket/affinity: NoSuchBucket: \
                     the bucket does not exist; check AFFINITY_SYNC_BUCKET"})
        ],
        "{log}"
    );
    let debug = messages_at(&log, "DEBUG");
    let whole = debug
        .iter()
        .find(|m| m["message"] == "opening s3://no-such-bucket/affinity")
        .unwrap_or_else(|| panic!("the whole error at debug level: {log}"));
    assert!(whole["error"].as_str().unwrap().len() > 100, "{whole}");
    assert_no_secret(&log, "the function's log");
    drop(function);

    // The queue: the bucket is fine, sending the first jobs fails.
    let missing = format!(
        "{}/no-such-queue",
        aws.queue_url.rsplit_once('/').unwrap().0
    );
    let api = RuntimeApi::start().await;
    let function = Function::start(
        &api,
        &aws,
        &secret_arn,
        &double,
        &dir,
        &[("AFFINITY_SYNC_QUEUE_URL", &missing)],
    );
    let err = api
        .invoke(json!({"action": "start"}), INVOKE_TIMEOUT)
        .await
        .unwrap_err();
    let message = err["errorMessage"].as_str().unwrap_or_default();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        missing_queue_lines(
            &format!("sending jobs to {missing}"),
            "AFFINITY_SYNC_QUEUE_URL"
        )
        .iter()
        .any(|line| message.ends_with(line)),
        "{message}"
    );
    assert_no_secret(&function.log(), "the function's log");
}
