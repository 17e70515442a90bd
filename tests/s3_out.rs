//! `affinity-sync sync --out s3://bucket/prefix` against a real local S3 (moto server from the
//! test venv): the objects in the bucket equal the ground truth, a sync that crashed is
//! resumed on S3 (its job journal lives in the bucket), and a bucket that cannot be used is
//! refused before any request to Affinity.

mod support;

use affinity_mock::{MockConfig, Sizes};
use std::path::Path;
use std::process::Output;
use support::e2e::*;
use support::moto::*;
use support::*;

const BUCKET: &str = "affinity-test";
const SECRET: &str = "s3cr3t-access-key-never-logged";

/// The AWS environment of the sync under test: moto accepts any credentials.
fn aws_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL_S3", moto.url.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

async fn run(moto: &Moto, args: Vec<String>, cwd: &Path) -> Output {
    let env = aws_env(moto);
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        affinity_sync_with_env(&args, Some("test-key"), &cwd, &env)
    })
    .await
    .unwrap()
}

/// `affinity-sync <command> --base-url <base> --out <out> --quiet <extra...>`.
fn argv(command: &str, base: &str, out: &str, extra: &[&str]) -> Vec<String> {
    [command, "--base-url", base, "--out", out, "--quiet"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_to_s3_equals_the_ground_truth_and_resumes_from_the_bucket() {
    let moto = start_moto();
    create_bucket(&moto, BUCKET).await;
    let d = double(MockConfig {
        seed: 21,
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("s3");
    let out = format!("s3://{BUCKET}/exports/affinity");
    let args = |command: &str, extra: &[&str]| argv(command, &d.base_url(), &out, extra);

    // A crash after 40 object writes leaves the journal in the bucket; resume finishes.
    let crashed = run(
        &moto,
        args("sync", &["--inject", "crash-after-writes=40"]),
        &dir,
    )
    .await;
    assert_eq!(crashed.status.code(), Some(86), "{crashed:?}");
    let resumed = run(&moto, args("resume", &[]), &dir).await;
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );

    let local = dir.join("bucket");
    let keys = download(&moto, BUCKET, &local);
    assert!(keys.iter().all(|k| k.starts_with("exports/affinity/")));
    assert!(
        !keys.iter().any(|k| k.contains("_jobs/")),
        "a complete sync leaves no journal: {keys:?}"
    );
    let synced = local.join("exports/affinity");
    let syncs = complete_syncs(&synced);
    assert_eq!(syncs.len(), 1);
    check_against_truth(&d.dataset(), &synced, &syncs[0]);

    // Nothing the runs printed or wrote holds the AWS secret.
    for output in [&crashed, &resumed] {
        assert!(!String::from_utf8_lossy(&output.stdout).contains(SECRET));
        assert!(!String::from_utf8_lossy(&output.stderr).contains(SECRET));
    }
    for key in &keys {
        let bytes = std::fs::read(local.join(key)).unwrap();
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    }

    // Every object was written with server-side encryption: SSE-S3 unless told otherwise...
    let sse = encryption_of(&moto, BUCKET);
    assert_eq!(sse.len(), keys.len());
    assert!(sse.values().all(|s| s == "AES256"), "{sse:?}");
    // ...and with the KMS key named by --s3-sse.
    let kms = argv(
        "sync",
        &d.base_url(),
        &format!("s3://{BUCKET}/kms"),
        &[
            "--streams",
            "persons",
            "--s3-sse",
            "kms:alias/affinity-sync",
        ],
    );
    let kms = run(&moto, kms, &dir).await;
    assert!(
        kms.status.success(),
        "{}",
        String::from_utf8_lossy(&kms.stderr)
    );
    let under_kms: Vec<_> = encryption_of(&moto, BUCKET)
        .into_iter()
        .filter(|(k, _)| k.starts_with("kms/"))
        .collect();
    assert!(
        under_kms.iter().any(|(k, _)| k.contains("/persons/")),
        "{under_kms:?}"
    );
    assert!(
        under_kms
            .iter()
            .all(|(_, s)| s == "aws:kms alias/affinity-sync"),
        "{under_kms:?}"
    );
    let bad = argv("sync", &d.base_url(), &out, &["--s3-sse", "aes"]);
    let bad = run(&moto, bad, &dir).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use aes256 (default), kms"));

    // A bucket that is not there: a clear error, before any Affinity request.
    let before = d.stats().requests;
    let missing = argv("sync", &d.base_url(), "s3://no-such-bucket/x", &[]);
    let missing = run(&moto, missing, &dir).await;
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    // One line: what was done, S3's code and what it means, what to correct.
    assert_eq!(
        stderr,
        "error: opening s3://no-such-bucket/x: NoSuchBucket: the bucket does not exist; check --out\n"
    );
    assert!(!stderr.contains(SECRET));
    assert_eq!(d.stats().requests, before);
    std::fs::remove_dir_all(&dir).ok();
}

/// `load duckdb --from s3://…` builds the same tables as a load of the same store copied to a
/// directory: a full sync with an incremental one on top, read from the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_duckdb_reads_a_bucket_as_it_reads_a_directory() {
    let moto = start_moto();
    create_bucket(&moto, BUCKET).await;
    let d = double(MockConfig {
        seed: 23,
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir("s3-load");
    let out = format!("s3://{BUCKET}/affinity");
    for extra in [&[][..], &["--incremental"][..]] {
        let o = run(&moto, argv("sync", &d.base_url(), &out, extra), &dir).await;
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let from_bucket = dir.join("bucket.duckdb");
    let load = |from: String, db: &Path| {
        vec![
            "load".to_string(),
            "duckdb".into(),
            "--from".into(),
            from,
            "--db".into(),
            db.display().to_string(),
        ]
    };
    let o = run(&moto, load(out.clone(), &from_bucket), &dir).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.contains("objects") && printed.contains(&out),
        "{printed}"
    );

    let local = dir.join("copy");
    download(&moto, BUCKET, &local);
    let from_dir = dir.join("dir.duckdb");
    let o = run(
        &moto,
        load(local.join("affinity").display().to_string(), &from_dir),
        &dir,
    )
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let syncs = complete_syncs(&local.join("affinity"));
    assert_eq!(syncs.len(), 2);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(local.join(format!(
            "affinity/_manifests/sync_id={}/sync.json",
            syncs[1]
        )))
        .unwrap(),
    )
    .unwrap();
    let tables: Vec<&str> = manifest["streams"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
        })
        .collect();
    assert!(tables.contains(&"notes") && tables.contains(&"persons_field_values"));
    support::changes::assert_same(&from_bucket, &from_dir, &tables, "");
    // The staging folder is gone.
    let staged = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("affinity-sync-load-")
        })
        .count();
    assert_eq!(staged, 0, "the copy is removed after the load");
    let o = run(
        &moto,
        load("s3://no-such-bucket/x".into(), &from_bucket),
        &dir,
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NoSuchBucket"));
    std::fs::remove_dir_all(&dir).ok();
}
