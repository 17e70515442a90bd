//! The object sink on S3 or any S3-compatible store, over `wasi:http` and signed with
//! SigV4: PUT, GET, ListObjectsV2 and DELETE, the four calls the `ObjectSink` contract
//! needs. A PUT is atomic in S3, so readers see the whole object or none.
//!
//! With `AWS_ENDPOINT_URL_S3` set (MinIO, R2, moto) requests go path-style to that endpoint;
//! without it, to the bucket's virtual host on AWS.

use crate::aws::Signer;
use crate::outbound::{self, Reply};
use affinity_sync_io::ObjectSink;
use affinity_sync_io::aws_error;
use affinity_sync_io::s3_encryption::Encryption;
use anyhow::{Result, anyhow, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use spin_sdk::http::Method;

/// What S3 leaves unencoded in a key: the unreserved characters and the folder separator.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
/// A query value: the same, but `/` encoded too.
const QUERY: &AsciiSet = &KEY.add(b'/');

pub struct S3Store {
    /// `scheme://host[:port]` plus `/bucket` when path-style.
    base: String,
    bucket: String,
    /// Key prefix with a trailing `/`, or empty.
    prefix: String,
    /// Asked of S3 on every PUT, as signed headers.
    encryption: Encryption,
    signer: Signer,
}

impl S3Store {
    /// ListObjectsV2 of the full key prefix `folder`, page after page: the keys under it
    /// (without the store's prefix), and with `delimited` the sub-folders (full prefixes,
    /// S3's CommonPrefixes) instead of the keys below them.
    fn list_folder(&self, folder: &str, delimited: bool) -> Result<(Vec<String>, Vec<String>)> {
        let what = format!("listing s3://{}/{folder}", self.bucket);
        let (mut keys, mut folders) = (vec![], vec![]);
        let mut token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/?list-type=2&prefix={}",
                self.base,
                utf8_percent_encode(folder, QUERY)
            );
            if delimited {
                url.push_str("&delimiter=%2F");
            }
            if let Some(t) = &token {
                url.push_str(&format!(
                    "&continuation-token={}",
                    utf8_percent_encode(t, QUERY)
                ));
            }
            let reply = self.call(Method::Get, &url, vec![], &what)?;
            if reply.status != 200 {
                return Err(s3_error(&reply, &what));
            }
            let text = String::from_utf8_lossy(&reply.body);
            let doc = roxmltree::Document::parse(&text)
                .map_err(|e| anyhow!("{what}: S3 answered XML that does not parse: {e}"))?;
            let child = |name: &str| {
                doc.root_element()
                    .children()
                    .find(|n| n.has_tag_name(name))
                    .and_then(|n| n.text())
                    .map(str::to_string)
            };
            for common in doc
                .root_element()
                .children()
                .filter(|n| n.has_tag_name("CommonPrefixes"))
            {
                let prefix = common
                    .children()
                    .find(|n| n.has_tag_name("Prefix"))
                    .and_then(|n| n.text());
                if let Some(p) = prefix {
                    folders.push(p.to_string());
                }
            }
            for contents in doc
                .root_element()
                .children()
                .filter(|n| n.has_tag_name("Contents"))
            {
                let key = contents
                    .children()
                    .find(|n| n.has_tag_name("Key"))
                    .and_then(|n| n.text());
                if let Some(k) = key.and_then(|k| k.strip_prefix(&self.prefix)) {
                    keys.push(k.to_string());
                }
            }
            if child("IsTruncated").as_deref() != Some("true") {
                break;
            }
            token = child("NextContinuationToken");
            if token.is_none() {
                bail!("{what}: S3 said the listing is truncated but gave no continuation token");
            }
        }
        keys.sort();
        folders.sort();
        Ok((keys, folders))
    }

    /// The store for `s3://bucket/prefix` (already checked by the settings).
    pub fn new(
        out: &str,
        endpoint: Option<&str>,
        encryption: Encryption,
        signer: Signer,
    ) -> Result<S3Store> {
        let (bucket, prefix) = affinity_sync_io::s3_url::parse_url(out)?;
        let base = match endpoint {
            Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{}.amazonaws.com", signer.region),
        };
        Ok(S3Store {
            base,
            bucket,
            prefix,
            encryption,
            signer,
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn object_url(&self, key: &str) -> String {
        format!(
            "{}/{}",
            self.base,
            utf8_percent_encode(&self.full_key(key), KEY)
        )
    }

    /// One signed request; `what` names it in errors (`PUT s3://bucket/key`).
    fn call(&self, method: Method, url: &str, body: Vec<u8>, what: &str) -> Result<Reply> {
        self.call_with(method, url, &[], body, what)
    }

    /// One signed request with extra headers, signed too (S3 refuses unsigned `x-amz-*`).
    fn call_with(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        what: &str,
    ) -> Result<Reply> {
        let verb = method.to_string();
        // S3 asks clients to retry its 500 and 503 answers (and a request cut short); the
        // native homes' SDK does, three tries in all, and so does this (signed afresh).
        let mut attempt = 1;
        loop {
            let mut all = headers.to_vec();
            all.extend(self.signer.sign("s3", &verb, url, headers, &body)?);
            let sent = outbound::send(method.clone(), url, &all, body.clone());
            let again = match &sent {
                Ok(reply) => matches!(reply.status, 500 | 502 | 503 | 504),
                Err(_) => true,
            };
            if !again || attempt == 3 {
                return sent.map_err(|e| anyhow!("{what}: {e}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100 << (2 * attempt)));
            attempt += 1;
        }
    }
}

/// The `Code` of S3's XML error answer, if it sent one.
fn s3_code(reply: &Reply) -> Option<String> {
    s3_field(reply, "Code")
}

fn s3_field(reply: &Reply, name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(&reply.body);
    roxmltree::Document::parse(&text).ok().and_then(|doc| {
        doc.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::to_string)
    })
}

/// S3's error answer as one line (`affinity_sync_io::aws_error`): what was done, the `Code`
/// of its XML body (or the status) and what it means, and what to do.
fn s3_error(reply: &Reply, what: &str) -> anyhow::Error {
    let code = s3_code(reply).unwrap_or_else(|| format!("HTTP {}", reply.status));
    tracing::debug!(
        status = reply.status,
        body = %String::from_utf8_lossy(&reply.body),
        "{what}"
    );
    anyhow!(aws_error::line(
        what,
        &code,
        s3_field(reply, "Message").as_deref(),
        Some("AFFINITY_SYNC_BUCKET"),
    ))
}

impl ObjectSink for S3Store {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let what = format!("writing s3://{}/{}", self.bucket, self.full_key(key));
        let headers: Vec<(String, String)> = (self.encryption.headers().into_iter())
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        let reply = self.call_with(
            Method::Put,
            &self.object_url(key),
            &headers,
            bytes.to_vec(),
            &what,
        )?;
        if reply.status != 200 {
            return Err(anyhow!(
                "{}{}",
                s3_error(&reply, &what),
                self.encryption.hint()
            ));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let what = format!("reading s3://{}/{}", self.bucket, self.full_key(key));
        let reply = self.call(Method::Get, &self.object_url(key), vec![], &what)?;
        match reply.status {
            200 => Ok(Some(reply.body)),
            // A missing key is an answer; a missing bucket (also 404) is not.
            404 if s3_code(&reply).as_deref() != Some("NoSuchBucket") => Ok(None),
            _ => Err(s3_error(&reply, &what)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let folder = self.full_key(&format!("{}/", prefix.trim_end_matches('/')));
        Ok(self.list_folder(&folder, false)?.0)
    }

    async fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = prefix.trim_matches('/');
        let folder = if prefix.is_empty() {
            self.full_key("")
        } else {
            self.full_key(&format!("{prefix}/"))
        };
        let (_, folders) = self.list_folder(&folder, true)?;
        Ok(folders
            .iter()
            .filter_map(|p| p.strip_prefix(&folder))
            .map(|p| p.trim_end_matches('/').to_string())
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let what = format!("removing s3://{}/{}", self.bucket, self.full_key(key));
        let reply = self.call(Method::Delete, &self.object_url(key), vec![], &what)?;
        let gone = reply.status == 404 && s3_code(&reply).as_deref() != Some("NoSuchBucket");
        if !(matches!(reply.status, 200 | 204) || gone) {
            return Err(s3_error(&reply, &what));
        }
        Ok(())
    }
}
