//! A deployment's secrets, read once at start-up and kept in memory: the Affinity API key,
//! the secret that signs queue messages, and the token that authorises starting a sync (and,
//! on the component, every route).
//!
//! On AWS they come from one Secrets Manager secret (`AFFINITY_SYNC_SECRET_ARN`), either a
//! JSON object `{"api_key": "...", "job_secret": "...", "trigger_token": "...",
//! "webhook_secret": "..."}` (all but the key optional) or just the key as plain text ([`Secrets::parse`]); elsewhere from variables
//! ([`Secrets::from_vars`]). None of them is ever logged: each type prints `***`.

use crate::ApiKey;
use affinity_sync_core::job::JobSecret;
use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

pub struct Secrets {
    pub api_key: ApiKey,
    /// Signs every job this function sends and checks every job it receives.
    pub job_secret: Option<JobSecret>,
    /// `Authorization: Bearer <token>` of `POST /sync`; without one, the endpoint is off.
    pub trigger_token: Option<Token>,
    /// The `?token=` of the webhook URL Affinity posts to; without one, `/webhook` is off.
    pub webhook_secret: Option<Token>,
}

/// A bearer token, compared in constant time, printed as `***`.
pub struct Token(String);

impl Token {
    pub fn new(value: &str) -> Result<Token> {
        let value = value.trim();
        if value.len() < 16 {
            bail!(
                "the token is shorter than 16 characters: use a random one (e.g. `openssl rand -hex 24`)"
            );
        }
        Ok(Token(value.to_string()))
    }

    /// The token itself, for the one place that needs it (the webhook URL Affinity is given).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token. Compares digests byte by byte without stopping
    /// early, so the time taken says nothing about how much of it was right.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (
            Sha256::digest(self.0.as_bytes()),
            Sha256::digest(presented.as_bytes()),
        );
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

fn job_secret(value: &str, from: &str) -> Result<JobSecret> {
    JobSecret::new(value.trim().as_bytes()).ok_or_else(|| {
        anyhow!("the job secret in {from} is shorter than 16 bytes: use a random one")
    })
}

impl Secrets {
    /// Parses the secret's text: a JSON object with `api_key`, or the key itself.
    pub fn parse(text: &str, from: &str) -> Result<Secrets> {
        let text = text.trim();
        if !text.starts_with('{') {
            return Ok(Secrets {
                api_key: ApiKey::new(text).with_context(|| format!("in {from}"))?,
                job_secret: None,
                trigger_token: None,
                webhook_secret: None,
            });
        }
        let doc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| {
                anyhow!(
                    "{from} holds malformed JSON (line {}, column {})",
                    e.line(),
                    e.column()
                )
            })?;
        let field = |name: &str| -> Result<Option<&str>> {
            match doc.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => bail!("{from}: \"{name}\" must be a string"),
            }
        };
        for name in doc.keys() {
            if !["api_key", "job_secret", "trigger_token", "webhook_secret"]
                .contains(&name.as_str())
            {
                bail!(
                    "{from}: unknown field \"{name}\" (the fields are api_key, job_secret, trigger_token, webhook_secret)"
                );
            }
        }
        let api_key = field("api_key")?.ok_or_else(|| anyhow!("{from} has no \"api_key\""))?;
        Ok(Secrets {
            api_key: ApiKey::new(api_key).with_context(|| format!("in {from}"))?,
            job_secret: field("job_secret")?
                .map(|s| job_secret(s, from))
                .transpose()?,
            trigger_token: field("trigger_token")?
                .map(|t| Token::new(t).with_context(|| format!("in {from}")))
                .transpose()?,
            webhook_secret: field("webhook_secret")?
                .map(|t| Token::new(t).with_context(|| format!("webhook_secret in {from}")))
                .transpose()?,
        })
    }

    /// From variables: `AFFINITY_API_KEY`, `AFFINITY_SYNC_JOB_SECRET`,
    /// `AFFINITY_SYNC_TRIGGER_TOKEN`, `AFFINITY_SYNC_WEBHOOK_SECRET` (the component; Lambda
    /// without a secret ARN).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Secrets> {
        let key = var("AFFINITY_API_KEY").ok_or_else(|| {
            anyhow!(
                "no Affinity API key: set AFFINITY_API_KEY (on Lambda, AFFINITY_SYNC_SECRET_ARN)"
            )
        })?;
        Ok(Secrets {
            api_key: ApiKey::new(key).context("in AFFINITY_API_KEY")?,
            job_secret: var("AFFINITY_SYNC_JOB_SECRET")
                .map(|s| job_secret(&s, "AFFINITY_SYNC_JOB_SECRET"))
                .transpose()?,
            trigger_token: var("AFFINITY_SYNC_TRIGGER_TOKEN")
                .map(|t| Token::new(&t).context("in AFFINITY_SYNC_TRIGGER_TOKEN"))
                .transpose()?,
            webhook_secret: var("AFFINITY_SYNC_WEBHOOK_SECRET")
                .map(|t| Token::new(&t).context("in AFFINITY_SYNC_WEBHOOK_SECRET"))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_json_or_the_key_itself() {
        let s = Secrets::parse("  plain-key-123\n", "s").unwrap();
        assert_eq!(s.api_key.expose(), "plain-key-123");
        assert!(s.job_secret.is_none() && s.trigger_token.is_none());
        let s = Secrets::parse(
            r#"{"api_key":"k-1","job_secret":"0123456789abcdef0","trigger_token":"tok-0123456789abcdef"}"#,
            "s",
        )
        .unwrap();
        assert_eq!(s.api_key.expose(), "k-1");
        assert!(s.job_secret.is_some());
        let t = s.trigger_token.unwrap();
        assert!(t.matches("tok-0123456789abcdef") && !t.matches("tok-0123456789abcdeF"));
        assert_eq!(format!("{t:?}"), "Token(***)");
    }

    #[test]
    fn bad_secrets_say_what_is_wrong_without_the_values() {
        for (text, says) in [
            (
                r#"{"job_secret":"0123456789abcdef0"}"#,
                "has no \"api_key\"",
            ),
            (
                r#"{"api_key":"k","apikey":"x"}"#,
                "unknown field \"apikey\"",
            ),
            (
                r#"{"api_key":"k","job_secret":"short"}"#,
                "shorter than 16 bytes",
            ),
            (
                r#"{"api_key":"k","trigger_token":"short"}"#,
                "shorter than 16",
            ),
            (r#"{"api_key": 42}"#, "must be a string"),
            (r#"{"api_key": "sk-secret-value""#, "malformed JSON"),
        ] {
            let err = format!("{:#}", Secrets::parse(text, "the secret X").err().unwrap());
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("sk-secret-value"), "{err}");
        }
    }
}
