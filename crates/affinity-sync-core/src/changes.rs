//! Webhook events turned into warehouse changes, with no I/O.
//!
//! Affinity posts an event (`{"type": "person.updated", "body": {...}, "sent_at": 1636645209}`)
//! for every change. A scheduled sync cannot see deletes and is hours stale; events fill the
//! gap. Receiving one is three things, all decided here and performed by a driver:
//!
//! 1. [`receive`]: check the event and name it by its **change id**, `<sent_at>-<digest>` (the
//!    digest is over the event's canonical JSON, so Affinity delivering it again gives the
//!    same id, and the same object keys: a redelivery is never a duplicate). The event is
//!    recorded as it came ([`CHANGE_EVENTS`]); deletes become **tombstones** at once
//!    ([`TOMBSTONES`]); creates and updates become [`Refresh`] jobs.
//! 2. A [`Refresh`] fetches just the record that changed (`GET /v2/persons/{id}` with its
//!    field values, one list entry, ...) and writes it with the same tables and columns as
//!    the full sync ([`handle`] → upsert batches), or a tombstone when it is gone by then (404).
//!    A field value names only its field and owner id, so its refresh first reads the field
//!    (v1 `GET /fields`) to learn whether the owner is a person, a company, an opportunity or
//!    a list entry, then refreshes that owner (all of its values).
//! 3. Loaders apply upserts and tombstones on top of the latest complete sync, by record and
//!    event time (`sent_at`): the latest change of a record wins, and a delete wins a tie.
//!
//! A field's events refresh the field (its `fields` row and dropdown options, from v1
//! `GET /fields`) or tombstone it; loaders carry a rename into the v2 field metadata and
//! field value tables, and a delete removes the field's values. A new field's v2 metadata
//! row comes with the next full sync (v1 does not say its v2 type).

use crate::batch::{self, Format};
use crate::catalog::{self, Stream};
use crate::layout;
use crate::step::{self, Auth, Batch, Config, Request, StepError};
use crate::table::{self, Table, Ty, col, each_record};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Largest webhook body accepted (Affinity's events are a few kilobytes).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// How old an event may be when it arrives (the replay window). Affinity retries a delivery
/// with backoff for up to 10 hours, then disables the subscription, so every genuine
/// delivery is younger than this; an older one is a replay of a captured request.
pub const MAX_EVENT_AGE_SECS: i64 = 12 * 3600;
/// How far ahead of the receiver's clock an event's `sent_at` may be (clock skew).
pub const MAX_EVENT_AHEAD_SECS: i64 = 5 * 60;
/// The refresh message format this build writes and reads.
pub const REFRESH_VERSION: u32 = 1;
/// Largest encoded refresh message accepted.
pub const MAX_REFRESH_BYTES: usize = 1024;

/// Every event type Affinity's v1 webhook API documents (`POST /webhook/subscribe`).
pub const EVENT_TYPES: &[&str] = &[
    "list.created",
    "list.updated",
    "list.deleted",
    "list_entry.created",
    "list_entry.deleted",
    "note.created",
    "note.updated",
    "note.deleted",
    "field.created",
    "field.updated",
    "field.deleted",
    "field_value.created",
    "field_value.updated",
    "field_value.deleted",
    "person.created",
    "person.updated",
    "person.deleted",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organization.merged",
    "opportunity.created",
    "opportunity.updated",
    "opportunity.deleted",
    "file.created",
    "file.deleted",
    "reminder.created",
    "reminder.updated",
    "reminder.deleted",
];

/// Why an event was refused (the receiver answers 400 with this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is {0} bytes; the limit is {MAX_EVENT_BYTES}")]
    TooLarge(usize),
    #[error("the event is not JSON: {0}")]
    NotJson(String),
    #[error(
        "the event must be an object with `type` (e.g. \"person.updated\"), `body` (an object) and `sent_at` (Unix seconds): {0}"
    )]
    Shape(&'static str),
    #[error(
        "the event was sent {age} s ago (sent_at {sent_at}); deliveries older than {} h are refused as replays (Affinity retries for at most 10 h). If the receiver was down longer, run a full sync to catch up",
        MAX_EVENT_AGE_SECS / 3600
    )]
    Stale { sent_at: i64, age: i64 },
    #[error(
        "the event's sent_at {sent_at} is {ahead} s ahead of the receiver's clock (at most {MAX_EVENT_AHEAD_SECS} s is allowed): check the receiver's clock"
    )]
    Ahead { sent_at: i64, ahead: i64 },
    #[error("event {kind} has no positive integer at body{pointer}")]
    MissingId { kind: String, pointer: &'static str },
}

/// Why a refresh message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("refresh message is {0} bytes; the limit is {MAX_REFRESH_BYTES}")]
    TooLarge(usize),
    #[error("refresh message is not valid JSON of the refresh format: {0}")]
    Malformed(String),
    #[error("refresh message version {0} is not supported (this build reads {REFRESH_VERSION})")]
    UnknownVersion(u32),
    #[error("refresh message change id {0:?} is not one this build makes")]
    BadChange(String),
    #[error("refresh message ids must be positive integers")]
    BadId,
    #[error("refresh message is not signed, and a signing secret is configured")]
    Unsigned,
    #[error("refresh message signature does not match: forged, altered, or another secret")]
    BadSignature,
}

/// A record the change model can fetch again, or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    Person {
        id: i64,
    },
    Company {
        id: i64,
    },
    Opportunity {
        id: i64,
    },
    List {
        id: i64,
    },
    ListEntry {
        list_id: i64,
        id: i64,
    },
    Note {
        id: i64,
    },
    Reminder {
        id: i64,
    },
    File {
        id: i64,
    },
    /// A field (v1 id): its metadata and dropdown options.
    Field {
        id: i64,
    },
    /// The owner of a field value, known only once its field is found: v1 fields carry no
    /// entity type, so an entity-level field is looked for among the persons' fields, then
    /// the companies', then the opportunities' (`probe` 0, 1, 2; `GET /fields?entity_type=`).
    FieldValueOwner {
        field_id: i64,
        entity_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        list_entry_id: Option<i64>,
        #[serde(default, skip_serializing_if = "is_zero")]
        probe: u8,
    },
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// v1 `entity_type` codes in the order a field value's owner is looked for.
const PROBE_ENTITY_TYPES: [i64; 3] = [0, 1, 8];

impl Target {
    /// The entity name used in tombstones and object keys.
    pub fn entity(&self) -> &'static str {
        match self {
            Target::Person { .. } => "person",
            Target::Company { .. } => "company",
            Target::Opportunity { .. } => "opportunity",
            Target::List { .. } => "list",
            Target::ListEntry { .. } => "list_entry",
            Target::Note { .. } => "note",
            Target::Reminder { .. } => "reminder",
            Target::File { .. } => "file",
            Target::Field { .. } => "field",
            Target::FieldValueOwner { .. } => "field_value",
        }
    }

    /// The id in object keys: the record's (a field value's: its field's).
    pub fn id(&self) -> i64 {
        match *self {
            Target::Person { id }
            | Target::Company { id }
            | Target::Opportunity { id }
            | Target::List { id }
            | Target::ListEntry { id, .. }
            | Target::Note { id }
            | Target::Reminder { id }
            | Target::File { id }
            | Target::Field { id } => id,
            Target::FieldValueOwner { field_id, .. } => field_id,
        }
    }

    fn ids(&self) -> Vec<i64> {
        match *self {
            Target::ListEntry { list_id, id } => vec![list_id, id],
            Target::FieldValueOwner {
                field_id,
                entity_id,
                list_entry_id,
                ..
            } => [Some(field_id), Some(entity_id), list_entry_id]
                .into_iter()
                .flatten()
                .collect(),
            other => vec![other.id()],
        }
    }

    /// The full-sync stream whose tables this record's rows go to.
    pub fn stream(&self) -> Option<&'static Stream> {
        let name = match self {
            Target::Person { .. } => "persons",
            Target::Company { .. } => "companies",
            Target::Opportunity { .. } => "opportunities",
            Target::List { .. } => "lists",
            Target::ListEntry { .. } => "list_entries",
            Target::Note { .. } => "notes",
            Target::Reminder { .. } => "reminders",
            Target::File { .. } => "entity_files",
            Target::Field { .. } => "fields",
            Target::FieldValueOwner { .. } => return None,
        };
        Some(catalog::stream(name).expect("change targets name catalog streams"))
    }

    fn path(&self) -> String {
        match *self {
            Target::Person { id } => format!("/v2/persons/{id}"),
            Target::Company { id } => format!("/v2/companies/{id}"),
            Target::Opportunity { id } => format!("/v2/opportunities/{id}"),
            Target::List { id } => format!("/v2/lists/{id}"),
            Target::ListEntry { list_id, id } => format!("/v2/lists/{list_id}/list-entries/{id}"),
            Target::Note { id } => format!("/v2/notes/{id}"),
            Target::Reminder { id } => format!("/reminders/{id}"),
            Target::File { id } => format!("/entity-files/{id}"),
            // v1 has no single-field read; the list of all fields is one small request.
            Target::Field { .. } => "/fields".into(),
            Target::FieldValueOwner {
                list_entry_id: Some(_),
                ..
            } => "/fields".into(),
            Target::FieldValueOwner { probe, .. } => format!(
                "/fields?entity_type={}",
                PROBE_ENTITY_TYPES[usize::from(probe).min(2)]
            ),
        }
    }
}

/// The queue message of a targeted refresh. Like a job it holds no key and no URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    pub v: u32,
    /// The change id of the event that asked for it.
    pub change: String,
    /// The event's `sent_at` (Unix seconds): when the change happened.
    pub sent_at: i64,
    pub target: Target,
}

impl Refresh {
    /// Where this refresh waits (pending) or is parked (failed).
    pub fn key(&self, prefix: &str, state: crate::layout::JobState) -> String {
        layout::refresh_key(
            prefix,
            state,
            &self.change,
            self.target.entity(),
            self.target.id(),
        )
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("refresh serializes")
    }

    /// The queue message: `{"refresh": ..., "mac": ...}`, signed like jobs when a secret is
    /// configured (`Job::encode_for_queue`), so a forged message cannot make the
    /// deployment fetch and write.
    pub fn encode_for_queue(&self, secret: Option<&crate::job::JobSecret>) -> String {
        let plain = self.encode();
        match secret {
            Some(s) => format!(
                "{{\"refresh\":{plain},\"mac\":\"{}\"}}",
                s.tag(plain.as_bytes())
            ),
            None => format!("{{\"refresh\":{plain}}}"),
        }
    }

    /// Whether a queue message is a refresh (rather than a job).
    pub fn is_queue_message(body: &str) -> bool {
        body.trim_start().starts_with("{\"refresh\"")
    }

    /// Decodes a queue message made by [`Refresh::encode_for_queue`].
    pub fn decode_from_queue(
        body: &str,
        secret: Option<&crate::job::JobSecret>,
    ) -> Result<Refresh, RefreshError> {
        if body.len() > MAX_REFRESH_BYTES + 100 {
            return Err(RefreshError::TooLarge(body.len()));
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Message {
            refresh: Value,
            mac: Option<String>,
        }
        let m: Message =
            serde_json::from_str(body).map_err(|e| RefreshError::Malformed(e.to_string()))?;
        let plain = m.refresh.to_string();
        let r = Refresh::decode(&plain)?;
        match (secret, m.mac) {
            (None, _) => Ok(r),
            (Some(_), None) => Err(RefreshError::Unsigned),
            (Some(s), Some(mac)) => {
                // The signature covers the refresh's own encoding, not the bytes received.
                if s.verify(r.encode().as_bytes(), &mac) {
                    Ok(r)
                } else {
                    Err(RefreshError::BadSignature)
                }
            }
        }
    }

    /// Strict decoding: queue messages are input like any other.
    pub fn decode(text: &str) -> Result<Refresh, RefreshError> {
        if text.len() > MAX_REFRESH_BYTES {
            return Err(RefreshError::TooLarge(text.len()));
        }
        let r: Refresh =
            serde_json::from_str(text).map_err(|e| RefreshError::Malformed(e.to_string()))?;
        if r.v != REFRESH_VERSION {
            return Err(RefreshError::UnknownVersion(r.v));
        }
        if !valid_change_id(&r.change) {
            return Err(RefreshError::BadChange(r.change.chars().take(80).collect()));
        }
        if r.target.ids().iter().any(|id| *id <= 0) || r.sent_at <= 0 {
            return Err(RefreshError::BadId);
        }
        if matches!(r.target, Target::FieldValueOwner { probe, .. } if usize::from(probe) >= PROBE_ENTITY_TYPES.len())
        {
            return Err(RefreshError::BadId);
        }
        Ok(r)
    }
}

/// Whether `s` has the shape of a change id: `<sent_at>-<16 hex digits>`.
pub fn valid_change_id(s: &str) -> bool {
    match s.split_once('-') {
        Some((t, d)) => {
            (1..=12).contains(&t.len())
                && t.bytes().all(|b| b.is_ascii_digit())
                && d.len() == 16
                && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }
        None => false,
    }
}

/// A checked event and what it asks for.
#[derive(Debug, Clone)]
pub struct Received {
    /// `<sent_at>-<digest>`: the same for every delivery of the same event.
    pub change: String,
    /// `person.updated`.
    pub kind: String,
    pub sent_at: i64,
    /// The change record, to write first.
    pub record: Batch,
    /// Tombstones of deleted records, to write with it.
    pub tombstones: Vec<Batch>,
    /// Records to fetch again, to queue.
    pub refreshes: Vec<Refresh>,
}

/// Columns of the change record: every event as it came.
pub const CHANGE_EVENTS: Table = Table {
    name: "change_events",
    doc: "Every webhook event received, once per change id (redeliveries overwrite it).",
    rows: each_record,
    primary_key: &["change_id"],
    columns: &[
        col(
            "change_id",
            Ty::Utf8,
            "/change_id",
            "`<sent_at>-<digest of the event>`.",
        ),
        col("type", Ty::Utf8, "/type", "`person.updated`, ..."),
        col(
            "object",
            Ty::Utf8,
            "/object",
            "`person`, `organization`, ...",
        ),
        col(
            "action",
            Ty::Utf8,
            "/action",
            "`created`, `updated`, `deleted`, `merged`.",
        ),
        col(
            "entity_id",
            Ty::Int64,
            "/body/id",
            "The id in the event body, if any.",
        ),
        col(
            "sent_at",
            Ty::Timestamp,
            "/sent_at",
            "When Affinity sent it.",
        ),
        col(
            "received_at",
            Ty::Timestamp,
            "/received_at",
            "When the receiver took it.",
        ),
        col(
            "body",
            Ty::Json,
            "/body",
            "The event body as Affinity sent it.",
        ),
    ],
};

/// Columns of a tombstone: one record that no longer exists.
pub const TOMBSTONES: Table = Table {
    name: "tombstones",
    doc: "Records deleted (or merged away) after a sync: delete them by entity and id.",
    rows: each_record,
    primary_key: &["change_id", "entity", "id"],
    columns: &[
        col(
            "change_id",
            Ty::Utf8,
            "/change_id",
            "The event that said so.",
        ),
        col(
            "entity",
            Ty::Utf8,
            "/entity",
            "`person`, `company`, `opportunity`, `list`, `list_entry`, `note`, `reminder`, `file` or `field`.",
        ),
        col("id", Ty::Int64, "/id", "The deleted record's id."),
        col(
            "list_id",
            Ty::Int64,
            "/list_id",
            "The list of a deleted list entry, when known.",
        ),
        col(
            "sent_at",
            Ty::Timestamp,
            "/sent_at",
            "When the delete happened.",
        ),
    ],
};

/// JSON with object keys sorted at every level: the same event, however its keys are
/// ordered or spaced, digests the same.
pub fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn change_id(event: &Value, sent_at: i64) -> String {
    use sha2::Digest;
    let mut text = String::new();
    canonical(event, &mut text);
    let digest = sha2::Sha256::digest(text.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{sent_at}-{hex}")
}

fn one_row_batch(table: &'static Table, row: &Value, key: String) -> Result<Batch, String> {
    let mut text = serde_json::to_vec(row).expect("a JSON value writes");
    let tape = crate::record::parse(&mut text)?;
    let mut columns = table::Columns::new(table.columns, 1, 0);
    columns.push_row(&table::Row::of(crate::record::root(&tape)), "", |_| None)?;
    Ok(Batch {
        key,
        table: Some(table.name),
        rows: 1,
        bytes: batch::encode(table, columns.finish(), Format::Ndjson),
        content_type: Format::Ndjson.content_type(),
    })
}

fn rfc3339(unix_seconds: i64) -> String {
    table::format_timestamp(unix_seconds.saturating_mul(1_000_000))
}

fn tombstone(prefix: &str, change: &str, sent_at: i64, target: &Target) -> Batch {
    let list_id = match target {
        Target::ListEntry { list_id, .. } => json!(list_id),
        _ => Value::Null,
    };
    let row = json!({
        "change_id": change,
        "entity": target.entity(),
        "id": target.id(),
        "list_id": list_id,
        "sent_at": rfc3339(sent_at),
    });
    one_row_batch(
        &TOMBSTONES,
        &row,
        layout::tombstone_key(prefix, change, target.entity(), target.id()),
    )
    .expect("tombstone rows fit their columns")
}

/// Checks one webhook delivery and decides what it asks for. `received_at` is the
/// receiver's clock (Unix seconds): an event older than [`MAX_EVENT_AGE_SECS`] or more than
/// [`MAX_EVENT_AHEAD_SECS`] in the future is refused. Within the window a replay has the
/// change id of the original, so it rewrites the same objects and changes nothing.
pub fn receive(cfg: &Config, raw: &[u8], received_at: i64) -> Result<Received, EventError> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge(raw.len()));
    }
    let event: Value = serde_json::from_slice(raw)
        .map_err(|e| EventError::NotJson(e.to_string().chars().take(200).collect()))?;
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| (1..=64).contains(&t.len()))
        .ok_or(EventError::Shape("`type` is missing or not a short string"))?
        .to_string();
    let body = event
        .get("body")
        .filter(|b| b.is_object())
        .ok_or(EventError::Shape("`body` is missing or not an object"))?;
    let sent_at = event
        .get("sent_at")
        .and_then(Value::as_i64)
        .filter(|t| (946_684_800..=7_258_118_400).contains(t))
        .ok_or(EventError::Shape(
            "`sent_at` is missing or not Unix seconds between 2000 and 2200",
        ))?;
    let age = received_at - sent_at;
    if age > MAX_EVENT_AGE_SECS {
        return Err(EventError::Stale { sent_at, age });
    }
    if -age > MAX_EVENT_AHEAD_SECS {
        return Err(EventError::Ahead {
            sent_at,
            ahead: -age,
        });
    }
    let change = change_id(&event, sent_at);
    let (object, action) = kind.split_once('.').unwrap_or((kind.as_str(), ""));
    let id_at = |pointer: &'static str| -> Result<i64, EventError> {
        body.pointer(pointer)
            .and_then(Value::as_i64)
            .filter(|id| *id > 0)
            .ok_or_else(|| EventError::MissingId {
                kind: kind.clone(),
                pointer,
            })
    };
    let mut deleted: Vec<Target> = vec![];
    let mut fetch: Vec<Target> = vec![];
    let entity = |id: i64| -> Option<Target> {
        match object {
            "person" => Some(Target::Person { id }),
            "organization" => Some(Target::Company { id }),
            "opportunity" => Some(Target::Opportunity { id }),
            "list" => Some(Target::List { id }),
            "note" => Some(Target::Note { id }),
            "reminder" => Some(Target::Reminder { id }),
            "file" => Some(Target::File { id }),
            "field" => Some(Target::Field { id }),
            _ => None,
        }
    };
    match (object, action) {
        ("organization", "merged") => {
            deleted.push(Target::Company {
                id: id_at("/removed_company/id")?,
            });
            fetch.push(Target::Company {
                id: id_at("/company/id")?,
            });
        }
        (
            "person" | "organization" | "opportunity" | "list" | "note" | "reminder" | "file"
            | "field",
            "deleted",
        ) => {
            deleted.extend(entity(id_at("/id")?));
        }
        (
            "person" | "organization" | "opportunity" | "list" | "note" | "reminder" | "file"
            | "field",
            _,
        ) => {
            fetch.extend(entity(id_at("/id")?));
        }
        ("list_entry", action) => {
            let target = Target::ListEntry {
                list_id: id_at("/list_id")?,
                id: id_at("/id")?,
            };
            if action == "deleted" {
                deleted.push(target);
            } else {
                fetch.push(target);
            }
        }
        ("field_value", _) => fetch.push(Target::FieldValueOwner {
            field_id: id_at("/field_id")?,
            entity_id: id_at("/entity_id")?,
            list_entry_id: body
                .get("list_entry_id")
                .and_then(Value::as_i64)
                .filter(|id| *id > 0),
            probe: 0,
        }),
        // Types this build does not know: recorded only.
        _ => {}
    }
    let row = json!({
        "change_id": change,
        "type": kind,
        "object": object,
        "action": action,
        "body": body,
        "sent_at": rfc3339(sent_at),
        "received_at": rfc3339(received_at),
    });
    // An id that is not an integer must not refuse the whole event: it is kept in `body`.
    let record = one_row_batch(
        &CHANGE_EVENTS,
        &row,
        layout::change_event_key(cfg.prefix(), &change),
    )
    .or_else(|_| {
        let mut row = row.clone();
        row["body"] = json!({ "raw": body });
        one_row_batch(
            &CHANGE_EVENTS,
            &row,
            layout::change_event_key(cfg.prefix(), &change),
        )
    })
    .map_err(|_| EventError::Shape("the event does not fit the change record"))?;
    Ok(Received {
        tombstones: deleted
            .iter()
            .map(|t| tombstone(cfg.prefix(), &change, sent_at, t))
            .collect(),
        refreshes: fetch
            .into_iter()
            .map(|target| Refresh {
                v: REFRESH_VERSION,
                change: change.clone(),
                sent_at,
                target,
            })
            .collect(),
        change,
        kind,
        sent_at,
        record,
    })
}

/// The one request a refresh needs.
pub fn request(cfg: &Config, refresh: &Refresh) -> Request {
    let target = &refresh.target;
    let mut url = format!("{}{}", cfg.base_url(), target.path());
    if let Some(stream) = target.stream() {
        let query: Vec<String> = stream
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
    }
    let auth = match target {
        Target::FieldValueOwner { .. }
        | Target::Reminder { .. }
        | Target::File { .. }
        | Target::Field { .. } => Auth::Basic,
        _ => Auth::Bearer,
    };
    Request { url, auth }
}

/// What a refresh produced.
#[derive(Debug, Clone)]
pub enum Refreshed {
    /// The record as it is now: one batch per table of its stream.
    Upsert(Vec<Batch>),
    /// The record no longer exists (404): its tombstone.
    Gone(Batch),
    /// A field value's owner, to refresh next; `None` when its field is gone.
    Then(Option<Refresh>),
}

/// Turns the answer to a refresh's request into upserts, a tombstone or the next refresh.
pub fn handle(
    cfg: &Config,
    refresh: &Refresh,
    status: u16,
    body: &[u8],
) -> Result<Refreshed, StepError> {
    let target = &refresh.target;
    let path = target.path();
    // A 404 names the one record asked for; `/fields` lists them all, so a field is gone
    // when the list lacks it (below).
    if status == 404 && target.stream().is_some() && !matches!(target, Target::Field { .. }) {
        return Ok(Refreshed::Gone(tombstone(
            cfg.prefix(),
            &refresh.change,
            refresh.sent_at,
            target,
        )));
    }
    step::check_status(&path, status, body)?;
    let malformed = |reason: String| StepError::Malformed {
        path: path.clone(),
        reason,
    };
    let record: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("the body is not JSON ({e})")))?;
    if let Target::FieldValueOwner {
        field_id,
        entity_id,
        list_entry_id,
        probe,
    } = *target
    {
        let fields = record
            .as_array()
            .ok_or_else(|| malformed("the body is not an array of fields".into()))?;
        let field = fields
            .iter()
            .find(|f| f.get("id").and_then(Value::as_i64) == Some(field_id));
        let next = |target: Target| {
            Some(Refresh {
                target,
                ..refresh.clone()
            })
        };
        let owner = match (field, list_entry_id) {
            // A list-specific value: its field names the list.
            (Some(f), Some(id)) => f
                .get("list_id")
                .and_then(Value::as_i64)
                .and_then(|list_id| next(Target::ListEntry { list_id, id })),
            (None, Some(_)) => None,
            (Some(_), None) => next(match PROBE_ENTITY_TYPES[usize::from(probe)] {
                0 => Target::Person { id: entity_id },
                1 => Target::Company { id: entity_id },
                _ => Target::Opportunity { id: entity_id },
            }),
            // Not a field of this kind of entity: look among the next kind's.
            (None, None) if usize::from(probe) + 1 < PROBE_ENTITY_TYPES.len() => {
                next(Target::FieldValueOwner {
                    field_id,
                    entity_id,
                    list_entry_id,
                    probe: probe + 1,
                })
            }
            (None, None) => None,
        };
        return Ok(Refreshed::Then(owner));
    }
    let stream = target.stream().expect("every other target has a stream");
    let record = match target {
        Target::Field { id } => {
            let fields = record
                .as_array()
                .ok_or_else(|| malformed("the body is not an array of fields".into()))?;
            match fields
                .iter()
                .find(|f| f.get("id").and_then(Value::as_i64) == Some(*id))
            {
                Some(field) => field.clone(),
                None => {
                    return Ok(Refreshed::Gone(tombstone(
                        cfg.prefix(),
                        &refresh.change,
                        refresh.sent_at,
                        target,
                    )));
                }
            }
        }
        _ => record,
    };
    if record.get("id").and_then(Value::as_i64) != Some(target.id()) {
        return Err(malformed(format!("the record's id is not {}", target.id())));
    }
    let mut parents = BTreeMap::new();
    if let Target::ListEntry { list_id, .. } = *target {
        parents.insert("list_id".to_string(), list_id);
    }
    // The record read as a page is read (the tables' row functions take values on a tape).
    let mut text = serde_json::to_vec(&record).expect("a JSON value writes");
    let page_bytes = text.len();
    let tape = crate::record::parse(&mut text).map_err(&malformed)?;
    let batches = step::table_batches(
        cfg.format,
        stream.tables,
        &[crate::record::root(&tape)],
        page_bytes,
        &refresh.change,
        &parents,
        |t| {
            layout::upsert_key(
                cfg.prefix(),
                t.name,
                &refresh.change,
                target.entity(),
                target.id(),
                cfg.format,
            )
        },
    )
    .map_err(&malformed)?;
    Ok(Refreshed::Upsert(batches))
}

/// The columns of the change tables, for the schema docs.
pub fn tables() -> [&'static Table; 2] {
    [&CHANGE_EVENTS, &TOMBSTONES]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The receiver's clock in these tests: a minute after the events' `sent_at`.
    const NOW: i64 = 1_700_000_060;

    fn cfg() -> Config {
        Config::new("https://api.affinity.co", "out", Format::Parquet).unwrap()
    }

    fn event(kind: &str, body: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"type": kind, "body": body, "sent_at": 1_700_000_000})).unwrap()
    }

    #[test]
    fn the_same_event_gets_the_same_change_id_whatever_its_formatting() {
        let a =
            br#"{"type":"person.updated","body":{"id":5,"first_name":"A"},"sent_at":1700000000}"#;
        let b = br#"{ "sent_at": 1700000000, "body": {"first_name": "A", "id": 5}, "type": "person.updated" }"#;
        let ra = receive(&cfg(), a, NOW).unwrap();
        let rb = receive(&cfg(), b, NOW).unwrap();
        assert_eq!(ra.change, rb.change);
        assert_eq!(ra.record.key, rb.record.key);
        assert!(valid_change_id(&ra.change), "{}", ra.change);
        let c = receive(&cfg(), &event("person.updated", json!({"id": 6})), NOW).unwrap();
        assert_ne!(c.change, ra.change);
    }

    #[test]
    fn events_become_refreshes_and_tombstones() {
        let r = receive(&cfg(), &event("person.created", json!({"id": 7})), NOW).unwrap();
        assert_eq!(r.refreshes[0].target, Target::Person { id: 7 });
        assert!(r.tombstones.is_empty());

        let r = receive(&cfg(), &event("opportunity.deleted", json!({"id": 9})), NOW).unwrap();
        assert!(r.refreshes.is_empty());
        assert_eq!(r.tombstones.len(), 1);
        assert!(r.tombstones[0].key.contains("tombstones/part-"));
        assert!(r.tombstones[0].key.ends_with("-opportunity-9.ndjson.gz"));

        let merged =
            json!({"removed_company": {"id": 3}, "company": {"id": 4}, "changer": {"id": 1}});
        let r = receive(&cfg(), &event("organization.merged", merged), NOW).unwrap();
        assert_eq!(r.refreshes[0].target, Target::Company { id: 4 });
        assert!(r.tombstones[0].key.ends_with("-company-3.ndjson.gz"));

        let r = receive(
            &cfg(),
            &event(
                "list_entry.created",
                json!({"id": 11, "list_id": 2, "entity_id": 5}),
            ),
            NOW,
        )
        .unwrap();
        assert_eq!(
            r.refreshes[0].target,
            Target::ListEntry { list_id: 2, id: 11 }
        );

        let r = receive(
            &cfg(),
            &event(
                "field_value.updated",
                json!({"id": 1, "field_id": 40, "entity_id": 5, "list_entry_id": null}),
            ),
            NOW,
        )
        .unwrap();
        assert_eq!(
            r.refreshes[0].target,
            Target::FieldValueOwner {
                field_id: 40,
                entity_id: 5,
                list_entry_id: None,
                probe: 0,
            }
        );

        // Reminders and files are v1 records, fetched with Basic auth.
        let r = receive(&cfg(), &event("reminder.created", json!({"id": 1})), NOW).unwrap();
        assert_eq!(r.refreshes[0].target, Target::Reminder { id: 1 });
        let req = request(&cfg(), &r.refreshes[0]);
        assert_eq!(
            (req.url.as_str(), req.auth),
            ("https://api.affinity.co/reminders/1", Auth::Basic)
        );
        let r = receive(&cfg(), &event("file.deleted", json!({"id": 2})), NOW).unwrap();
        assert!(r.tombstones[0].key.ends_with("-file-2.ndjson.gz"));

        // Fields are refreshed or tombstoned like records.
        let r = receive(&cfg(), &event("field.updated", json!({"id": 12})), NOW).unwrap();
        assert_eq!(r.refreshes[0].target, Target::Field { id: 12 });
        let r = receive(&cfg(), &event("field.deleted", json!({"id": 12})), NOW).unwrap();
        assert!(r.tombstones[0].key.ends_with("-field-12.ndjson.gz"));

        // Types this build does not know: recorded with their body as it came, nothing to apply.
        let body = json!({"id": 71, "filters": [{"field": 3, "op": "="}], "name": "Pipeline"});
        let r = receive(&cfg(), &event("view.updated", body.clone()), NOW).unwrap();
        assert!(r.refreshes.is_empty() && r.tombstones.is_empty());
        assert!(r.record.key.starts_with("out/changes/events/part-"));
        let rows = crate::batch_read::read(&CHANGE_EVENTS, Format::Ndjson, r.record.bytes).unwrap();
        let column = |name: &str| {
            let i = CHANGE_EVENTS
                .columns
                .iter()
                .position(|c| c.name == name)
                .unwrap();
            rows.cells[i][0].clone()
        };
        assert_eq!(column("type"), table::Cell::Str("view.updated".into()));
        let table::Cell::Json(kept) = column("body") else {
            panic!("body is not JSON: {:?}", column("body"))
        };
        assert_eq!(serde_json::from_str::<Value>(&kept).unwrap(), body);
        // One whose id is not a number is kept too, whole, under `raw`.
        let odd = json!({"id": "v-1", "name": "Pipeline"});
        let r = receive(&cfg(), &event("view.updated", odd.clone()), NOW).unwrap();
        let rows = crate::batch_read::read(&CHANGE_EVENTS, Format::Ndjson, r.record.bytes).unwrap();
        let i = CHANGE_EVENTS
            .columns
            .iter()
            .position(|c| c.name == "body")
            .unwrap();
        let table::Cell::Json(kept) = &rows.cells[i][0] else {
            panic!("body is not JSON: {:?}", rows.cells[i][0])
        };
        assert_eq!(
            serde_json::from_str::<Value>(kept).unwrap(),
            json!({"raw": odd})
        );
    }

    #[test]
    fn a_field_refresh_writes_its_row_and_options_or_a_tombstone() {
        let r = Refresh {
            v: REFRESH_VERSION,
            change: "1700000000-0123456789abcdef".into(),
            sent_at: 1_700_000_000,
            target: Target::Field { id: 12 },
        };
        let req = request(&cfg(), &r);
        assert_eq!(
            (req.url.as_str(), req.auth),
            ("https://api.affinity.co/fields", Auth::Basic)
        );
        let fields = json!([
            {"id": 11, "name": "Other", "list_id": null, "value_type": 6, "allows_multiple": false,
             "track_changes": false, "enrichment_source": "none", "dropdown_options": []},
            {"id": 12, "name": "Stage", "list_id": 3, "value_type": 7, "allows_multiple": false,
             "track_changes": true, "enrichment_source": "none",
             "dropdown_options": [{"id": 1, "text": "New", "rank": 0, "color": 2},
                                  {"id": 2, "text": "Won", "rank": 1, "color": 3}]}
        ]);
        let Refreshed::Upsert(batches) =
            handle(&cfg(), &r, 200, &serde_json::to_vec(&fields).unwrap()).unwrap()
        else {
            panic!("expected upserts")
        };
        let got: Vec<_> = batches.iter().map(|b| (b.table.unwrap(), b.rows)).collect();
        assert_eq!(got, [("fields", 1), ("dropdown_options", 2)]);
        assert_eq!(
            batches[0].key,
            "out/changes/fields/part-1700000000-0123456789abcdef-field-12.parquet"
        );
        // Not listed any more: the field is gone.
        let Refreshed::Gone(t) = handle(&cfg(), &r, 200, b"[]").unwrap() else {
            panic!("expected a tombstone")
        };
        assert!(t.key.ends_with("-field-12.ndjson.gz"));
        // A 404 from `/fields` is an error, not a delete.
        assert!(handle(&cfg(), &r, 404, b"{}").is_err());
    }

    #[test]
    fn bad_events_say_what_is_wrong() {
        assert!(matches!(
            receive(&cfg(), b"not json", NOW),
            Err(EventError::NotJson(_))
        ));
        assert!(matches!(
            receive(&cfg(), br#"{"type":"person.created","body":{"id":1}}"#, NOW),
            Err(EventError::Shape(_))
        ));
        assert!(matches!(
            receive(&cfg(), &event("person.created", json!({"id": "x"})), NOW),
            Err(EventError::MissingId { .. })
        ));
        // Replays from outside the window, and events from a clock far ahead.
        let sent = 1_700_000_000;
        let stale = receive(
            &cfg(),
            &event("person.updated", json!({"id": 1})),
            sent + 13 * 3600,
        );
        let Err(e @ EventError::Stale { age, .. }) = stale else {
            panic!("a 13 h old event was accepted: {stale:?}")
        };
        assert_eq!(age, 13 * 3600);
        assert!(e.to_string().contains("replays"), "{e}");
        assert!(
            receive(
                &cfg(),
                &event("person.updated", json!({"id": 1})),
                sent + 12 * 3600
            )
            .is_ok()
        );
        let ahead = receive(
            &cfg(),
            &event("person.updated", json!({"id": 1})),
            sent - 301,
        );
        assert!(
            matches!(ahead, Err(EventError::Ahead { ahead: 301, .. })),
            "{ahead:?}"
        );
        assert!(
            receive(
                &cfg(),
                &event("person.updated", json!({"id": 1})),
                sent - 300
            )
            .is_ok()
        );
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(matches!(
            receive(&cfg(), &big, NOW),
            Err(EventError::TooLarge(_))
        ));
    }

    #[test]
    fn refresh_messages_decode_strictly() {
        let r = Refresh {
            v: REFRESH_VERSION,
            change: "1700000000-0123456789abcdef".into(),
            sent_at: 1_700_000_000,
            target: Target::ListEntry { list_id: 2, id: 3 },
        };
        assert_eq!(Refresh::decode(&r.encode()).unwrap(), r);
        let bad = r.encode().replace("0123456789abcdef", "../../etc");
        assert!(matches!(
            Refresh::decode(&bad),
            Err(RefreshError::BadChange(_))
        ));
        let bad = r.encode().replace("\"id\":3", "\"id\":-3");
        assert_eq!(Refresh::decode(&bad), Err(RefreshError::BadId));
        let bad = r.encode().replace("\"v\":1", "\"v\":9");
        assert_eq!(Refresh::decode(&bad), Err(RefreshError::UnknownVersion(9)));

        let secret = crate::job::JobSecret::new(b"0123456789abcdef-secret").unwrap();
        let signed = r.encode_for_queue(Some(&secret));
        assert!(Refresh::is_queue_message(&signed));
        assert_eq!(
            Refresh::decode_from_queue(&signed, Some(&secret)).unwrap(),
            r
        );
        let unsigned = r.encode_for_queue(None);
        assert_eq!(Refresh::decode_from_queue(&unsigned, None).unwrap(), r);
        assert_eq!(
            Refresh::decode_from_queue(&unsigned, Some(&secret)),
            Err(RefreshError::Unsigned)
        );
        let forged = signed.replace("\"id\":3", "\"id\":4");
        assert_eq!(
            Refresh::decode_from_queue(&forged, Some(&secret)),
            Err(RefreshError::BadSignature)
        );
        let job = crate::Job::first("s1", "lists", BTreeMap::new());
        assert!(!Refresh::is_queue_message(
            &job.encode_for_queue(Some(&secret))
        ));
    }

    #[test]
    fn a_refresh_writes_the_full_sync_tables_or_a_tombstone() {
        let r = Refresh {
            v: REFRESH_VERSION,
            change: "1700000000-0123456789abcdef".into(),
            sent_at: 1_700_000_000,
            target: Target::Person { id: 7 },
        };
        let req = request(&cfg(), &r);
        assert!(
            req.url
                .starts_with("https://api.affinity.co/v2/persons/7?fieldTypes=")
        );
        assert_eq!(req.auth, Auth::Bearer);
        let body = json!({"id": 7, "firstName": "A", "lastName": "B", "primaryEmailAddress": null,
            "emailAddresses": [], "type": "external", "fields": []});
        let Refreshed::Upsert(batches) =
            handle(&cfg(), &r, 200, &serde_json::to_vec(&body).unwrap()).unwrap()
        else {
            panic!("expected upserts")
        };
        let tables: Vec<_> = batches.iter().map(|b| b.table.unwrap()).collect();
        assert_eq!(tables, ["persons", "persons_field_values"]);
        assert_eq!(
            batches[0].key,
            "out/changes/persons/part-1700000000-0123456789abcdef-person-7.parquet"
        );
        assert!(matches!(
            handle(&cfg(), &r, 404, b"{}").unwrap(),
            Refreshed::Gone(_)
        ));
        let other = json!({"id": 8});
        assert!(handle(&cfg(), &r, 200, &serde_json::to_vec(&other).unwrap()).is_err());
    }

    #[test]
    fn a_field_value_refresh_finds_its_owner_through_the_field() {
        let fv = |field_id: i64, list_entry_id: Option<i64>, probe: u8| Refresh {
            v: REFRESH_VERSION,
            change: "1700000000-0123456789abcdef".into(),
            sent_at: 1_700_000_000,
            target: Target::FieldValueOwner {
                field_id,
                entity_id: 5,
                list_entry_id,
                probe,
            },
        };
        let then = |r: &Refresh, fields: Value| match handle(
            &cfg(),
            r,
            200,
            &serde_json::to_vec(&fields).unwrap(),
        )
        .unwrap()
        {
            Refreshed::Then(next) => next.map(|n| n.target),
            other => panic!("{other:?}"),
        };
        // An entity-level field: persons' fields first, then companies'.
        let r = fv(40, None, 0);
        let req = request(&cfg(), &r);
        assert_eq!(req.url, "https://api.affinity.co/fields?entity_type=0");
        assert_eq!(req.auth, Auth::Basic);
        assert_eq!(
            then(&r, json!([{"id": 41, "list_id": null}])),
            Some(Target::FieldValueOwner {
                field_id: 40,
                entity_id: 5,
                list_entry_id: None,
                probe: 1
            })
        );
        let r = fv(40, None, 1);
        assert!(request(&cfg(), &r).url.ends_with("/fields?entity_type=1"));
        assert_eq!(
            then(&r, json!([{"id": 40, "list_id": null}])),
            Some(Target::Company { id: 5 })
        );
        // Not found among opportunities' either: the field is gone, nothing to do.
        assert_eq!(then(&fv(40, None, 2), json!([])), None);
        // A list-specific value: one read of all fields names the list.
        let r = fv(41, Some(77), 0);
        assert!(request(&cfg(), &r).url.ends_with("/fields"));
        assert_eq!(
            then(&r, json!([{"id": 41, "list_id": 3}])),
            Some(Target::ListEntry { list_id: 3, id: 77 })
        );
        // Probes past the last kind are not a message this build makes.
        let bad = fv(40, None, 3).encode();
        assert_eq!(Refresh::decode(&bad), Err(RefreshError::BadId));
    }
}
