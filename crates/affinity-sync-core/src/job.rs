//! The job: the continuation token that travels through the queue.
//!
//! A job names one page to fetch: the sync it belongs to, the stream, the parent ids that
//! fill the stream's path (`list_id`), and the page's cursor (v2) or page token (v1). It is
//! a small versioned JSON document. It never holds the API key or a URL: a v2 `nextUrl` is
//! reduced to its cursor and rebuilt on the configured base URL, so a job cannot point the
//! key anywhere else. Decoding is strict, because queue messages are input like any other.

use crate::catalog::{self, Stream};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The job format this build writes and reads.
pub const VERSION: u32 = 1;
/// Largest encoded job accepted.
pub const MAX_JOB_BYTES: usize = 4096;
/// Longest cursor or page token accepted.
pub const MAX_CURSOR_LEN: usize = 2048;
/// More pages than this in one chain means something is looping.
pub const MAX_PAGE: u32 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Format version, [`VERSION`].
    pub v: u32,
    /// The sync this page belongs to (see [`sync_id`]).
    pub sync: String,
    pub stream: String,
    /// Ids filling the stream's path, e.g. `{"list_id": 3001}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parents: BTreeMap<String, i64>,
    /// v2 cursor or v1 page token of this page; `None` for a chain's first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page number in the chain, from 0. Part of the batch's object key.
    pub page: u32,
    /// Records the chain wrote before this page (for the chain's completion manifest).
    #[serde(default)]
    pub records: u64,
    /// Set in an incremental sync: fetch only what changed since then (see
    /// `catalog::Incremental`). Children inherit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
    /// What the chain's requests cost so far (see [`Tally`]); not written while zero.
    #[serde(default, skip_serializing_if = "Tally::is_zero")]
    pub tally: Tally,
}

/// The requests a chain made before this page's answer was used: every request of its
/// earlier pages, and this page's own failed tries (the drivers add those before handing the
/// job to `step::handle`, which adds the request that succeeded). Carried from page to page
/// in the job, so each chain's manifest, and `sync.json`, say what a sync spent on every home
/// without a counter kept anywhere else. The manifests and `status` embed the same three
/// fields (`#[serde(flatten)]`, which is why unknown fields are not refused here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Requests sent to Affinity.
    #[serde(default)]
    pub requests: u64,
    /// Of those, the ones that repeated a request that had failed (any cause).
    #[serde(default)]
    pub retries: u64,
    /// Of those, the ones Affinity answered 429 (rate limited).
    #[serde(default)]
    pub throttled: u64,
}

impl Tally {
    pub fn is_zero(&self) -> bool {
        *self == Tally::default()
    }

    /// `self` plus `other`.
    pub fn plus(self, other: Tally) -> Tally {
        Tally {
            requests: self.requests + other.requests,
            retries: self.retries + other.retries,
            throttled: self.throttled + other.throttled,
        }
    }

    /// One request that failed and will be tried again (`throttled`: it was a 429).
    pub fn failed_try(throttled: bool) -> Tally {
        Tally {
            requests: 1,
            retries: 1,
            throttled: throttled as u64,
        }
    }
}

/// The time an incremental chain starts from, and which change time a filtered stream's
/// chain reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// Unix seconds.
    pub at: i64,
    /// For a `Filter` stream's root chains: created since, or updated since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Changed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Changed {
    Created,
    Updated,
}

impl Changed {
    pub fn name(self) -> &'static str {
        match self {
            Changed::Created => "created",
            Changed::Updated => "updated",
        }
    }
}

/// Earliest and latest `since` accepted (2000 to 2200, like event times).
const SINCE_RANGE: std::ops::RangeInclusive<i64> = 946_684_800..=7_258_118_400;

/// Why a job was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("job is {0} bytes; the limit is {MAX_JOB_BYTES}")]
    TooLarge(usize),
    #[error("job is not valid JSON of the job format: {0}")]
    Malformed(String),
    #[error("job version {0} is not supported (this build reads version {VERSION})")]
    UnknownVersion(u32),
    #[error("job names unknown stream {0:?}")]
    UnknownStream(String),
    #[error("job sync id {0:?} is invalid: 1 to 64 characters of A-Z a-z 0-9 - _")]
    BadSyncId(String),
    #[error("job for stream {stream} must carry parent ids {expected:?}, has {got:?}")]
    BadParents {
        stream: String,
        expected: Vec<String>,
        got: Vec<String>,
    },
    #[error("job parent id {0} must be a non-negative integer")]
    BadParentId(String),
    #[error(
        "job cursor is invalid: at most {MAX_CURSOR_LEN} characters of base64 / URL-safe base64"
    )]
    BadCursor,
    #[error("job page {0} is out of range (at most {MAX_PAGE})")]
    BadPage(u32),
    #[error("a first page (page 0) has no cursor, and a later page must have one")]
    CursorPageMismatch,
    #[error("job `since` is invalid for stream {stream}: {reason}")]
    BadSince {
        stream: String,
        reason: &'static str,
    },
    #[error(
        "job is not signed, and a job signing secret is configured: it was not made by this deployment"
    )]
    Unsigned,
    #[error(
        "job signature does not match: the job was forged or altered, or signed with another secret"
    )]
    BadSignature,
}

/// The secret that signs jobs (HMAC-SHA256), so a queue message that this deployment did not
/// write (forged, or altered on the way) is refused before anything is fetched. Prints as
/// `***`.
#[derive(Clone)]
pub struct JobSecret(Vec<u8>);

impl JobSecret {
    /// At least 16 bytes: a short secret is guessable.
    pub fn new(secret: &[u8]) -> Option<JobSecret> {
        (secret.len() >= 16).then(|| JobSecret(secret.to_vec()))
    }

    fn mac(&self, message: &[u8]) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(message);
        mac
    }
}

impl JobSecret {
    /// The hex HMAC of `message` (for other queue messages than jobs: webhook refreshes).
    pub(crate) fn tag(&self, message: &[u8]) -> String {
        use hmac::Mac;
        hex(&self.mac(message).finalize().into_bytes())
    }

    /// Whether `tag` (hex) is the HMAC of `message`, compared in constant time.
    pub(crate) fn verify(&self, message: &[u8], tag: &str) -> bool {
        use hmac::Mac;
        unhex(tag).is_some_and(|t| self.mac(message).verify_slice(&t).is_ok())
    }
}

impl std::fmt::Debug for JobSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobSecret(***)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Whether `s` can be a sync id.
pub fn valid_sync_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A sync id that sorts by start time: `20261124T065900Z-<suffix>`. The caller supplies the
/// clock and the randomness (the core does no I/O).
pub fn sync_id(unix_seconds: i64, suffix: &str) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    format!("{}-{suffix}", t.format(&fmt).expect("formattable"))
}

fn valid_cursor(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= MAX_CURSOR_LEN
        && c.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_' | b'.')
        })
}

impl Job {
    /// The first page of a stream's chain.
    pub fn first(sync: &str, stream: &str, parents: BTreeMap<String, i64>) -> Job {
        Job {
            v: VERSION,
            sync: sync.to_string(),
            stream: stream.to_string(),
            parents,
            cursor: None,
            page: 0,
            records: 0,
            since: None,
            tally: Tally::default(),
        }
    }

    /// The first pages of a root stream's chains: one, or for a stream filtered by change
    /// time in an incremental sync, one for records created since and one for records
    /// updated since. `since` (Unix seconds) is set when the stream, or a stream that fans
    /// out from it, runs incrementally.
    pub fn roots(sync: &str, stream: &Stream, since: Option<i64>) -> Vec<Job> {
        let first = Job::first(sync, stream.name, BTreeMap::new());
        match (since, stream.incremental) {
            (None, _) => vec![first],
            (Some(at), catalog::Incremental::Filter { .. }) => [Changed::Created, Changed::Updated]
                .into_iter()
                .map(|by| Job {
                    since: Some(Since { at, by: Some(by) }),
                    ..first.clone()
                })
                .collect(),
            (Some(at), _) => vec![Job {
                since: Some(Since { at, by: None }),
                ..first
            }],
        }
    }

    /// The job's stream in the catalog (decoded jobs always have one).
    pub fn stream(&self) -> Result<&'static Stream, JobError> {
        catalog::stream(&self.stream).ok_or_else(|| JobError::UnknownStream(self.stream.clone()))
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a job always serializes")
    }

    /// Encodes the job for a queue: signed with `secret` when there is one (a `"mac"` field
    /// over the plain encoding), plain otherwise.
    pub fn encode_for_queue(&self, secret: Option<&JobSecret>) -> String {
        let plain = self.encode();
        let Some(secret) = secret else { return plain };
        use hmac::Mac;
        let tag = hex(&secret.mac(plain.as_bytes()).finalize().into_bytes());
        format!("{},\"mac\":\"{tag}\"}}", &plain[..plain.len() - 1])
    }

    /// Decodes a queue message: with a secret, only a job signed with it is accepted (the
    /// signature is checked in constant time); without one, a plain job.
    pub fn decode_from_queue(bytes: &[u8], secret: Option<&JobSecret>) -> Result<Job, JobError> {
        if bytes.len() > MAX_JOB_BYTES {
            return Err(JobError::TooLarge(bytes.len()));
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| JobError::Malformed(e.to_string()))?;
        let mac = match value.as_object_mut() {
            Some(map) => map.remove("mac"),
            None => return Err(JobError::Malformed("a job is a JSON object".into())),
        };
        let plain = serde_json::to_vec(&value).map_err(|e| JobError::Malformed(e.to_string()))?;
        let job = Job::decode(&plain)?;
        match (secret, mac) {
            (None, _) => Ok(job),
            (Some(_), None) => Err(JobError::Unsigned),
            (Some(secret), Some(mac)) => {
                use hmac::Mac;
                let tag = mac.as_str().and_then(unhex).ok_or(JobError::BadSignature)?;
                // The signature covers the job's own encoding, not the bytes received.
                secret
                    .mac(job.encode().as_bytes())
                    .verify_slice(&tag)
                    .map_err(|_| JobError::BadSignature)?;
                Ok(job)
            }
        }
    }

    /// Decodes and validates a job from a queue message.
    pub fn decode(bytes: &[u8]) -> Result<Job, JobError> {
        if bytes.len() > MAX_JOB_BYTES {
            return Err(JobError::TooLarge(bytes.len()));
        }
        // Read the version first, so a future format gets a precise error.
        let version = serde_json::from_slice::<serde_json::Value>(bytes)
            .map_err(|e| JobError::Malformed(e.to_string()))?
            .get("v")
            .and_then(serde_json::Value::as_u64);
        match version {
            Some(v) if v == VERSION as u64 => {}
            Some(v) => return Err(JobError::UnknownVersion(v as u32)),
            None => return Err(JobError::Malformed("missing version field `v`".into())),
        }
        let job: Job =
            serde_json::from_slice(bytes).map_err(|e| JobError::Malformed(e.to_string()))?;
        job.validate()?;
        Ok(job)
    }

    /// Checks every field against the catalog and the format's limits.
    pub fn validate(&self) -> Result<(), JobError> {
        if self.v != VERSION {
            return Err(JobError::UnknownVersion(self.v));
        }
        if !valid_sync_id(&self.sync) {
            return Err(JobError::BadSyncId(self.sync.chars().take(80).collect()));
        }
        let stream = self.stream()?;
        let mut expected: Vec<String> =
            stream.parent_keys().into_iter().map(String::from).collect();
        expected.sort();
        let got: Vec<String> = self.parents.keys().cloned().collect();
        if got != expected {
            return Err(JobError::BadParents {
                stream: stream.name.into(),
                expected,
                got,
            });
        }
        if let Some((k, _)) = self.parents.iter().find(|(_, v)| **v < 0) {
            return Err(JobError::BadParentId(k.clone()));
        }
        if let Some(c) = &self.cursor
            && !valid_cursor(c)
        {
            return Err(JobError::BadCursor);
        }
        if self.page > MAX_PAGE {
            return Err(JobError::BadPage(self.page));
        }
        if (self.page == 0) != self.cursor.is_none() {
            return Err(JobError::CursorPageMismatch);
        }
        if let Some(since) = self.since {
            let bad = |reason| JobError::BadSince {
                stream: stream.name.into(),
                reason,
            };
            if !SINCE_RANGE.contains(&since.at) {
                return Err(bad("`at` must be Unix seconds between 2000 and 2200"));
            }
            let filtered = matches!(stream.incremental, catalog::Incremental::Filter { .. });
            if since.by.is_some() != filtered {
                return Err(bad(
                    "`by` (created or updated) is required by streams filtered on change time, and only by them",
                ));
            }
        }
        Ok(())
    }

    /// The job of the page after this one (the tally as this job has it: `step::handle`
    /// adds the request that fetched this page).
    pub fn next(&self, cursor: String, records_so_far: u64) -> Job {
        Job {
            cursor: Some(cursor),
            page: self.page + 1,
            records: records_so_far,
            ..self.clone()
        }
    }

    /// This job with `spent` added to its tally: a driver's failed tries of this page.
    pub fn with_spent(&self, spent: Tally) -> Job {
        Job {
            tally: self.tally.plus(spent),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: i64) -> Job {
        Job::first(
            "20261124T000000Z-ab12",
            "list_entries",
            BTreeMap::from([("list_id".to_string(), list)]),
        )
    }

    #[test]
    fn jobs_round_trip() {
        let j = entries(3001).next("YWZ0ZXI6OjozMDA".into(), 100);
        let text = j.encode();
        assert!(!text.contains("http"), "no URL in a job: {text}");
        assert_eq!(Job::decode(text.as_bytes()).unwrap(), j);
    }

    #[test]
    fn bad_jobs_are_refused_with_the_reason() {
        let ok = entries(3001).encode();
        let edit = |from: &str, to: &str| Job::decode(ok.replace(from, to).as_bytes());
        assert_eq!(edit("\"v\":1", "\"v\":2"), Err(JobError::UnknownVersion(2)));
        assert!(matches!(
            edit("list_entries", "secrets"),
            Err(JobError::UnknownStream(_))
        ));
        assert!(matches!(edit("ab12", "ab 12"), Err(JobError::BadSyncId(_))));
        assert!(matches!(
            edit("list_id", "view_id"),
            Err(JobError::BadParents { .. })
        ));
        assert!(matches!(edit("3001", "-1"), Err(JobError::BadParentId(_))));
        assert!(matches!(
            edit("3001", "\"3001\""),
            Err(JobError::Malformed(_))
        ));
        assert!(matches!(
            edit("\"page\":0", "\"page\":0,\"url\":\"http://evil\""),
            Err(JobError::Malformed(_))
        ));
        assert!(matches!(
            Job::decode(b"not json"),
            Err(JobError::Malformed(_))
        ));
        assert!(matches!(
            Job::decode(&vec![b' '; 5000]),
            Err(JobError::TooLarge(5000))
        ));
        let mut j = entries(1).next("ok".into(), 0);
        j.cursor = Some("../../etc?x=<script>".into());
        assert_eq!(Job::decode(j.encode().as_bytes()), Err(JobError::BadCursor));
        j.cursor = Some("a".repeat(MAX_CURSOR_LEN + 1));
        assert_eq!(j.validate(), Err(JobError::BadCursor));
        let mut first_with_cursor = entries(1);
        first_with_cursor.cursor = Some("abc".into());
        assert_eq!(
            first_with_cursor.validate(),
            Err(JobError::CursorPageMismatch)
        );
        let persons_with_parent = Job::first(
            "s1",
            "persons",
            BTreeMap::from([("list_id".to_string(), 1)]),
        );
        assert!(matches!(
            persons_with_parent.validate(),
            Err(JobError::BadParents { .. })
        ));
    }

    #[test]
    fn signed_jobs_verify_and_forged_or_altered_ones_do_not() {
        let secret = JobSecret::new(b"0123456789abcdef-secret").unwrap();
        let other = JobSecret::new(b"another-secret-of-16+").unwrap();
        let job = entries(3001).next("YWZ0ZXI6OjozMDA".into(), 100);
        let signed = job.encode_for_queue(Some(&secret));
        assert!(signed.contains("\"mac\":\""));
        assert!(
            !signed.contains("0123456789abcdef"),
            "the secret is not in the job"
        );
        assert_eq!(
            Job::decode_from_queue(signed.as_bytes(), Some(&secret)),
            Ok(job.clone())
        );
        // Without a secret configured, the signature is not needed but does no harm.
        assert_eq!(
            Job::decode_from_queue(signed.as_bytes(), None),
            Ok(job.clone())
        );
        assert_eq!(
            Job::decode_from_queue(job.encode().as_bytes(), Some(&secret)),
            Err(JobError::Unsigned)
        );
        assert_eq!(
            Job::decode_from_queue(signed.as_bytes(), Some(&other)),
            Err(JobError::BadSignature)
        );
        let tampered = signed.replace("3001", "3002");
        assert_eq!(
            Job::decode_from_queue(tampered.as_bytes(), Some(&secret)),
            Err(JobError::BadSignature)
        );
        let garbage_mac = format!(
            "{},\"mac\":\"zz\"}}",
            &job.encode()[..job.encode().len() - 1]
        );
        assert_eq!(
            Job::decode_from_queue(garbage_mac.as_bytes(), Some(&secret)),
            Err(JobError::BadSignature)
        );
        // A forged job is refused for what it is before its signature matters.
        assert!(matches!(
            Job::decode_from_queue(
                br#"{"v":1,"sync":"s","stream":"secrets","page":0,"mac":"00"}"#,
                Some(&secret)
            ),
            Err(JobError::UnknownStream(_))
        ));
        assert!(JobSecret::new(b"short").is_none());
        assert_eq!(format!("{secret:?}"), "JobSecret(***)");
    }

    #[test]
    fn sync_ids_sort_by_time() {
        let a = sync_id(1_780_000_000, "x1");
        let b = sync_id(1_780_000_060, "a0");
        assert!(a < b);
        assert!(valid_sync_id(&a));
        assert_eq!(a, "20260528T202640Z-x1");
    }
}
