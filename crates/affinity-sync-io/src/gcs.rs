//! Google Cloud Storage as an [`ObjectSink`]: `gs://bucket/prefix`, through the storage JSON
//! API (reqwest), with OAuth tokens from `gcp_auth`: a service-account key file
//! (`GOOGLE_APPLICATION_CREDENTIALS`), the application-default credentials of
//! `gcloud auth application-default login`, the metadata server on Google Cloud, or the
//! `gcloud` CLI. No HMAC keys: this is not GCS's S3 interoperability.
//!
//! The layout is the same as everywhere: one object per key under the prefix. An object is
//! written by one simple upload, so a reader sees all of it or none. Google encrypts every
//! object; `--gcs-kms-key` names a customer-managed Cloud KMS key for every write.
//!
//! `STORAGE_EMULATOR_HOST` (as Google's own client libraries read it) sends every request to
//! an emulator instead, without credentials.

use crate::sink::{Listed, ObjectSink};
use anyhow::{Context, Result, anyhow, bail};
use std::sync::Arc;
use std::time::Duration;

const SCOPES: &[&str] = &["https://www.googleapis.com/auth/devstorage.read_write"];
const TRIES: u32 = 4;

/// The objects under one prefix of one bucket.
pub struct GcsSink {
    http: reqwest::Client,
    /// `https://storage.googleapis.com`, or the emulator's address.
    base: url::Url,
    /// `None` for an emulator.
    auth: Option<Arc<dyn gcp_auth::TokenProvider>>,
    bucket: String,
    /// Empty, or the prefix with a trailing `/`.
    prefix: String,
    kms_key: Option<String>,
}

/// The bucket and prefix of `gs://bucket/prefix` (the prefix without slashes at its ends).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("gs://").ok_or_else(|| {
        anyhow!("{url} is not a Google Cloud Storage location: write gs://bucket/prefix")
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // Google's rule for bucket names: 3 to 63 of a-z, 0-9, `-`, `_` and `.`, starting and
    // ending with a letter or digit (longer dotted names are for domains, not supported here).
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && edge(bucket.chars().next())
        && edge(bucket.chars().next_back());
    if !valid {
        bail!(
            "{url}: {bucket:?} is not a bucket name (3 to 63 lower-case letters, digits, -, _ and ., starting and ending with a letter or digit): write gs://bucket/prefix"
        );
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

impl GcsSink {
    /// The bucket and prefix of `url` with the credentials of the environment, checked by
    /// reading the bucket's metadata; `setting` names the flag in errors, `kms_key` is the
    /// Cloud KMS key every write asks for.
    pub async fn open(url: &str, setting: &str, kms_key: Option<&str>) -> Result<GcsSink> {
        let (bucket, prefix) = parse_url(url)?;
        let emulator = std::env::var("STORAGE_EMULATOR_HOST")
            .ok()
            .filter(|v| !v.is_empty());
        let (base, auth) = match emulator {
            Some(host) => {
                let host = if host.contains("://") {
                    host
                } else {
                    format!("http://{host}")
                };
                let base = url::Url::parse(&host)
                    .with_context(|| format!("STORAGE_EMULATOR_HOST {host:?} is not an address"))?;
                (base, None)
            }
            None => {
                let provider = gcp_auth::provider().await.map_err(|e| {
                    anyhow!(
                        "{setting} {url}: no Google Cloud credentials ({}): set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run `gcloud auth application-default login`",
                        crate::first_line(&e.to_string())
                    )
                })?;
                let base = url::Url::parse("https://storage.googleapis.com").expect("a URL");
                (base, Some(provider))
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        let sink = GcsSink {
            http,
            base,
            auth,
            bucket,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            kms_key: kms_key.map(str::to_string),
        };
        let doing = format!("opening {url}");
        let bucket_url = sink.api(&["storage", "v1", "b", &sink.bucket]);
        let answer = sink
            .send(&doing, || sink.http.get(bucket_url.clone()))
            .await?;
        if !answer.status().is_success() {
            return Err(sink.refused(&doing, answer, Some(setting)).await);
        }
        Ok(sink)
    }

    /// `{base}/{segments…}`, each segment percent-encoded (an object name's `/` included).
    fn api(&self, segments: &[&str]) -> url::Url {
        let mut u = self.base.clone();
        u.path_segments_mut()
            .expect("an http(s) base")
            .pop_if_empty()
            .extend(segments);
        u
    }

    fn object(&self, key: &str) -> url::Url {
        let name = format!("{}{key}", self.prefix);
        self.api(&["storage", "v1", "b", &self.bucket, "o", &name])
    }

    fn url(&self, key: &str) -> String {
        format!("gs://{}/{}{key}", self.bucket, self.prefix)
    }

    /// Sends the request `build` makes, with a fresh token, tried again on a dropped
    /// connection, 429 or 5xx with a growing pause; the last answer either way.
    async fn send(
        &self,
        doing: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut pause = Duration::from_millis(200);
        for attempt in 1..=TRIES {
            let mut request = build();
            if let Some(auth) = &self.auth {
                let token = auth.token(SCOPES).await.map_err(|e| {
                    anyhow!(
                        "{doing}: no token from the Google Cloud credentials ({}): check GOOGLE_APPLICATION_CREDENTIALS",
                        crate::first_line(&e.to_string())
                    )
                })?;
                request = request.bearer_auth(token.as_str());
            }
            match request.send().await {
                Ok(r) if attempt < TRIES && (r.status() == 429 || r.status().is_server_error()) => {
                    tracing::debug!(status = %r.status(), "{doing}: trying again");
                }
                Ok(r) => return Ok(r),
                Err(e) if attempt < TRIES => tracing::debug!(error = %e, "{doing}: trying again"),
                Err(e) => return Err(anyhow!("{doing}: {}", crate::first_line(&e.to_string()))),
            }
            tokio::time::sleep(pause).await;
            pause *= 3;
        }
        unreachable!("the last try returns")
    }

    /// A refused request as one line: what was done, what Google said, what to do.
    async fn refused(
        &self,
        doing: &str,
        answer: reqwest::Response,
        setting: Option<&str>,
    ) -> anyhow::Error {
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| crate::first_line(&body).to_string());
        let flag = setting.map(|s| format!(" ({s})")).unwrap_or_default();
        match status.as_u16() {
            // An object's 404 is an answer (get, delete); any other is the bucket's.
            404 => anyhow!(
                "{doing}: the bucket {} does not exist{flag}: create it (gcloud storage buckets create gs://{}) or name another",
                self.bucket,
                self.bucket
            ),
            401 | 403 => anyhow!(
                "{doing}: Google Cloud refused the credentials ({status}: {message}): give the service account a Storage Object role on gs://{}",
                self.bucket
            ),
            _ => anyhow!("{doing}: {status}: {message}"),
        }
    }
}

#[derive(serde::Deserialize)]
struct Page {
    #[serde(default)]
    items: Vec<Item>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct Item {
    name: String,
    updated: Option<String>,
}

impl ObjectSink for GcsSink {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let doing = format!("writing {}", self.url(key));
        let mut upload = self.api(&["upload", "storage", "v1", "b", &self.bucket, "o"]);
        {
            let mut query = upload.query_pairs_mut();
            query
                .append_pair("uploadType", "media")
                .append_pair("name", &format!("{}{key}", self.prefix));
            if let Some(kms) = &self.kms_key {
                query.append_pair("kmsKeyName", kms);
            }
        }
        let body = bytes.to_vec();
        let answer = self
            .send(&doing, || {
                self.http
                    .post(upload.clone())
                    .header("content-type", "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
        if !answer.status().is_success() {
            return Err(self.refused(&doing, answer, None).await);
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let doing = format!("reading {}", self.url(key));
        let mut object = self.object(key);
        object.query_pairs_mut().append_pair("alt", "media");
        let answer = self.send(&doing, || self.http.get(object.clone())).await?;
        match answer.status().as_u16() {
            200 => Ok(Some(
                answer
                    .bytes()
                    .await
                    .with_context(|| doing.clone())?
                    .to_vec(),
            )),
            404 => Ok(None),
            _ => Err(self.refused(&doing, answer, None).await),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        crate::sink::keys_under(self, prefix).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let doing = format!("deleting {}", self.url(key));
        let object = self.object(key);
        let answer = self
            .send(&doing, || self.http.delete(object.clone()))
            .await?;
        match answer.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(self.refused(&doing, answer, None).await),
        }
    }

    async fn list_after(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<Listed>> {
        let doing = format!("listing {}", self.url(prefix));
        let folder = format!("{}{}/", self.prefix, prefix.trim_end_matches('/'));
        let folder = folder.trim_start_matches('/').to_string();
        let mut keys = vec![];
        let mut token: Option<String> = None;
        loop {
            let mut list = self.api(&["storage", "v1", "b", &self.bucket, "o"]);
            {
                let mut query = list.query_pairs_mut();
                query.append_pair("prefix", &folder);
                if let Some(after) = start_after {
                    // The first name at or after the key; the key itself is skipped below.
                    query.append_pair("startOffset", &format!("{}{after}", self.prefix));
                }
                if let Some(t) = &token {
                    query.append_pair("pageToken", t);
                }
            }
            let answer = self.send(&doing, || self.http.get(list.clone())).await?;
            if !answer.status().is_success() {
                return Err(self.refused(&doing, answer, None).await);
            }
            let page: Page = answer
                .json()
                .await
                .with_context(|| format!("{doing}: the answer is not a listing"))?;
            for item in page.items {
                let Some(key) = item.name.strip_prefix(&self.prefix) else {
                    continue;
                };
                if start_after.is_some_and(|a| key <= a) {
                    continue;
                }
                let modified = item
                    .updated
                    .as_deref()
                    .and_then(affinity_sync_core::table::parse_timestamp)
                    .map(|micros| micros.div_euclid(1_000_000));
                keys.push(Listed {
                    key: key.to_string(),
                    modified,
                });
            }
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn a_location_is_a_bucket_and_a_prefix() {
        let parsed = |u: &str| parse_url(u).unwrap();
        assert_eq!(
            parsed("gs://my_bucket.v2/crm/prod/"),
            ("my_bucket.v2".into(), "crm/prod".into())
        );
        assert_eq!(parsed("gs://abc"), ("abc".into(), String::new()));
    }

    #[test]
    fn names_google_refuses_are_refused_with_the_rule() {
        for bad in [
            "gs://ab/x",
            "gs://Upper/x",
            "gs://-lead/x",
            "gs://trail_/x",
            "gs://sp ace",
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains("is not a bucket name"), "{bad}: {e}");
        }
        let e = parse_url("az://container/x").unwrap_err().to_string();
        assert!(e.contains("write gs://bucket/prefix"), "{e}");
    }
}
