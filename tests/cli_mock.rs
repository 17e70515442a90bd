//! `affinity-sync mock` as a user runs it: start the binary, then walk its v1 and v2 pages
//! to the end with plain `curl` (Basic auth for v1, Bearer for v2) and compare what was
//! served with the double's ground truth.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(args: &[&str]) -> Value {
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("curl {args:?}: not JSON: {e}"))
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn curl_walks_the_mock_to_the_end_in_both_api_versions() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_affinity-sync"))
        .args([
            "mock",
            "--port",
            "0",
            "--seed",
            "7",
            "--small",
            "--api-key",
            "curl-key",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start affinity-sync mock");
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    // Keep reading the rest of the banner so the pipe stays open.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let base = first.trim().rsplit(' ').next().unwrap().to_string();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "first line names the URL: {first}"
    );

    let truth = curl(&[&format!("{base}/__truth")]);
    let persons = ids(&truth["persons"]);
    assert!(persons.len() > 100, "several v2 pages");

    // v2: follow pagination.nextUrl with a bearer token.
    let mut url = format!("{base}/v2/persons?fieldTypes=enriched&fieldTypes=global");
    let mut seen = vec![];
    let mut pages = 0;
    loop {
        let page = curl(&["-H", "Authorization: Bearer curl-key", &url]);
        seen.extend(ids(&page["data"]));
        pages += 1;
        match page["pagination"]["nextUrl"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, persons);
    assert_eq!(pages, persons.len().div_ceil(100));

    // v1: follow next_page_token with basic auth (empty user, key as password).
    let mut token: Option<String> = None;
    let mut seen = vec![];
    loop {
        let mut args = vec![
            "-u".to_string(),
            ":curl-key".into(),
            "-G".into(),
            format!("{base}/persons"),
            "--data-urlencode".into(),
            "page_size=100".into(),
        ];
        if let Some(t) = &token {
            args.push("--data-urlencode".into());
            args.push(format!("page_token={t}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let page = curl(&args);
        seen.extend(ids(&page["persons"]));
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, persons);

    // The wrong key is refused.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            ":nope",
            &format!("{base}/persons"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
}

#[test]
fn bad_arguments_get_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_affinity-sync"))
        .args(["mock", "--port", "0", "--fault-script", "3=teapot"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown fault \"teapot\""), "{err}");
}
