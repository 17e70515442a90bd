//! `affinity-sync plan` and the quota check before every sync: what the selected streams will
//! cost against the rate limits, from the core's estimator and two cheap calls.

use super::api_key::ApiKey;
use affinity_sync_core::catalog::Stream;
use affinity_sync_core::layout::SyncManifest;
use affinity_sync_core::plan::{self, Estimate, ListSize};
use affinity_sync_io::ObjectSink;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::Path;

/// The account's limits and what is left of them (v1 `GET /rate-limit`, which does not count
/// against the monthly quota).
#[derive(Debug, Clone)]
pub struct Quota {
    pub per_minute: u64,
    pub monthly_limit: u64,
    pub monthly_remaining: u64,
    pub monthly_reset_secs: u64,
}

impl Quota {
    /// The monthly quota as recorded in a sync's manifest, read now.
    pub fn seen(&self) -> affinity_sync_core::layout::QuotaSeen {
        let now = affinity_sync_io::now_unix();
        let resets = (now + self.monthly_reset_secs as i64) * 1_000_000;
        affinity_sync_core::layout::QuotaSeen {
            monthly_limit: self.monthly_limit,
            monthly_remaining: self.monthly_remaining,
            resets_at: affinity_sync_core::table::format_timestamp(resets),
            read_at: affinity_sync_io::now_rfc3339(),
        }
    }
}

pub struct Plan {
    pub estimates: Vec<Estimate>,
    pub quota: Quota,
}

impl Plan {
    pub fn total(&self) -> u64 {
        self.estimates.iter().map(|e| e.requests).sum()
    }

    pub fn exact(&self) -> bool {
        self.estimates.iter().all(|e| e.exact)
    }

    pub fn table(&self) -> String {
        let mut out = format!("{:<24} {:>9}  {}\n", "stream", "requests", "basis");
        for e in &self.estimates {
            let n = if e.exact {
                e.requests.to_string()
            } else {
                format!("≥{}", e.requests)
            };
            out.push_str(&format!("{:<24} {:>9}  {}\n", e.stream, n, e.basis));
        }
        let total = if self.exact() {
            self.total().to_string()
        } else {
            format!("≥{}", self.total())
        };
        out.push_str(&format!("{:<24} {:>9}\n", "total", total));
        let q = &self.quota;
        out.push_str(&format!(
            "monthly quota: {} of {} requests left (resets in {:.1} days); at {} requests a minute the sync needs {}{:.1} minutes",
            q.monthly_remaining,
            q.monthly_limit,
            q.monthly_reset_secs as f64 / 86_400.0,
            q.per_minute,
            if self.exact() { "" } else { "at least " },
            plan::minutes(self.total(), q.per_minute)
        ));
        out
    }
}

/// GET a v1 JSON document, retrying what a retry can fix (transport errors, 429, 5xx, a
/// broken body) a few times: the plan runs before the sync and must not be its weak spot.
async fn get_json(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    key: &ApiKey,
    key_source: &str,
) -> Result<Value> {
    const ATTEMPTS: u32 = 4;
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failure = match http
            .get(&url)
            .basic_auth("", Some(key.expose()))
            .send()
            .await
        {
            Err(e) => anyhow::Error::new(e).context(format!("GET {path}")),
            Ok(res) => match res.status().as_u16() {
                200 => match res.json().await {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        anyhow::Error::new(e).context(format!("GET {path}: the body is not JSON"))
                    }
                },
                401 => bail!(
                    "Affinity rejected the API key from {key_source} (401 Unauthorized): check that it is a current key for {base}"
                ),
                status @ 300..=399 => bail!(
                    "{}",
                    affinity_sync_core::step::StepError::Redirected {
                        path: path.into(),
                        status
                    }
                ),
                s @ (429 | 500..=599) => anyhow::anyhow!("GET {path} answered {s}"),
                s => bail!("GET {path} answered {s}"),
            },
        };
        if attempt >= ATTEMPTS {
            return Err(failure.context(format!("gave up after {ATTEMPTS} attempts")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
    }
}

/// The account's limits, from `GET /rate-limit`.
pub async fn quota(
    http: &reqwest::Client,
    base: &str,
    key: &ApiKey,
    key_source: &str,
) -> Result<Quota> {
    let v = get_json(http, base, "/rate-limit", key, key_source).await?;
    let n = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_u64)
            .with_context(|| format!("/rate-limit has no {p}"))
    };
    Ok(Quota {
        per_minute: n("/rate/api_key_per_minute/limit")?,
        monthly_limit: n("/rate/org_monthly/limit")?,
        monthly_remaining: n("/rate/org_monthly/remaining")?,
        monthly_reset_secs: n("/rate/org_monthly/reset")?,
    })
}

/// List sizes from v1 `GET /lists` (one request).
async fn list_sizes(
    http: &reqwest::Client,
    base: &str,
    key: &ApiKey,
    key_source: &str,
) -> Result<Vec<ListSize>> {
    let v = get_json(http, base, "/lists", key, key_source).await?;
    let lists = v.as_array().context("/lists is not an array")?;
    Ok(lists
        .iter()
        .filter_map(|l| {
            Some(ListSize {
                id: l.get("id")?.as_i64()?,
                entries: l.get("list_size")?.as_u64()?,
            })
        })
        .collect())
}

/// The manifest of the latest complete sync in `out`, if any.
pub fn previous_sync(out: &Path) -> Option<SyncManifest> {
    complete_syncs(out).pop()
}

/// Whether `dir` holds any batch ending in `ext`.
pub fn has_batches(dir: &Path, ext: &str) -> bool {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(ext))
        })
        .unwrap_or(false)
}

/// The syncs whose rows make up `stream` as of `history`'s last sync, oldest first: the last
/// one that read it in full, then every later one that read it incrementally.
pub fn syncs_of<'a>(
    history: &'a [SyncManifest],
    stream: &str,
    from: &str,
) -> Result<Vec<&'a SyncManifest>> {
    let mut chain = vec![];
    for m in history.iter().rev() {
        let Some(s) = m.streams.iter().find(|s| s.stream == stream) else {
            continue;
        };
        chain.push(m);
        if s.since.is_none() {
            chain.reverse();
            return Ok(chain);
        }
    }
    bail!(
        "stream {stream} was synced incrementally, but {} holds no complete full sync of it to build on: \
         run `affinity-sync sync --out {} --streams {stream}` without --incremental",
        from,
        from
    )
}

/// The catalog table `name` that `manifest`'s sync wrote, or an error naming it when this
/// build does not know it (a sync by a newer version).
pub fn table_of(
    manifest: &SyncManifest,
    name: &str,
) -> Result<&'static affinity_sync_core::table::Table> {
    affinity_sync_core::catalog::table(name).with_context(|| {
        format!(
            "sync {} has table {name}, unknown to this build",
            manifest.sync_id
        )
    })
}

/// The manifests of every complete sync in the directory `out`, oldest first.
pub fn complete_syncs(out: &Path) -> Vec<SyncManifest> {
    let ids: Vec<String> = std::fs::read_dir(out.join("_manifests"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("sync_id=")
                .map(str::to_string)
        })
        .collect();
    let mut syncs: Vec<SyncManifest> = ids
        .iter()
        .filter_map(|id| {
            let text = std::fs::read(
                out.join("_manifests")
                    .join(format!("sync_id={id}"))
                    .join("sync.json"),
            )
            .ok()?;
            serde_json::from_slice(&text).ok()
        })
        .collect();
    affinity_sync_core::layout::sort_by_start(&mut syncs);
    syncs
}

/// The manifest of the latest complete sync in `sink`, if any.
pub async fn latest_complete<S: ObjectSink>(sink: &S) -> Result<Option<SyncManifest>> {
    Ok(affinity_sync_io::journal::history(sink).await?.pop())
}

/// The plan for `streams`. With `probe_lists`, list sizes are fetched (one request).
pub async fn make(
    http: &reqwest::Client,
    base: &str,
    key: &ApiKey,
    key_source: &str,
    streams: &[&'static Stream],
    previous: Option<SyncManifest>,
    probe_lists: bool,
) -> Result<Plan> {
    let quota = quota(http, base, key, key_source).await?;
    let lists = if probe_lists && streams.iter().any(|s| s.name == "list_entries") {
        Some(list_sizes(http, base, key, key_source).await?)
    } else {
        None
    };
    Ok(Plan {
        estimates: plan::estimate(streams, previous.as_ref(), lists.as_deref()),
        quota,
    })
}
