//! Server-side encryption of what affinity-sync writes to S3. It is asked for on every PUT
//! (not left to the bucket's default), so batches of a company's CRM are stored encrypted
//! even in a bucket created without default encryption, and with a KMS key when the
//! company's policy wants one. The same setting for the CLI (`--s3-sse`), the Lambda
//! function and the component (`AFFINITY_SYNC_S3_SSE`).

use anyhow::{Result, bail};

/// How S3 is asked to encrypt each object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Encryption {
    /// SSE-S3 (`AES256`, keys managed by S3): the default, free, and what AWS buckets do.
    #[default]
    S3,
    /// SSE-KMS with the named key (id, alias or ARN), or the account's `aws/s3` key.
    Kms { key_id: Option<String> },
    /// Nothing asked (the bucket's default applies): for S3-compatible stores without
    /// server-side encryption, such as MinIO with no KMS configured.
    None,
}

/// The setting's accepted values, for help texts and errors.
pub const CHOICES: &str = "aes256 (default), kms, kms:<key id, alias or ARN>, none";

impl Encryption {
    /// `aes256`, `kms`, `kms:<key>` or `none` (case-insensitive keywords).
    pub fn parse(text: &str) -> Result<Encryption> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "aes256" | "sse-s3" => Encryption::S3,
            "kms" | "aws:kms" => Encryption::Kms { key_id: None },
            "none" => Encryption::None,
            _ if lower.starts_with("kms:") && text.len() > 4 => {
                let key = &text[4..];
                if !key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_/:.".contains(&b))
                {
                    bail!("{text:?}: a KMS key is an id, alias/… or arn:aws:kms:… ({CHOICES})");
                }
                Encryption::Kms {
                    key_id: Some(key.to_string()),
                }
            }
            _ => bail!("{text:?} is not a server-side encryption setting: use {CHOICES}"),
        })
    }

    /// The request headers that ask for it (signed with the rest of the request).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Encryption::S3 => vec![("x-amz-server-side-encryption", "AES256".into())],
            Encryption::Kms { key_id } => {
                let mut h = vec![("x-amz-server-side-encryption", "aws:kms".into())];
                if let Some(key) = key_id {
                    h.push(("x-amz-server-side-encryption-aws-kms-key-id", key.clone()));
                }
                h
            }
            Encryption::None => vec![],
        }
    }

    /// What to add to a failed write's error: the store may not do server-side encryption.
    pub fn hint(&self) -> &'static str {
        match self {
            Encryption::None => "",
            _ => {
                " (objects are written with server-side encryption; for an S3-compatible store \
                 without it, such as MinIO with no KMS, set --s3-sse none or AFFINITY_SYNC_S3_SSE=none)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_to_the_headers_s3_expects() {
        assert_eq!(Encryption::default(), Encryption::S3);
        assert_eq!(
            Encryption::parse("AES256").unwrap().headers(),
            [("x-amz-server-side-encryption", "AES256".to_string())]
        );
        assert_eq!(
            Encryption::parse("kms").unwrap(),
            Encryption::Kms { key_id: None }
        );
        let arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            Encryption::parse(&format!("kms:{arn}")).unwrap().headers(),
            [
                ("x-amz-server-side-encryption", "aws:kms".to_string()),
                (
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    arn.to_string()
                )
            ]
        );
        assert!(Encryption::parse("none").unwrap().headers().is_empty());
        for bad in ["aes", "kms:", "kms:key with spaces", ""] {
            let e = Encryption::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("aes256") || e.contains("KMS key"),
                "{bad:?}: {e}"
            );
        }
    }
}
