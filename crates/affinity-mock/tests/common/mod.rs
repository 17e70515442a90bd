//! Helpers shared by the double's integration tests: start a double, call it over HTTP,
//! and walk paginated endpoints to their last page.
#![allow(dead_code)]

use affinity_mock::{MockConfig, MockServer, Sizes};
use serde_json::Value;

pub const KEY: &str = "test-key";

pub async fn start(seed: u64, sizes: Sizes) -> MockServer {
    start_with(MockConfig {
        seed,
        sizes,
        ..MockConfig::default()
    })
    .await
}

pub async fn start_with(config: MockConfig) -> MockServer {
    MockServer::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("double starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A response as the tests look at it.
pub struct Got {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn get_auth(http: &reqwest::Client, url: &str, auth: Option<(&str, &str)>) -> Got {
    let mut req = http.get(url);
    match auth {
        Some(("bearer", key)) => req = req.bearer_auth(key),
        Some(("basic", key)) => req = req.basic_auth("", Some(key)),
        Some((other, _)) => panic!("unknown auth {other}"),
        None => {}
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"));
    let body =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"));
    Got {
        status,
        headers,
        body,
    }
}

/// GET with the right auth for the API version (Bearer for v2, Basic for v1); must be 200.
pub async fn get(http: &reqwest::Client, url: &str) -> Value {
    let auth = if url.contains("/v2/") {
        ("bearer", KEY)
    } else {
        ("basic", KEY)
    };
    let got = get_auth(http, url, Some(auth)).await;
    assert_eq!(got.status, 200, "GET {url}: {}", got.body);
    got.body
}

/// Follows v2 `nextUrl`s from `path` to the end; returns every page body.
pub async fn walk_v2(http: &reqwest::Client, base: &str, path: &str) -> Vec<Value> {
    let mut url = format!("{base}{path}");
    let mut pages = vec![];
    loop {
        let body = get(http, &url).await;
        let next = body["pagination"]["nextUrl"].as_str().map(str::to_string);
        pages.push(body);
        match next {
            Some(n) => {
                assert!(
                    n.starts_with(base),
                    "nextUrl {n} must point back at the double {base}"
                );
                url = n;
            }
            None => return pages,
        }
        assert!(pages.len() < 10_000, "runaway pagination on {path}");
    }
}

/// The `data` records of all pages.
pub fn records(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["data"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Follows v1 `next_page_token`s from `path` (with `params`) to the end.
pub async fn walk_v1(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    params: &[(&str, &str)],
) -> Vec<Value> {
    let mut pages = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut p: Vec<(&str, &str)> = params.to_vec();
        if let Some(t) = &token {
            p.push(("page_token", t));
        }
        let url = reqwest::Url::parse_with_params(&format!("{base}{path}"), &p).unwrap();
        let body = get(http, url.as_str()).await;
        let next = body["next_page_token"].as_str().map(str::to_string);
        pages.push(body);
        match next {
            Some(t) => token = Some(t),
            None => return pages,
        }
        assert!(pages.len() < 10_000, "runaway pagination on {path}");
    }
}

/// The records under `key` of all v1 pages.
pub fn v1_records(pages: &[Value], key: &str) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p[key].as_array().cloned().unwrap_or_default())
        .collect()
}

pub fn ids(records: &[Value]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["id"].as_i64().expect("record id"))
        .collect()
}

/// The first external person who took part in an interaction (v1 interaction queries take
/// external persons only).
pub fn external_participant(
    ds: &affinity_mock::Dataset,
    i: &affinity_mock::model::Interaction,
) -> i64 {
    i.person_ids
        .iter()
        .copied()
        .find(|p| {
            ds.persons
                .iter()
                .any(|x| x.id == *p && x.kind == affinity_mock::model::PersonKind::External)
        })
        .expect("an external participant")
}
