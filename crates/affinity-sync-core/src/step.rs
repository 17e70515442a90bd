//! The page step: a protocol state machine with no I/O.
//!
//! [`request`] turns a job into the one HTTP request to make; the caller performs it and
//! hands status and body to [`handle`], which returns the batches to write (with their object
//! keys), the next job of the chain, the child jobs that fan out from this page, and, when
//! the chain ends, its completion manifest. The CLI, the Lambda function and the WebAssembly
//! component are drivers around these two functions; tests drive them directly.

use crate::batch::{self, Format};
use crate::catalog::{self, Api, Incremental, Paging, ParamFormat, Records, Stream};
use crate::job::{Changed, Job, JobError, Since};
use crate::layout::{self, ChainManifest};
use crate::record;
use serde_json::Value;
use std::collections::BTreeMap;
use url::Url;

/// What every step of a sync shares: where Affinity is, where objects go, in which format.
#[derive(Debug, Clone)]
pub struct Config {
    base: Url,
    prefix: String,
    pub format: Format,
    /// The streams the sync reads, when the driver says ([`Config::reading`]): child jobs of
    /// any other stream are not made. Working them out reads every record of the page again
    /// (a person's interaction windows from its relationship-intelligence fields were an
    /// eighth of a persons page's time), only for the driver to drop them.
    streams: Option<Vec<String>>,
}

/// How the driver must authenticate the request (it holds the key; the core never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// v1: HTTP Basic, empty user, the key as password.
    Basic,
    /// v2: `Authorization: Bearer <key>`.
    Bearer,
}

/// The one request a job needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub auth: Auth,
}

/// One object to write.
#[derive(Debug, Clone)]
pub struct Batch {
    pub key: String,
    /// The table, or `None` for a manifest.
    pub table: Option<&'static str>,
    pub rows: usize,
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// Everything one page produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One batch per table of the stream (empty pages too, so every table exists).
    pub batches: Vec<Batch>,
    /// The next page of this chain.
    pub next: Option<Job>,
    /// First pages of the chains that fan out from this page's records.
    pub children: Vec<Job>,
    /// The chain's completion manifest, when this was its last page. Write it after the batches.
    pub manifest: Option<Batch>,
    /// Records in this page.
    pub records: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("base URL {0:?} is not a URL like https://api.affinity.co")]
    BadBaseUrl(String),
    #[error("base URL must be http or https, got {0:?}")]
    BadScheme(String),
    #[error(
        "base URL must be just scheme, host and port (no user, path, query or fragment), got {0:?}"
    )]
    NotAnOrigin(String),
}

/// Why a step failed. [`StepError::retryable`] says whether trying the same job again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    #[error("Affinity rejected the API key (401 Unauthorized)")]
    Unauthorized,
    #[error("the API key may not read {0} (403 Forbidden)")]
    Forbidden(String),
    #[error("{0} does not exist (404 Not Found)")]
    NotFound(String),
    #[error("Affinity's rate limit was hit (429)")]
    RateLimited,
    #[error("Affinity answered {0} (server error)")]
    Server(u16),
    #[error("Affinity refused {path} ({status}): {message}")]
    Rejected {
        path: String,
        status: u16,
        message: String,
    },
    #[error(
        "Affinity answered {path} with a redirect ({status}); it is not followed, so the API key never goes to another address: check the base URL (https://api.affinity.co)"
    )]
    Redirected { path: String, status: u16 },
    #[error("unexpected status {0}")]
    Unexpected(u16),
    #[error("the response to {path} is not what the API documents: {reason}")]
    Malformed { path: String, reason: String },
    #[error(
        "refused to follow a next-page URL on another origin or path ({0}): only the configured Affinity base URL is trusted"
    )]
    OffOrigin(String),
    #[error(transparent)]
    Job(#[from] JobError),
}

impl StepError {
    /// Rate limits, server errors and broken bodies are worth retrying; the rest are not.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            StepError::RateLimited
                | StepError::Server(_)
                | StepError::Malformed { .. }
                | StepError::Unexpected(_)
        )
    }
}

impl Config {
    pub fn new(base_url: &str, prefix: &str, format: Format) -> Result<Config, ConfigError> {
        let base = Url::parse(base_url).map_err(|_| ConfigError::BadBaseUrl(base_url.into()))?;
        if base.scheme() != "http" && base.scheme() != "https" {
            return Err(ConfigError::BadScheme(base.scheme().into()));
        }
        if base.host().is_none()
            || !base.username().is_empty()
            || base.password().is_some()
            || (base.path() != "/" && !base.path().is_empty())
            || base.query().is_some()
            || base.fragment().is_some()
        {
            return Err(ConfigError::NotAnOrigin(base_url.into()));
        }
        Ok(Config {
            base,
            prefix: prefix.trim_matches('/').to_string(),
            format,
            streams: None,
        })
    }

    /// This config for a sync of just `streams`: [`handle`] makes child jobs of these streams
    /// only. Without it, children of every stream are made.
    pub fn reading<S: AsRef<str>>(mut self, streams: impl IntoIterator<Item = S>) -> Config {
        self.streams = Some(
            streams
                .into_iter()
                .map(|s| s.as_ref().to_string())
                .collect(),
        );
        self
    }

    /// Whether the sync reads `stream` (every stream, unless [`Config::reading`] said).
    pub fn reads(&self, stream: &str) -> bool {
        self.streams
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == stream))
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// The stream's path with the job's parent ids filled in.
fn path(stream: &Stream, job: &Job) -> String {
    let mut p = stream.path.to_string();
    for (k, v) in &job.parents {
        p = p.replace(&format!("{{{k}}}"), &v.to_string());
    }
    p
}

/// The request for `job`.
pub fn request(cfg: &Config, job: &Job) -> Result<Request, StepError> {
    job.validate()?;
    let stream = job.stream()?;
    let mut url = cfg
        .base
        .join(&path(stream, job))
        .expect("catalog paths are valid");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in stream.params {
            q.append_pair(k, v);
        }
        // An incremental chain of a stream filtered on change time: on every page, as the
        // cursor alone need not carry the filter.
        if let (Some(Since { at, by: Some(by) }), Incremental::Filter { created, updated }) =
            (job.since, stream.incremental)
        {
            let property = match by {
                Changed::Created => created,
                Changed::Updated => updated,
            };
            let when = crate::table::format_timestamp(at * 1_000_000);
            q.append_pair("filter", &format!("{property}>={when}"));
        }
        for (name, parent, format) in stream.query_parents {
            let v = job.parents[*parent];
            match format {
                ParamFormat::Int => q.append_pair(name, &v.to_string()),
                ParamFormat::UnixTime => {
                    q.append_pair(name, &crate::table::format_timestamp(v * 1_000_000))
                }
            };
        }
        match stream.paging {
            Paging::Cursor => {
                q.append_pair("limit", &stream.page_size.to_string());
                if let Some(c) = &job.cursor {
                    q.append_pair("cursor", c);
                }
            }
            Paging::Token => {
                q.append_pair("page_size", &stream.page_size.to_string());
                if let Some(c) = &job.cursor {
                    q.append_pair("page_token", c);
                }
            }
            Paging::None => {}
        }
    }
    let mut url = url.to_string();
    if url.ends_with('?') {
        url.pop();
    }
    let auth = match stream.api {
        Api::V1 => Auth::Basic,
        Api::V2 => Auth::Bearer,
    };
    Ok(Request { url, auth })
}

/// The first message of an Affinity error body, if any.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let msg = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/errors/0/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("error"))
        })
        .and_then(Value::as_str)
        .unwrap_or("no error message");
    msg.chars().take(300).collect()
}

/// The cursor of a v2 `nextUrl`, after checking it points back at the configured base URL
/// and the same path: a hostile response must not be able to send the key elsewhere.
fn cursor_of_next_url(cfg: &Config, expected_path: &str, next: &str) -> Result<String, StepError> {
    let off = || StepError::OffOrigin(next.chars().take(200).collect());
    let url = Url::parse(next).map_err(|_| off())?;
    if url.scheme() != cfg.base.scheme()
        || url.host_str() != cfg.base.host_str()
        || url.port_or_known_default() != cfg.base.port_or_known_default()
        || url.path() != expected_path
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(off());
    }
    url.query_pairs()
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| StepError::Malformed {
            path: expected_path.into(),
            reason: "nextUrl has no cursor".into(),
        })
}

/// Whether `status` is a page to read (200) or which error it is.
pub(crate) fn check_status(path: &str, status: u16, body: &[u8]) -> Result<(), StepError> {
    match status {
        200 => Ok(()),
        401 => Err(StepError::Unauthorized),
        403 => Err(StepError::Forbidden(path.into())),
        404 => Err(StepError::NotFound(path.into())),
        429 => Err(StepError::RateLimited),
        400 | 405 | 422 => Err(StepError::Rejected {
            path: path.into(),
            status,
            message: error_message(body),
        }),
        300..=399 => Err(StepError::Redirected {
            path: path.into(),
            status,
        }),
        500..=599 => Err(StepError::Server(status)),
        other => Err(StepError::Unexpected(other)),
    }
}

/// One batch per table of `tables` from `records`, read from a page of `page_bytes`; `key`
/// names each table's object. `row_id` goes into every row's `_sync_id` column, `parents`
/// fill parent-id columns. An error names the first value that does not fit its column.
pub(crate) fn table_batches(
    format: Format,
    tables: &'static [crate::table::Table],
    records: &[record::Value],
    page_bytes: usize,
    row_id: &str,
    parents: &BTreeMap<String, i64>,
    key: impl Fn(&crate::table::Table) -> String,
) -> Result<Vec<Batch>, String> {
    let mut batches = Vec::with_capacity(tables.len());
    for t in tables {
        let (rows, arrays) = t.arrays(records, page_bytes, row_id, |k| parents.get(k).copied())?;
        let encoded = batch::encode(t, arrays, format);
        batches.push(Batch {
            key: key(t),
            table: Some(t.name),
            rows,
            bytes: encoded,
            content_type: format.content_type(),
        });
    }
    Ok(batches)
}

/// Turns the response to `job`'s request into batches, the next job and child jobs.
pub fn handle(cfg: &Config, job: &Job, status: u16, body: &[u8]) -> Result<Outcome, StepError> {
    job.validate()?;
    let stream = job.stream()?;
    let path = path(stream, job);
    check_status(&path, status, body)?;
    let malformed = |reason: String| StepError::Malformed {
        path: path.clone(),
        reason,
    };
    // simd-json parses in place, so into a copy of the body (the driver may retry with it).
    let mut text = body.to_vec();
    let tape =
        record::parse(&mut text).map_err(|e| malformed(format!("the body is not JSON ({e})")))?;
    let page = record::root(&tape);
    let key = match stream.records_at {
        Records::Key(k) => Some(k),
        Records::Root => None,
        Records::KeyByParent(parent, keys) => {
            let v = job.parents[parent];
            Some(
                keys.iter()
                    .find(|(x, _)| *x == v)
                    .map(|(_, k)| *k)
                    .ok_or_else(|| malformed(format!("no record key for {parent}={v}")))?,
            )
        }
    };
    let all = match key {
        Some(key) => page
            .get(key)
            .and_then(|x| x.items())
            .ok_or_else(|| malformed(format!("no `{key}` array")))?,
        None => page
            .items()
            .ok_or_else(|| malformed("the body is not an array".into()))?,
    };
    if stream.paging != Paging::None && all.len() > stream.page_size as usize {
        return Err(malformed(format!(
            "{} records in a page of at most {}",
            all.len(),
            stream.page_size
        )));
    }
    // Records another chain owns are left to it (each record lands exactly once).
    let kept: Vec<record::Value> = match stream.keep {
        Some(keep) => all.filter(|r| keep(*r, &job.parents)).collect(),
        None => all.collect(),
    };
    let records: &[record::Value] = &kept;
    // The continuation: absent or null on the last page, else a string.
    let link = |v: Option<record::Value>, what: &str| match v {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => match v.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(malformed(format!("{what} is {}", record::text(v)))),
        },
    };
    let next_cursor = match stream.paging {
        Paging::Cursor => match link(page.at("/pagination/nextUrl"), "pagination.nextUrl")? {
            Some(next) => Some(cursor_of_next_url(cfg, &path, &next)?),
            None => None,
        },
        Paging::Token => link(page.get("next_page_token"), "next_page_token")?,
        Paging::None => None,
    };
    if next_cursor.is_some() && next_cursor == job.cursor {
        return Err(malformed(
            "the API returned the same page token again".into(),
        ));
    }

    let batches = table_batches(
        cfg.format,
        stream.tables,
        records,
        body.len(),
        &job.sync,
        &job.parents,
        |t| layout::batch_key(&cfg.prefix, t.name, stream, job, cfg.format),
    )
    .map_err(&malformed)?;

    let mut children = vec![];
    // Children inherit the time since; only a root chain filters by created or updated.
    let since = job.since.map(|s| Since { by: None, ..s });
    let first = |child: &Stream, parents: BTreeMap<String, i64>| -> Option<Job> {
        let mut j = Job::first(&job.sync, child.name, parents);
        j.since = since;
        if let (Some(s), Incremental::Window { start, end }) = (since, child.incremental) {
            // A window ending before the time since holds no change; one that straddles
            // it starts there.
            let from = j.parents.get(start).copied()?.max(s.at);
            if from >= j.parents.get(end).copied()? {
                return None;
            }
            j.parents.insert(start.to_string(), from);
        }
        Some(j)
    };
    for child in catalog::children_of(stream.name).filter(|c| cfg.reads(c.name)) {
        let link = child.parent.expect("children have a parent");
        for r in records {
            if link.when.is_some_and(|when| !when(*r)) {
                continue;
            }
            if let Some(expand) = link.expand {
                for extra in expand(*r) {
                    let mut parents: BTreeMap<String, i64> = job.parents.clone();
                    parents.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
                    children.extend(first(child, parents));
                }
                continue;
            }
            let mut parents: BTreeMap<String, i64> = job.parents.clone();
            for (name, pointer) in link.keys {
                let id = r
                    .at(pointer)
                    .and_then(|x| x.as_i64())
                    .filter(|id| *id > 0)
                    .ok_or_else(|| {
                        malformed(format!("a record has no positive integer at {pointer}"))
                    })?;
                parents.insert(name.to_string(), id);
            }
            children.extend(first(child, parents));
        }
    }

    let total = job.records + records.len() as u64;
    // The request that fetched this page joins the chain's tally.
    let tally = job.tally.plus(crate::job::Tally {
        requests: 1,
        ..Default::default()
    });
    let next = next_cursor.map(|c| Job {
        tally,
        ..job.next(c, total)
    });
    if let Some(n) = &next {
        n.validate().map_err(|_| {
            malformed("the next page token is not one the job format can carry".into())
        })?;
    }
    let manifest = next.is_none().then(|| {
        let m = ChainManifest {
            version: 1,
            sync_id: job.sync.clone(),
            stream: stream.name.into(),
            parents: job.parents.clone(),
            pages: job.page + 1,
            records: total,
            tally,
            format: cfg.format.name().into(),
            tables: stream.tables.iter().map(|t| t.name.to_string()).collect(),
        };
        Batch {
            key: layout::chain_manifest_key(&cfg.prefix, stream, job),
            table: None,
            rows: 0,
            bytes: serde_json::to_vec_pretty(&m).expect("manifest json"),
            content_type: "application/json",
        }
    });
    Ok(Outcome {
        batches,
        next,
        children,
        manifest,
        records: records.len(),
    })
}

/// The request for the next page of `job`'s chain, read from the end of `body` (the page
/// just fetched) without parsing the page, or `None` when it cannot be read that way.
///
/// A cursor chain can only be walked one page after another, so on one machine the longest
/// chain (persons, companies) sets the length of a sync. With this, a driver can start
/// fetching page n + 1 while [`handle`] turns page n into batches. It is only a hint: the
/// driver uses the page it fetched ahead for the job whose [`request`] has the same URL, which
/// is the same request it would have made then, and drops it otherwise. The continuation is
/// checked as [`handle`] checks it: a `nextUrl` off the configured base URL gives `None`, so
/// nothing is ever fetched from anywhere else.
pub fn read_ahead(cfg: &Config, job: &Job, body: &[u8]) -> Option<Request> {
    let stream = job.stream().ok()?;
    let key: &[u8] = match stream.paging {
        Paging::Cursor => b"\"nextUrl\"",
        Paging::Token => b"\"next_page_token\"",
        Paging::None => return None,
    };
    // The continuation usually follows the records, so the search starts from the end. Should
    // the last match be anything but the page's continuation (a record with a key of that
    // name), the page fetched ahead just goes unused.
    let at = memchr::memmem::rfind(body, key)? + key.len();
    let rest = body[at..].trim_ascii_start().strip_prefix(b":")?;
    // One JSON string (escapes and all, `https:\/\/...` included) or null; the rest of the
    // body is not read.
    let text: String =
        serde::Deserialize::deserialize(&mut serde_json::Deserializer::from_slice(rest)).ok()?;
    let cursor = match stream.paging {
        Paging::Cursor => cursor_of_next_url(cfg, &path(stream, job), &text).ok()?,
        _ => text,
    };
    if job.cursor.as_deref() == Some(cursor.as_str()) {
        return None;
    }
    // `request` validates the next job as every job is validated.
    request(cfg, &job.next(cursor, job.records)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> Config {
        Config::new("https://api.affinity.co", "out", Format::Ndjson).unwrap()
    }

    fn lists_job() -> Job {
        Job::first("s1", "lists", BTreeMap::new())
    }

    #[test]
    fn base_urls_must_be_plain_origins() {
        assert!(Config::new("https://api.affinity.co", "", Format::Parquet).is_ok());
        assert!(Config::new("http://127.0.0.1:18080/", "", Format::Parquet).is_ok());
        assert!(matches!(
            Config::new("ftp://x", "", Format::Parquet),
            Err(ConfigError::BadScheme(_))
        ));
        assert!(matches!(
            Config::new("https://u:p@api.affinity.co", "", Format::Parquet),
            Err(ConfigError::NotAnOrigin(_))
        ));
        assert!(matches!(
            Config::new("https://api.affinity.co/v2", "", Format::Parquet),
            Err(ConfigError::NotAnOrigin(_))
        ));
        assert!(matches!(
            Config::new("api.affinity.co", "", Format::Parquet),
            Err(ConfigError::BadBaseUrl(_))
        ));
    }

    #[test]
    fn requests_ask_for_the_largest_page_with_the_right_auth() {
        let r = request(&cfg(), &lists_job()).unwrap();
        assert_eq!(
            r,
            Request {
                url: "https://api.affinity.co/v2/lists?limit=100".into(),
                auth: Auth::Bearer
            }
        );
        let entries = Job::first(
            "s1",
            "list_entries",
            BTreeMap::from([("list_id".into(), 42)]),
        )
        .next("abc+/=".into(), 100);
        let r = request(&cfg(), &entries).unwrap();
        assert_eq!(
            r.url,
            "https://api.affinity.co/v2/lists/42/list-entries?fieldTypes=enriched&fieldTypes=global&fieldTypes=list&fieldTypes=relationship-intelligence&limit=100&cursor=abc%2B%2F%3D"
        );
        let v1 = request(
            &cfg(),
            &Job::first("s1", "reminders", BTreeMap::new()).next("eyJ+x=".into(), 0),
        )
        .unwrap();
        assert_eq!(
            v1,
            Request {
                url: "https://api.affinity.co/reminders?page_size=500&page_token=eyJ%2Bx%3D".into(),
                auth: Auth::Basic
            }
        );
        let single = request(
            &cfg(),
            &Job::first("s1", "webhook_subscriptions", BTreeMap::new()),
        )
        .unwrap();
        assert_eq!(single.url, "https://api.affinity.co/webhook");
    }

    fn lists_page(next: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "data": [
                { "id": 7, "name": "Deals", "type": "company", "isPublic": true, "ownerId": 1, "creatorId": 1 },
                { "id": 9, "name": "People", "type": "person", "isPublic": false, "ownerId": 1, "creatorId": 2 },
            ],
            "pagination": { "nextUrl": next, "prevUrl": null }
        }))
        .unwrap()
    }

    #[test]
    fn a_page_becomes_batches_the_next_job_and_children() {
        let body = lists_page(json!(
            "https://api.affinity.co/v2/lists?limit=100&cursor=YWZ0ZXI"
        ));
        let out = handle(&cfg(), &lists_job(), 200, &body).unwrap();
        assert_eq!(out.records, 2);
        assert_eq!(out.batches.len(), 1);
        assert_eq!(
            out.batches[0].key,
            "out/lists/sync_id=s1/part-000000.ndjson.gz"
        );
        let next = out.next.unwrap();
        assert_eq!(
            (next.cursor.as_deref(), next.page, next.records),
            (Some("YWZ0ZXI"), 1, 2)
        );
        assert!(out.manifest.is_none());
        // Each list fans out to its fields, entries and saved views.
        let mut kids: Vec<(String, i64)> = out
            .children
            .iter()
            .map(|j| (j.stream.clone(), j.parents["list_id"]))
            .collect();
        kids.sort();
        assert_eq!(kids.len(), 6);
        assert!(kids.contains(&("list_entries".into(), 9)));
    }

    #[test]
    fn children_are_made_only_for_the_streams_the_sync_reads() {
        let body = lists_page(Value::Null);
        let kids = |cfg: &Config| -> Vec<(String, i64)> {
            let out = handle(cfg, &lists_job(), 200, &body).unwrap();
            let mut kids: Vec<(String, i64)> = out
                .children
                .into_iter()
                .map(|j| (j.stream, j.parents["list_id"]))
                .collect();
            kids.sort();
            kids
        };
        let entries_only = cfg().reading(["lists", "list_entries"]);
        assert!(entries_only.reads("list_entries") && !entries_only.reads("saved_views"));
        assert_eq!(
            kids(&entries_only),
            [("list_entries".into(), 7), ("list_entries".into(), 9)]
        );
        assert!(kids(&cfg().reading(["lists"])).is_empty());
        assert_eq!(
            kids(&cfg()).len(),
            6,
            "every child stream when none is named"
        );
    }

    #[test]
    fn the_next_request_is_read_ahead_only_where_the_step_would_go() {
        let next_url = "https://api.affinity.co/v2/lists?limit=100&cursor=YWZ0ZXI";
        let body = lists_page(json!(next_url));
        let job = lists_job();
        // The request read ahead is the one the step's next job makes.
        let ahead = read_ahead(&cfg(), &job, &body).expect("a next page");
        let next = handle(&cfg(), &job, 200, &body).unwrap().next.unwrap();
        assert_eq!(ahead, request(&cfg(), &next).unwrap());
        // JSON escapes in the continuation are read as JSON reads them.
        let escaped = String::from_utf8(body.clone()).unwrap().replace('/', "\\/");
        assert_eq!(read_ahead(&cfg(), &job, escaped.as_bytes()), Some(ahead));
        // The last page, another host, another path, a body cut short: nothing.
        assert_eq!(read_ahead(&cfg(), &job, &lists_page(Value::Null)), None);
        for off in [
            "https://evil.example/v2/lists?cursor=YWZ0ZXI",
            "https://api.affinity.co/v2/persons?cursor=YWZ0ZXI",
            "http://api.affinity.co/v2/lists?cursor=YWZ0ZXI",
        ] {
            assert_eq!(
                read_ahead(&cfg(), &job, &lists_page(json!(off))),
                None,
                "{off}"
            );
        }
        assert_eq!(read_ahead(&cfg(), &job, &body[..body.len() - 60]), None);
        // A cursor that repeats the job's own is left for the step to refuse.
        let mut same = job.clone();
        same.cursor = Some("YWZ0ZXI".into());
        assert_eq!(read_ahead(&cfg(), &same, &body), None);
        // v1 token chains read `next_page_token`.
        let reminders = Job::first("s1", "reminders", BTreeMap::new());
        let v1 = serde_json::to_vec(&json!({"reminders": [], "next_page_token": "t2"})).unwrap();
        let url = read_ahead(&cfg(), &reminders, &v1).unwrap().url;
        assert!(url.ends_with("&page_token=t2"), "{url}");
    }

    #[test]
    fn incremental_chains_filter_by_change_time_and_cut_windows() {
        let since = crate::table::parse_timestamp("2022-01-01T00:00:00Z").unwrap() / 1_000_000;
        let notes = catalog::stream("notes").unwrap();
        let roots = Job::roots("s1", notes, Some(since));
        let urls: Vec<String> = roots
            .iter()
            .map(|j| request(&cfg(), j).unwrap().url)
            .collect();
        assert_eq!(urls.len(), 2);
        assert!(
            urls[0].contains("&filter=createdAt%3E%3D2022-01-01T00%3A00%3A00Z"),
            "{}",
            urls[0]
        );
        assert!(
            urls[1].contains("&filter=updatedAt%3E%3D2022-01-01T00%3A00%3A00Z"),
            "{}",
            urls[1]
        );
        // Later pages keep the filter.
        let second = request(&cfg(), &roots[1].next("Y3Vy".into(), 100))
            .unwrap()
            .url;
        assert!(second.contains("filter=updatedAt") && second.contains("cursor=Y3Vy"));
        // A full sync has one chain and no filter.
        let full = Job::roots("s1", notes, None);
        assert_eq!(full.len(), 1);
        assert!(!request(&cfg(), &full[0]).unwrap().url.contains("filter"));

        // A changed note's replies are read whole, inheriting the time since.
        let page = json!({"data": [{"id": 5, "repliesCount": 2, "content": {"html": "x"},
            "creator": {"id": 1}, "createdAt": "2022-02-01T00:00:00Z"}], "pagination": {"nextUrl": null}});
        let out = handle(&cfg(), &roots[0], 200, &serde_json::to_vec(&page).unwrap()).unwrap();
        assert_eq!(out.children.len(), 1);
        assert_eq!(
            out.children[0].since,
            Some(Since {
                at: since,
                by: None
            })
        );
        assert!(
            !request(&cfg(), &out.children[0])
                .unwrap()
                .url
                .contains("filter")
        );

        // Interactions: a person's year windows are cut to begin at the time since.
        let ri = |key: &str, when: &str| {
            json!({"id": key, "name": key, "type": "relationship-intelligence",
            "enrichmentSource": null, "value": {"type": "interaction",
            "data": {"type": "email", "id": 1, "sentAt": when}}})
        };
        let person = json!({"id": 42, "firstName": "A", "lastName": "B", "type": "external",
            "primaryEmailAddress": null, "emailAddresses": [], "fields": [
                ri("first-email", "2020-01-01T00:00:00Z"), ri("last-email", "2022-06-01T00:00:00Z")]});
        let page = serde_json::to_vec(&json!({"data": [person], "pagination": {"nextUrl": null}}))
            .unwrap();
        let persons = catalog::stream("persons").unwrap();
        let windows = |since: Option<i64>| -> Vec<(i64, i64)> {
            let job = &Job::roots("s1", persons, since)[0];
            handle(&cfg(), job, 200, &page)
                .unwrap()
                .children
                .iter()
                .filter(|c| c.stream == "interactions")
                .map(|c| (c.parents["start"], c.parents["end"]))
                .collect()
        };
        let all = windows(None);
        assert_eq!(all.len(), 3, "2020 to mid-2022: three year-windows");
        let cut = windows(Some(since));
        assert_eq!(cut.len(), 1, "only the window holding 2022: {cut:?}");
        assert_eq!(cut[0], (since, all[2].1));
        // A time since after the last interaction leaves no chain.
        assert!(windows(Some(since + 366 * 86_400)).is_empty());
    }

    #[test]
    fn incremental_jobs_are_checked() {
        let notes = catalog::stream("notes").unwrap();
        let mut job = Job::roots("s1", notes, Some(1_700_000_000)).remove(0);
        assert!(job.validate().is_ok());
        job.since = Some(Since {
            at: 1_700_000_000,
            by: None,
        });
        assert!(matches!(job.validate(), Err(JobError::BadSince { .. })));
        job.since = Some(Since {
            at: 5,
            by: Some(Changed::Created),
        });
        assert!(matches!(job.validate(), Err(JobError::BadSince { .. })));
        let mut persons = lists_job();
        persons.since = Some(Since {
            at: 1_700_000_000,
            by: Some(Changed::Updated),
        });
        assert!(matches!(persons.validate(), Err(JobError::BadSince { .. })));
        // `since` survives the queue.
        let j = Job::roots("s1", notes, Some(1_700_000_000)).remove(1);
        assert_eq!(Job::decode(j.encode().as_bytes()).unwrap(), j);
    }

    #[test]
    fn the_last_page_writes_the_chain_manifest() {
        let job = lists_job().next("YWZ0ZXI".into(), 100);
        let out = handle(&cfg(), &job, 200, &lists_page(Value::Null)).unwrap();
        assert!(out.next.is_none());
        let m: ChainManifest = serde_json::from_slice(&out.manifest.unwrap().bytes).unwrap();
        assert_eq!((m.pages, m.records), (2, 102));
    }

    #[test]
    fn next_urls_off_the_configured_origin_are_refused() {
        for evil in [
            "https://evil.example/v2/lists?cursor=abc",
            "http://api.affinity.co/v2/lists?cursor=abc",
            "https://api.affinity.co:8443/v2/lists?cursor=abc",
            "https://api.affinity.co/v2/persons?cursor=abc",
            "https://user:pw@api.affinity.co/v2/lists?cursor=abc",
            "not a url",
        ] {
            let err = handle(&cfg(), &lists_job(), 200, &lists_page(json!(evil))).unwrap_err();
            assert!(matches!(err, StepError::OffOrigin(_)), "{evil}: {err:?}");
            assert!(!err.retryable());
        }
    }

    #[test]
    fn statuses_and_broken_bodies_map_to_clear_errors() {
        let c = cfg();
        let j = lists_job();
        assert_eq!(
            handle(&c, &j, 401, b"{}").unwrap_err(),
            StepError::Unauthorized
        );
        assert!(!handle(&c, &j, 401, b"").unwrap_err().retryable());
        assert!(handle(&c, &j, 429, b"").unwrap_err().retryable());
        assert!(handle(&c, &j, 503, b"").unwrap_err().retryable());
        let moved = handle(&c, &j, 302, b"").unwrap_err();
        assert!(
            !moved.retryable() && moved.to_string().contains("redirect (302)"),
            "{moved}"
        );
        let rejected = handle(
            &c,
            &j,
            400,
            br#"{"errors":[{"code":"validation","message":"limit too big"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            rejected.to_string(),
            "Affinity refused /v2/lists (400): limit too big"
        );
        let truncated = handle(&c, &j, 200, br#"{"data": [{"id": 1"#).unwrap_err();
        assert!(truncated.retryable() && truncated.to_string().contains("not JSON"));
        let wrong_type =
            handle(&c, &j, 200, br#"{"data": [{"id": "x"}], "pagination": {}}"#).unwrap_err();
        assert!(wrong_type.to_string().contains("column id"), "{wrong_type}");
        let no_data = handle(&c, &j, 200, br#"{"pagination": {}}"#).unwrap_err();
        assert!(no_data.to_string().contains("no `data` array"));
        let same = lists_job().next("YWZ0ZXI".into(), 0);
        let looping = handle(
            &c,
            &same,
            200,
            &lists_page(json!("https://api.affinity.co/v2/lists?cursor=YWZ0ZXI")),
        )
        .unwrap_err();
        assert!(looping.to_string().contains("same page token"));
    }
}
