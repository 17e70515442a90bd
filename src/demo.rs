//! `affinity-sync demo`: the newcomer's first command.
//!
//! It starts the Affinity test double in-process on a free port, walks every collection
//! endpoint of both API versions over real HTTP to its last page, and checks the number of
//! records served against the double's ground truth. (Once the sync engine lands, the demo
//! runs a full sync into a local directory and queries it with DuckDB instead.)

use affinity_mock::{MockConfig, MockServer, Sizes};
use anyhow::{Context, Result, bail};
use serde_json::Value;

struct Walk {
    endpoint: String,
    pages: usize,
    records: usize,
    expected: usize,
}

pub async fn run(seed: u64, sizes: Sizes) -> Result<()> {
    let config = MockConfig {
        seed,
        sizes,
        ..MockConfig::default()
    };
    let key = config.api_key.clone();
    let server = MockServer::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .context("starting the Affinity test double")?;
    let base = server.base_url();
    let ds = server.dataset();
    println!("Affinity test double on {base} (seed {seed})");
    let http = reqwest::Client::new();
    let all_types = "fieldTypes=enriched&fieldTypes=global&fieldTypes=relationship-intelligence";
    let mut walks = vec![];

    let v2 = [
        (format!("/v2/persons?{all_types}"), ds.persons.len()),
        (format!("/v2/companies?{all_types}"), ds.companies.len()),
        ("/v2/opportunities".to_string(), ds.opportunities.len()),
        ("/v2/lists".to_string(), ds.lists.len()),
        (
            "/v2/notes?limit=100".to_string(),
            ds.notes.iter().filter(|n| n.parent_id().is_none()).count(),
        ),
    ];
    for (path, expected) in v2 {
        walks.push(walk_v2(&http, &key, &base, &path, expected).await?);
    }
    for list in &ds.lists {
        let path = format!(
            "/v2/lists/{}/list-entries?{all_types}&fieldTypes=list",
            list.id
        );
        let expected = ds
            .list_entries
            .iter()
            .filter(|e| e.list_id == list.id)
            .count();
        walks.push(walk_v2(&http, &key, &base, &path, expected).await?);
    }
    let v1 = [
        ("/persons", "persons", ds.persons.len()),
        ("/organizations", "organizations", ds.companies.len()),
        ("/opportunities", "opportunities", ds.opportunities.len()),
        ("/notes", "notes", ds.notes.len()),
        ("/reminders", "reminders", ds.reminders.len()),
        ("/entity-files", "entity_files", ds.entity_files.len()),
    ];
    for (path, key_name, expected) in v1 {
        walks.push(walk_v1(&http, &key, &base, path, key_name, expected).await?);
    }

    println!(
        "\n{:<78} {:>6} {:>8} {:>8}",
        "endpoint", "pages", "records", "truth"
    );
    let mut bad = 0;
    for w in &walks {
        let mark = if w.records == w.expected {
            "ok"
        } else {
            "MISMATCH"
        };
        if w.records != w.expected {
            bad += 1;
        }
        println!(
            "{:<78} {:>6} {:>8} {:>8} {mark}",
            w.endpoint, w.pages, w.records, w.expected
        );
    }
    let stats = server.stats();
    println!(
        "\n{} requests served; every endpoint walked to its last page.",
        stats.requests
    );
    server.stop().await;
    if bad > 0 {
        bail!("{bad} endpoints served a different number of records than the ground truth");
    }
    Ok(())
}

async fn get(http: &reqwest::Client, url: &str, key: &str) -> Result<Value> {
    let res = http
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .with_context(|| format!("GET {url}: body is not JSON"))?;
    if !status.is_success() {
        bail!("GET {url} returned {status}: {body}");
    }
    Ok(body)
}

/// Follows `pagination.nextUrl` to the end.
async fn walk_v2(
    http: &reqwest::Client,
    key: &str,
    base: &str,
    path: &str,
    expected: usize,
) -> Result<Walk> {
    let mut url = format!("{base}{path}");
    let (mut pages, mut records) = (0, 0);
    loop {
        let body = get(http, &url, key).await?;
        pages += 1;
        records += body["data"].as_array().map_or(0, Vec::len);
        match body["pagination"]["nextUrl"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    Ok(Walk {
        endpoint: format!("GET {path}"),
        pages,
        records,
        expected,
    })
}

/// Follows `next_page_token` to the end, 500 records a page.
async fn walk_v1(
    http: &reqwest::Client,
    key: &str,
    base: &str,
    path: &str,
    collection: &str,
    expected: usize,
) -> Result<Walk> {
    let (mut pages, mut records) = (0, 0);
    let mut token: Option<String> = None;
    loop {
        let mut params = vec![("page_size", "500".to_string())];
        if let Some(t) = &token {
            params.push(("page_token", t.clone()));
        }
        let url = reqwest::Url::parse_with_params(&format!("{base}{path}"), &params)
            .context("building a v1 URL")?;
        let body = get(http, url.as_str(), key).await?;
        pages += 1;
        records += body[collection].as_array().map_or(0, Vec::len);
        match body["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    Ok(Walk {
        endpoint: format!("GET {path}?page_size=500"),
        pages,
        records,
        expected,
    })
}
