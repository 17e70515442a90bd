//! Fetching one page: the one place the API key is used.
//!
//! The core says which URL to get and how to authenticate ([`affinity_sync_core::Request`]); a
//! [`PageFetcher`](crate::queued::PageFetcher) performs the GET and hands back status, headers
//! and body for `step::handle`: reqwest here (native), wasi:http in the component. Retrying,
//! pacing and parking differ per driver (an in-process loop for the CLI, SQS redelivery for
//! Lambda), so they are not here; what a driver needs to decide is (`month_spent`,
//! `user_budget`).

use anyhow::{Result, bail};
use http::HeaderMap;
use std::fmt;

/// Largest response body accepted: a page of 500 v1 records or 100 v2 records with every
/// field is a few MB; anything far bigger is not a page.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// The key. `Debug` and `Display` print `***`, so it cannot leak through logs or errors.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Result<ApiKey> {
        let key = key.into().trim().to_string();
        if key.is_empty() {
            bail!("the API key is empty");
        }
        if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
            bail!("the API key contains whitespace or control characters: check how it was copied");
        }
        Ok(ApiKey(key))
    }

    /// The secret itself, for the one place that needs it: the Authorization header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What Affinity answered.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The monthly quota is spent when a 429 says the org has nothing left: the seconds until it
/// resets.
pub fn month_spent(headers: &HeaderMap) -> Option<u64> {
    (header_u64(headers, "x-ratelimit-limit-org-remaining") == Some(0))
        .then(|| header_u64(headers, "x-ratelimit-limit-org-reset").unwrap_or(0))
}

/// Requests left in the org's monthly plan quota, as the response reports it.
pub fn org_remaining(headers: &HeaderMap) -> Option<u64> {
    header_u64(headers, "x-ratelimit-limit-org-remaining")
}

/// The per-user minute budget as the response reports it: requests left and seconds until
/// the window resets.
pub fn user_budget(headers: &HeaderMap) -> Option<(u64, u64)> {
    Some((
        header_u64(headers, "x-ratelimit-limit-user-remaining")?,
        header_u64(headers, "x-ratelimit-limit-user-reset").unwrap_or(60),
    ))
}

/// How long a 429 asks us to wait: `Retry-After`, else the user window's reset, 1 s to 1 h.
pub fn retry_after(headers: &HeaderMap) -> u64 {
    header_u64(headers, "retry-after")
        .or_else(|| header_u64(headers, "x-ratelimit-limit-user-reset"))
        .unwrap_or(1)
        .clamp(1, 3600)
}

/// The native client: reqwest with rustls (the CLI and the Lambda function).
#[cfg(feature = "native")]
mod native {
    use super::{ApiKey, MAX_BODY_BYTES, Response};
    use crate::queued::PageFetcher;
    use affinity_sync_core::Request;
    use affinity_sync_core::step::Auth;
    use anyhow::{Context, Result};
    use std::time::Duration;

    /// The HTTP client for Affinity: rustls, bounded connect and total time, our user agent,
    /// and no redirects followed (a 3xx is an error of the page, `StepError::Redirected`):
    /// the key is sent only to the configured origin.
    pub fn http_client() -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("affinity-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")
    }

    /// GETs `request.url` with the key. `Err` is a transport failure (connection, timeout, a body
    /// cut short or over [`MAX_BODY_BYTES`]), described without the URL: worth another try.
    pub async fn get_page(
        http: &reqwest::Client,
        request: &Request,
        key: &ApiKey,
    ) -> Result<Response, String> {
        let req = http.get(&request.url);
        let req = match request.auth {
            Auth::Basic => req.basic_auth("", Some(key.expose())),
            Auth::Bearer => req.bearer_auth(key.expose()),
        };
        let res = req
            .send()
            .await
            .map_err(|e| format!("request failed: {}", without_url(&e)))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let too_big =
            |n: usize| format!("response of {n} bytes is over the {MAX_BODY_BYTES}-byte limit");
        if let Some(n) = res
            .content_length()
            .filter(|&l| l as usize > MAX_BODY_BYTES)
        {
            return Err(too_big(n as usize));
        }
        let body = res
            .bytes()
            .await
            .map_err(|e| format!("reading the body failed: {}", without_url(&e)))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(too_big(body.len()));
        }
        Ok(Response {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    /// A transport error's text without its URL (URLs carry no secrets, but keep messages short).
    pub fn without_url(e: &reqwest::Error) -> String {
        let mut s = e.to_string();
        if let Some(u) = e.url() {
            s = s.replace(u.as_str(), "").replace(" ()", "");
        }
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            source = inner.source();
        }
        s
    }

    impl PageFetcher for reqwest::Client {
        async fn get_page(&self, request: &Request, key: &ApiKey) -> Result<Response, String> {
            get_page(self, request, key).await
        }
    }
}

#[cfg(feature = "native")]
pub use native::{get_page, http_client, without_url};
