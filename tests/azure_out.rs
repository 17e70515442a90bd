//! `affinity-sync sync --out az://container/prefix` against Azurite (Microsoft's Azure Storage
//! emulator, installed by scripts/test.sh): the blobs equal the ground truth, a sync that
//! crashed is resumed from the container (its job journal lives there), `status` and
//! `load duckdb` read it, and a container or credentials that cannot be used are refused in
//! one line, before any request to Affinity.

mod support;

use affinity_mock::{MockConfig, Sizes};
use std::path::Path;
use std::process::Output;
use support::azurite::*;
use support::e2e::*;
use support::*;

const CONTAINER: &str = "affinity-test";

async fn run(
    azurite: &Azurite,
    args: Vec<String>,
    cwd: &Path,
    extra_env: &[(&str, &str)],
) -> Output {
    let mut env: Vec<(String, String)> = azurite
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        affinity_sync_with_env(&args, Some("test-key"), &cwd, &env)
    })
    .await
    .unwrap()
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_to_azure_equals_the_ground_truth_resumes_and_loads() {
    let dir = temp_dir("azure");
    let azurite = start_azurite(&dir.join("azurite"));
    azurite.create_container(CONTAINER);
    let d = double(MockConfig {
        seed: 29,
        sizes: Sizes::small(),
        ..MockConfig::default()
    })
    .await;
    let base = d.base_url();
    let out = format!("az://{CONTAINER}/exports/affinity");
    let sync = |extra: &[&str]| {
        let mut a = words(&["sync", "--base-url", &base, "--out", &out, "--quiet"]);
        a.extend(words(extra));
        a
    };

    // A crash after 40 blob writes leaves the journal in the container; resume finishes.
    let crashed = run(
        &azurite,
        sync(&["--inject", "crash-after-writes=40"]),
        &dir,
        &[],
    )
    .await;
    assert_eq!(crashed.status.code(), Some(86), "{}", stderr(&crashed));
    let pending = run(&azurite, words(&["status", "--out", &out]), &dir, &[]).await;
    assert!(
        String::from_utf8_lossy(&pending.stdout).contains("stopped")
            || String::from_utf8_lossy(&pending.stdout).contains("running"),
        "{}",
        String::from_utf8_lossy(&pending.stdout)
    );
    let resumed = run(
        &azurite,
        words(&["resume", "--base-url", &base, "--out", &out, "--quiet"]),
        &dir,
        &[],
    )
    .await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));

    let local = dir.join("container");
    let blobs = azurite.download(CONTAINER, &local);
    assert!(blobs.iter().all(|k| k.starts_with("exports/affinity/")));
    assert!(
        !blobs.iter().any(|k| k.contains("_jobs/")),
        "a complete sync leaves no journal: {blobs:?}"
    );
    let synced = local.join("exports/affinity");
    let syncs = complete_syncs(&synced);
    assert_eq!(syncs.len(), 1);
    check_against_truth(&d.dataset(), &synced, &syncs[0]);

    // status reads the container: the sync is complete.
    let status = run(
        &azurite,
        words(&["status", "--out", &out, "--json"]),
        &dir,
        &[],
    )
    .await;
    assert!(status.status.success(), "{}", stderr(&status));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["syncs"][0]["sync_id"], syncs[0].as_str());
    assert_eq!(report["syncs"][0]["state"], "complete", "{report}");

    // load duckdb from the container builds what a load of the downloaded copy builds.
    let from_container = dir.join("container.duckdb");
    let from_copy = dir.join("copy.duckdb");
    for (from, db) in [
        (out.clone(), &from_container),
        (synced.display().to_string(), &from_copy),
    ] {
        let load = words(&[
            "load",
            "duckdb",
            "--from",
            &from,
            "--db",
            &db.display().to_string(),
        ]);
        let o = run(&azurite, load, &dir, &[]).await;
        assert!(o.status.success(), "{}", stderr(&o));
    }
    support::changes::assert_same(
        &from_container,
        &from_copy,
        &[
            "persons",
            "companies",
            "notes",
            "list_entries",
            "persons_field_values",
        ],
        "",
    );

    // The account key is in no output and no blob.
    for output in [&crashed, &resumed, &status] {
        assert!(!String::from_utf8_lossy(&output.stdout).contains(KEY));
        assert!(!stderr(output).contains(KEY));
    }
    for blob in &blobs {
        let bytes = std::fs::read(local.join(blob)).unwrap();
        assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
    }

    // What cannot be used is one line naming what to fix, before any Affinity request.
    let before = d.stats().requests;
    let refused = |o: &Output| {
        assert_ne!(o.status.code(), Some(0));
        let text = stderr(o);
        assert_eq!(text.lines().count(), 1, "{text}");
        text
    };
    let missing = "az://no-such-container/x";
    let o = run(
        &azurite,
        words(&["sync", "--base-url", &base, "--out", missing]),
        &dir,
        &[],
    )
    .await;
    assert_eq!(
        refused(&o),
        format!(
            "error: opening {missing}: the container no-such-container does not exist in the storage account {ACCOUNT} (--out): create it (az storage container create --name no-such-container) or name another\n"
        )
    );
    let wrong_key = "d3Jvbmcta2V5LW5ldmVyLWxvZ2dlZA==";
    let o = run(
        &azurite,
        words(&["sync", "--base-url", &base, "--out", &out]),
        &dir,
        &[("AZURE_STORAGE_KEY", wrong_key)],
    )
    .await;
    let text = refused(&o);
    assert!(
        text.contains("Azure refused the credentials for the storage account"),
        "{text}"
    );
    assert!(!text.contains(wrong_key), "{text}");
    let o = run(
        &azurite,
        words(&["sync", "--base-url", &base, "--out", "az://Bad_Name/x"]),
        &dir,
        &[],
    )
    .await;
    assert!(refused(&o).contains("is not an Azure container name"));
    let o = run(
        &azurite,
        words(&["load", "duckdb", "--from", "az://no-such-container/x"]),
        &dir,
        &[],
    )
    .await;
    assert!(refused(&o).contains("does not exist"));
    assert_eq!(d.stats().requests, before);
    // Nothing was written by the refused runs.
    let after = azurite.download(CONTAINER, &dir.join("after"));
    assert_eq!(after, blobs);
    std::fs::remove_dir_all(&dir).ok();
}
