//! `affinity-sync webhooks subscribe | list | delete`: Affinity's webhook subscriptions
//! (v1 `/webhook`), pointed at a receiver with its secret in the URL.
//!
//! Affinity allows three subscriptions per account and does not sign deliveries, so
//! `subscribe` checks the count first (a clear error instead of Affinity's), and builds the
//! URL with the receiver's token. `list` never prints a token.

use affinity_sync_core::changes::EVENT_TYPES;
use affinity_sync_io::ApiKey;
use affinity_sync_io::queued::secrets::Token;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Subscriptions an Affinity account may have.
pub const LIMIT: usize = 3;

/// The v1 webhook API of one account.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    key_source: String,
}

/// `?token=...` replaced by `?token=***`.
pub fn mask(url: &str) -> String {
    match url.split_once("token=") {
        Some((before, after)) => {
            let rest = after.find('&').map(|i| &after[i..]).unwrap_or("");
            format!("{before}token=***{rest}")
        }
        None => url.to_string(),
    }
}

/// The URL Affinity should post to: the receiver's `/webhook` URL with the token added.
pub fn url_with_token(url: &str, token: &Token) -> Result<String> {
    let mut parsed = url::Url::parse(url).with_context(|| {
        format!("--url {url:?} is not a URL like https://hooks.example.com/webhook")
    })?;
    if parsed.scheme() != "https" && parsed.scheme() != "http" {
        bail!("--url must be an https URL (http only for local tests), got {url:?}");
    }
    if parsed.query_pairs().any(|(k, _)| k == "token") {
        bail!("--url already has a token; give the receiver's URL without it");
    }
    parsed
        .query_pairs_mut()
        .append_pair("token", token.expose());
    Ok(parsed.to_string())
}

/// Checks `--events` against the documented event types.
pub fn events(list: Option<&str>) -> Result<Vec<String>> {
    let Some(list) = list else { return Ok(vec![]) };
    let mut out = vec![];
    for e in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if !EVENT_TYPES.contains(&e) {
            bail!(
                "--events: {e:?} is not an Affinity webhook event; known events: {}",
                EVENT_TYPES.join(", ")
            );
        }
        out.push(e.to_string());
    }
    Ok(out)
}

impl Client {
    pub fn new(base_url: &str, key: ApiKey, key_source: String) -> Result<Client> {
        Ok(Client {
            http: affinity_sync_io::fetch::http_client()?,
            base: base_url.trim_end_matches('/').to_string(),
            key,
            key_source,
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        let res = req
            .basic_auth("", Some(self.key.expose()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{what}: {}", affinity_sync_io::fetch::without_url(&e)))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.as_u16() == 401 {
            bail!(
                "{what}: Affinity rejected the API key from {} (401)",
                self.key_source
            );
        }
        if !status.is_success() {
            let msg = body
                .pointer("/errors/0/message")
                .or_else(|| body.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("no message");
            bail!("{what}: Affinity answered {status}: {msg}");
        }
        Ok(body)
    }

    pub async fn list(&self) -> Result<Vec<Value>> {
        let body = self
            .call(
                self.http.get(format!("{}/webhook", self.base)),
                "listing webhook subscriptions",
            )
            .await?;
        body.as_array()
            .cloned()
            .context("listing webhook subscriptions: the answer is not a list")
    }

    /// Creates a subscription, refusing clearly when the account already has three.
    pub async fn subscribe(&self, url: &str, events: &[String]) -> Result<Value> {
        let existing = self.list().await?;
        if existing.len() >= LIMIT {
            let ids: Vec<String> = existing
                .iter()
                .map(|w| {
                    format!(
                        "{} ({})",
                        w["id"],
                        mask(w["webhook_url"].as_str().unwrap_or(""))
                    )
                })
                .collect();
            bail!(
                "Affinity allows {LIMIT} webhook subscriptions per account and this one has {}: {}. \
                 Delete one with `affinity-sync webhooks delete ID` first",
                existing.len(),
                ids.join(", ")
            );
        }
        self.call(
            self.http
                .post(format!("{}/webhook/subscribe", self.base))
                .json(&json!({ "webhook_url": url, "subscriptions": events })),
            "creating the webhook subscription",
        )
        .await
    }

    pub async fn delete(&self, id: i64) -> Result<()> {
        self.call(
            self.http.delete(format!("{}/webhook/{id}", self.base)),
            &format!("deleting webhook subscription {id}"),
        )
        .await?;
        Ok(())
    }
}

/// A subscription as one line: id, URL (token masked), events, state.
pub fn describe(w: &Value) -> String {
    let events: Vec<&str> = w["subscriptions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "{}  {}  {}{}",
        w["id"],
        mask(w["webhook_url"].as_str().unwrap_or("")),
        if events.is_empty() {
            "all events".to_string()
        } else {
            events.join(",")
        },
        if w["disabled"].as_bool() == Some(true) {
            "  (disabled)"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked_and_added() {
        assert_eq!(
            mask("https://h.example/webhook?token=abc&x=1"),
            "https://h.example/webhook?token=***&x=1"
        );
        let t = Token::new("0123456789abcdef0123").unwrap();
        let u = url_with_token("https://h.example/webhook", &t).unwrap();
        assert_eq!(u, "https://h.example/webhook?token=0123456789abcdef0123");
        assert!(url_with_token("ftp://h.example/webhook", &t).is_err());
        assert!(url_with_token("https://h.example/webhook?token=x", &t).is_err());
    }

    #[test]
    fn events_are_checked() {
        assert_eq!(events(None).unwrap(), Vec::<String>::new());
        assert_eq!(
            events(Some("person.created, note.deleted")).unwrap(),
            ["person.created", "note.deleted"]
        );
        let e = events(Some("person.exploded")).unwrap_err().to_string();
        assert!(
            e.contains("person.exploded") && e.contains("person.created"),
            "{e}"
        );
    }
}
