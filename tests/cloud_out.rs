//! `affinity-sync sync --out az://…` and `--out gs://…` against real local emulators of Azure
//! Blob Storage (Azurite, npm) and Google Cloud Storage (gcp-storage-emulator, PyPI), both
//! started here, installed by scripts/test.sh: the objects equal the ground truth, a sync that
//! crashed is resumed from the store (its job journal lives there), `status` and
//! `load duckdb` read it, and a store that cannot be used is refused in one line naming what
//! to fix, before any request to Affinity and with nothing written.

mod support;

use affinity_mock::MockServer;
use std::path::Path;
use std::process::Output;
use support::azurite::*;
use support::e2e::*;
use support::gcs::*;
use support::*;

const CONTAINER: &str = "affinity-test";
const BUCKET: &str = "affinity-test";

/// A store under test: where it is, the environment that reaches it, and an independent
/// client that copies all of it into a folder.
struct Cloud<'a> {
    out: String,
    /// The Affinity double's address.
    base: String,
    env: Vec<(String, String)>,
    download: &'a dyn Fn(&Path) -> Vec<String>,
}

impl Cloud<'_> {
    /// `sync --out <out> <extra>` from the double, in `cwd`, with `extra_env` added.
    async fn sync(
        &self,
        out: &str,
        extra: &[&str],
        cwd: &Path,
        extra_env: &[(&str, &str)],
    ) -> Output {
        let mut args = vec!["sync", "--base-url", &self.base, "--out", out];
        args.extend_from_slice(extra);
        self.run(&args, cwd, extra_env).await
    }

    async fn run(&self, args: &[&str], cwd: &Path, extra_env: &[(&str, &str)]) -> Output {
        let mut env = self.env.clone();
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let cwd = cwd.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            affinity_sync_with_env(&args, Some("test-key"), &cwd, &env)
        })
        .await
        .unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A refused run: not successful, one line on stderr, which is returned.
fn refused(o: &Output) -> String {
    assert_ne!(o.status.code(), Some(0));
    let text = stderr(o);
    assert_eq!(text.lines().count(), 1, "{text}");
    text
}

/// A crashed sync resumed, checked against the double's truth, read by `status` and by
/// `load duckdb` (equal to a load of the downloaded copy); returns the objects' names.
async fn sync_resume_and_load(cloud: &Cloud<'_>, d: &MockServer, dir: &Path) -> Vec<String> {
    let out = cloud.out.as_str();
    // A crash after 40 object writes leaves the journal in the store; resume finishes.
    let crashed = cloud
        .sync(
            out,
            &["--quiet", "--inject", "crash-after-writes=40"],
            dir,
            &[],
        )
        .await;
    assert_eq!(crashed.status.code(), Some(86), "{}", stderr(&crashed));
    let stopped = cloud
        .run(&["status", "--out", out, "--json"], dir, &[])
        .await;
    let report: serde_json::Value = serde_json::from_slice(&stopped.stdout).unwrap();
    assert_ne!(report["syncs"][0]["state"], "complete", "{report}");
    let resumed = cloud
        .run(
            &["resume", "--base-url", &cloud.base, "--out", out, "--quiet"],
            dir,
            &[],
        )
        .await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));

    let local = dir.join("copy");
    let names = (cloud.download)(&local);
    assert!(
        names.iter().all(|k| k.starts_with("exports/affinity/")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|k| k.contains("_jobs/")),
        "a complete sync leaves no journal: {names:?}"
    );
    let synced = local.join("exports/affinity");
    let syncs = complete_syncs(&synced);
    assert_eq!(syncs.len(), 1);
    check_against_truth(&d.dataset(), &synced, &syncs[0]);

    let status = cloud
        .run(&["status", "--out", out, "--json"], dir, &[])
        .await;
    assert!(status.status.success(), "{}", stderr(&status));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["syncs"][0]["sync_id"], syncs[0].as_str());
    assert_eq!(report["syncs"][0]["state"], "complete", "{report}");
    shows(cloud, &syncs[0], dir).await;

    let (from_store, from_copy) = (dir.join("store.duckdb"), dir.join("copy.duckdb"));
    for (from, db) in [
        (out.to_string(), &from_store),
        (synced.display().to_string(), &from_copy),
    ] {
        let db = db.display().to_string();
        let o = cloud
            .run(&["load", "duckdb", "--from", &from, "--db", &db], dir, &[])
            .await;
        assert!(o.status.success(), "{}", stderr(&o));
    }
    support::changes::assert_same(
        &from_store,
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
    names
}

/// `show --from <store>` serves the store's syncs: the overview has the sync, complete.
async fn shows(cloud: &Cloud<'_>, sync_id: &str, dir: &Path) {
    let env: Vec<(&str, &str)> = cloud
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let show = support::show::Show::start(
        &["--from", &cloud.out, "--listen", "127.0.0.1:0"],
        dir,
        &env,
    );
    assert!(
        show.banner
            .starts_with(&format!("showing {} on", cloud.out)),
        "{}",
        show.banner
    );
    let page = reqwest::get(&show.url).await.unwrap().text().await.unwrap();
    assert!(
        page.contains(&format!("Latest sync <code>{sync_id}</code>"))
            && page.contains("id=\"latest-state\">complete<"),
        "{page}"
    );
}

/// `load postgres --from <store>` has the same records as the DuckDB load of the copy
/// `sync_resume_and_load` made.
async fn loads_into_postgres(cloud: &Cloud<'_>, dir: &Path) {
    let pg = support::postgres::start_postgres();
    let o = cloud
        .run(
            &[
                "load",
                "postgres",
                "--from",
                &cloud.out,
                "--dsn",
                &pg.dsn(),
                "--schema",
                "affinity",
            ],
            dir,
            &[],
        )
        .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let client = pg.client().await;
    let duck = duckdb::Connection::open(dir.join("copy.duckdb")).unwrap();
    for table in ["persons", "companies", "notes", "list_entries"] {
        let in_pg: Vec<i64> = client
            .query(&format!("SELECT id FROM affinity.{table} ORDER BY id"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut stmt = duck
            .prepare(&format!("SELECT id FROM {table} ORDER BY id"))
            .unwrap();
        let in_duckdb: Vec<i64> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!in_pg.is_empty(), "{table}");
        assert_eq!(in_pg, in_duckdb, "{table}");
    }
}

/// `serve --out <store>` writes 20 webhook changes there, and a load from the store applies
/// all of them.
async fn serves_webhook_changes(cloud: &Cloud<'_>, d: &MockServer, dir: &Path) {
    let env: Vec<(&str, &str)> = cloud
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let receiver = support::changes::serve_to(&d.base_url(), &cloud.out, dir, &env);
    support::changes::change(d, &receiver, 20, serde_json::json!({"seed": 3})).await;
    support::changes::idle(&receiver).await;
    drop(receiver);
    let db = dir.join("changed.duckdb").display().to_string();
    let o = cloud
        .run(
            &["load", "duckdb", "--from", &cloud.out, "--db", &db],
            dir,
            &[],
        )
        .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let events: i64 = duckdb::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM change_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 20);
}

/// After the refused runs: a load from the `missing` store is refused too, the double served
/// no request since `before`, and the store holds what it held (`names`).
async fn nothing_else_happened(
    cloud: &Cloud<'_>,
    d: &MockServer,
    before: u64,
    missing: &str,
    names: &[String],
    dir: &Path,
) {
    let o = cloud
        .run(&["load", "duckdb", "--from", missing], dir, &[])
        .await;
    assert!(refused(&o).contains("does not exist"));
    assert_eq!(d.stats().requests, before);
    assert_eq!(
        (cloud.download)(&dir.join("after")),
        names,
        "nothing written"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `--azure-encryption-scope`: each write of blob content of a sync, stopped and resumed as
/// `status` says, asks Azure for the scope, signed
/// with the account key (Azurite checks the signature, which covers the header) or sent with
/// a SAS token. Azurite accepts the scope without encrypting, so the requests are what can be
/// checked.
/// Returns the SAS token, a secret that must not reach the objects.
async fn encrypts_with_the_scope(cloud: &Cloud<'_>, azurite: &Azurite, dir: &Path) -> String {
    let sas = azurite.container_sas(CONTAINER);
    for (prefix, env) in [
        ("scoped-by-key", vec![]),
        (
            "scoped-by-sas",
            vec![("AZURE_STORAGE_SAS_TOKEN", sas.as_str())],
        ),
    ] {
        // Stopped after 10 writes; the command `status` gives to finish it keeps the scope.
        let out = format!("az://{CONTAINER}/{prefix}");
        let scope = ["--azure-encryption-scope", "affinitycmk"];
        let mut args = vec!["--streams", "persons", "--quiet", "--inject"];
        args.extend(["crash-after-writes=10"].iter().chain(&scope));
        let o = cloud.sync(&out, &args, dir, &env).await;
        assert_eq!(o.status.code(), Some(86), "{prefix}: {}", stderr(&o));
        // A second later, with --stalled-after 0, the stopped sync is no longer "running".
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let mut args = vec!["status", "--out", &out, "--json", "--stalled-after", "0"];
        args.extend(scope);
        let o = cloud.run(&args, dir, &env).await;
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let next = report["syncs"][0]["next_step"]
            .as_str()
            .unwrap_or_else(|| panic!("{report}"))
            .to_string();
        assert!(
            next.starts_with(&format!("affinity-sync resume --out {out} "))
                && next.contains(" --azure-encryption-scope affinitycmk "),
            "{next}"
        );
        let mut args: Vec<&str> = next.split_whitespace().skip(1).collect();
        args.extend(["--base-url", &cloud.base, "--quiet"]);
        let o = cloud.run(&args, dir, &env).await;
        assert!(o.status.success(), "{prefix}: {}", stderr(&o));
        let under = format!("/{ACCOUNT}/{CONTAINER}/{prefix}/");
        let writes: Vec<Logged> = azurite
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT" && r.path.starts_with(&under))
            .collect();
        assert!(
            writes.iter().any(|w| w.path.contains("/persons/")),
            "{prefix}: {writes:?}"
        );
        for w in &writes {
            assert_eq!(
                w.headers.get("x-ms-encryption-scope"),
                Some(&serde_json::json!("affinitycmk")),
                "{prefix}: {w:?}"
            );
            let by_key = w
                .headers
                .get("authorization")
                .is_some_and(|a| a.as_str().unwrap().starts_with("SharedKey "));
            assert_eq!(by_key, env.is_empty(), "{prefix}: {w:?}");
        }
    }
    sas
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_blob_storage_holds_a_whole_sync_resumes_and_loads() {
    let dir = temp_dir("azure");
    let azurite = start_azurite(&dir.join("azurite"));
    azurite.create_container(CONTAINER);
    let d = small_double(29, "test-key").await;
    let download = |to: &Path| azurite.download(CONTAINER, to);
    let cloud = Cloud {
        out: format!("az://{CONTAINER}/exports/affinity"),
        env: azurite
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        base: d.base_url(),
        download: &download,
    };
    sync_resume_and_load(&cloud, &d, &dir).await;
    loads_into_postgres(&cloud, &dir).await;
    serves_webhook_changes(&cloud, &d, &dir).await;
    let sas = encrypts_with_the_scope(&cloud, &azurite, &dir).await;

    // What the container holds now, which the refused runs below must leave as it is.
    let names = (cloud.download)(&dir.join("with-changes"));
    assert!(
        names.iter().any(|n| n.contains("/changes/events/")),
        "{names:?}"
    );
    for name in &names {
        let bytes = std::fs::read(dir.join("with-changes").join(name)).unwrap();
        for secret in [KEY, &sas] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{name}"
            );
        }
    }

    let before = d.stats().requests;
    let missing = "az://no-such-container/x";
    let o = cloud.sync(missing, &[], &dir, &[]).await;
    assert_eq!(
        refused(&o),
        format!(
            "error: opening {missing}: the container no-such-container does not exist in the storage account {ACCOUNT} (--out): create it (az storage container create --name no-such-container) or name another\n"
        )
    );
    let wrong_key = "d3Jvbmcta2V5LW5ldmVyLWxvZ2dlZA==";
    let o = cloud
        .sync(&cloud.out, &[], &dir, &[("AZURE_STORAGE_KEY", wrong_key)])
        .await;
    let text = refused(&o);
    assert!(
        text.contains("Azure refused the credentials for the storage account"),
        "{text}"
    );
    assert!(!text.contains(wrong_key), "{text}");
    let o = cloud.sync("az://Bad_Name/x", &[], &dir, &[]).await;
    assert!(refused(&o).contains("is not an Azure container name"));
    let o = cloud
        .sync(
            &cloud.out,
            &["--azure-encryption-scope", "no such scope"],
            &dir,
            &[],
        )
        .await;
    assert!(
        refused(&o).contains("an encryption scope's name is 3 to 63 letters and digits"),
        "{}",
        stderr(&o)
    );
    nothing_else_happened(&cloud, &d, before, missing, &names, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_cloud_storage_holds_a_whole_sync_resumes_and_loads() {
    let dir = temp_dir("gcs");
    let gcs = start_gcs(BUCKET, &dir);
    let d = small_double(31, "test-key").await;
    let download = |to: &Path| gcs.download(BUCKET, to);
    let cloud = Cloud {
        out: format!("gs://{BUCKET}/exports/affinity"),
        env: vec![("STORAGE_EMULATOR_HOST".into(), gcs.url.clone())],
        base: d.base_url(),
        download: &download,
    };
    sync_resume_and_load(&cloud, &d, &dir).await;
    loads_into_postgres(&cloud, &dir).await;
    serves_webhook_changes(&cloud, &d, &dir).await;

    // --gcs-kms-key: every upload asks for the key (the emulator logs the requests it gets;
    // it does not encrypt).
    let base = d.base_url();
    let key = "projects/p/locations/eu/keyRings/affinity/cryptoKeys/sync";
    let kms_out = format!("gs://{BUCKET}/kms");
    let o = cloud
        .sync(
            &kms_out,
            &["--streams", "persons", "--gcs-kms-key", key],
            &dir,
            &[],
        )
        .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let uploads: Vec<String> = gcs
        .requests()
        .into_iter()
        .filter(|r| {
            r.starts_with(&format!("\"POST /upload/storage/v1/b/{BUCKET}/o?"))
                && r.contains("name=kms%2F")
        })
        .collect();
    assert!(
        uploads.iter().any(|r| r.contains("%2Fpersons%2F")),
        "{uploads:?}"
    );
    let asked = format!("kmsKeyName={}", key.replace('/', "%2F"));
    assert!(uploads.iter().all(|r| r.contains(&asked)), "{uploads:?}");
    // What the store holds now, which the refused runs below must leave as it is.
    let names = (cloud.download)(&dir.join("with-kms"));

    let before = d.stats().requests;
    let missing = "gs://no-such-bucket/x";
    let o = cloud.sync(missing, &[], &dir, &[]).await;
    assert_eq!(
        refused(&o),
        format!(
            "error: opening {missing}: the bucket no-such-bucket does not exist (--out): create it (gcloud storage buckets create gs://no-such-bucket) or name another\n"
        )
    );
    let o = cloud.sync("gs://Bad_Name/x", &[], &dir, &[]).await;
    assert!(refused(&o).contains("is not a bucket name"));
    // Credentials that cannot be used (no emulator: the real service's path).
    let not_a_key = dir.join("not-a-key.json");
    std::fs::write(&not_a_key, r#"{"type": "service_account"}"#).unwrap();
    let not_a_key = not_a_key.display().to_string();
    for key_file in [not_a_key.as_str(), "/no/such/key.json"] {
        let o = affinity_sync_with_env(
            &["sync", "--base-url", &base, "--out", &cloud.out],
            Some("test-key"),
            &dir,
            &[
                ("GOOGLE_APPLICATION_CREDENTIALS", key_file),
                ("STORAGE_EMULATOR_HOST", ""),
            ],
        );
        let text = refused(&o);
        assert!(
            text.contains("no Google Cloud credentials")
                && text.contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{text}"
        );
    }
    nothing_else_happened(&cloud, &d, before, missing, &names, &dir).await;
}
