//! The catalog of Affinity streams, declared as data.
//!
//! Each stream says where its pages come from (API version, path, fixed parameters, page
//! size: always the API maximum), how they are paged, where the records sit in a page, which
//! tables its records become, and which streams fan out from its records (lists → the
//! entries of each list). Adding a stream is adding one entry here and its test.

use crate::field_values::{self, ENTITY_FIELD_VALUE_COLUMNS, ENTRY_FIELD_VALUE_COLUMNS};
use crate::interactions;
use crate::record::{NULL, Value};
use crate::table::{Column, Pick, Row, SYNC_ID, Source, Table, Ty, col, each_record};
use std::collections::BTreeMap;

/// Which Affinity API a stream reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/...`, Basic auth, snake_case.
    V1,
    /// `/v2/...`, Bearer auth, camelCase.
    V2,
}

/// How a stream's pages are chained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// v2: `limit` + the cursor of `pagination.nextUrl`.
    Cursor,
    /// v1: `page_size` + `page_token` / `next_page_token`.
    Token,
    /// One response holds everything (v1 endpoints that return a bare array).
    None,
}

/// A stream whose jobs are made from the records of another stream.
#[derive(Debug, Clone, Copy)]
pub struct Parent {
    pub stream: &'static str,
    /// Parent ids the child job gets: (name, JSON pointer into the parent record). The
    /// parent job's own parent ids are passed down too.
    pub keys: &'static [(&'static str, &'static str)],
    /// Only records for which this holds fan out (e.g. notes that have replies).
    pub when: Option<fn(Value) -> bool>,
    /// Several chains per record, each with its own parent ids (replaces `keys`): e.g. one
    /// interactions chain per type and year a person has interactions in.
    pub expand: Option<ExpandFn>,
}

/// Parent ids of the chains one record fans out to.
pub type ExpandFn = fn(Value) -> Vec<Vec<(&'static str, i64)>>;

/// Whether a chain (given its parent ids) keeps a record.
pub type KeepFn = fn(Value, &BTreeMap<String, i64>) -> bool;

/// Where a page's records are.
#[derive(Debug, Clone, Copy)]
pub enum Records {
    /// Under this key (`data`, `persons`).
    Key(&'static str),
    /// The page is a bare array.
    Root,
    /// Under a key chosen by a parent id: v1 interactions put emails under `emails`,
    /// meetings and calls under `events`, chat messages under `chat_messages`.
    KeyByParent(&'static str, &'static [(i64, &'static str)]),
}

/// How a parent id becomes a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamFormat {
    Int,
    /// Unix seconds, sent as RFC 3339 UTC.
    UnixTime,
}

/// How a stream fetches only what changed since an earlier sync (`sync --incremental`).
/// Whatever the stream, its rows in an incremental sync are *upserts* on top of the earlier
/// syncs' rows (by primary key), never the whole table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incremental {
    /// Every sync reads it whole (the API has no filter for changes).
    Full,
    /// A v2 `filter` on these properties: one chain for records created since, one for
    /// records updated since (a record never updated has no update time).
    Filter {
        created: &'static str,
        updated: &'static str,
    },
    /// The children of the parent records that changed (a changed note's replies).
    FollowsParent,
    /// Time-windowed chains (parent ids `start`..`end`, Unix seconds) cut to begin at the
    /// time since.
    Window {
        start: &'static str,
        end: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Stream {
    pub name: &'static str,
    pub doc: &'static str,
    pub api: Api,
    /// Path with `{parent}` placeholders, e.g. `/v2/lists/{list_id}/list-entries`.
    pub path: &'static str,
    /// Query parameters sent on every page (field selection, includes).
    pub params: &'static [(&'static str, &'static str)],
    pub paging: Paging,
    /// `limit` / `page_size`: the API maximum.
    pub page_size: u32,
    /// Where the records sit in a page.
    pub records_at: Records,
    /// Query parameters taken from the job's parent ids (`person_id`, `start_time`, ...).
    pub query_parents: &'static [(&'static str, &'static str, ParamFormat)],
    /// Which records of a page the stream keeps (given the job's parent ids); the others
    /// belong to another chain (see `interactions`).
    pub keep: Option<KeepFn>,
    pub parent: Option<Parent>,
    pub tables: &'static [Table],
    /// In a sync when no streams are named.
    pub default: bool,
    /// What `sync --incremental` fetches of it.
    pub incremental: Incremental,
}

impl Stream {
    /// Parent ids a job of this stream must carry: path placeholders, then query parents.
    pub fn parent_keys(&self) -> Vec<&'static str> {
        let mut keys = self.path_keys();
        keys.extend(self.query_parents.iter().map(|(_, k, _)| *k));
        keys
    }

    /// The `{placeholders}` of the path, in order.
    pub fn path_keys(&self) -> Vec<&'static str> {
        let mut keys = vec![];
        let mut rest = self.path;
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').expect("closed placeholder") + start;
            keys.push(&rest[start + 1..end]);
            rest = &rest[end + 1..];
        }
        keys
    }
}

const V2_ENTITY_FIELDS: &[(&str, &str)] = &[
    ("fieldTypes", "enriched"),
    ("fieldTypes", "global"),
    ("fieldTypes", "relationship-intelligence"),
];
const V2_LIST_FIELDS: &[(&str, &str)] = &[
    ("fieldTypes", "enriched"),
    ("fieldTypes", "global"),
    ("fieldTypes", "list"),
    ("fieldTypes", "relationship-intelligence"),
];

const FIELD_METADATA: &[Column] = &[
    SYNC_ID,
    col("id", Ty::Utf8, "/id", "v2 field id."),
    col("name", Ty::Utf8, "/name", "Field name."),
    col(
        "type",
        Ty::Utf8,
        "/type",
        "`enriched`, `global`, `list` or `relationship-intelligence`.",
    ),
    col(
        "enrichment_source",
        Ty::Utf8,
        "/enrichmentSource",
        "`affinity-data`, `dealroom`, or null.",
    ),
    col("value_type", Ty::Utf8, "/valueType", "v2 value type."),
];

fn has_replies(note: Value) -> bool {
    note.get("repliesCount")
        .and_then(|x| x.as_i64())
        .unwrap_or(0)
        > 0
}

/// v2 names a custom field `field-<v1 id>`: the join key to the field value tables.
fn field_v2_id(field: Value) -> Pick<'static> {
    match field.get("id").and_then(|x| x.as_i64()) {
        Some(id) => Pick::Text(format!("field-{id}")),
        None => Pick::NULL,
    }
}

/// One row per v1 field, with its v2 id added.
fn field_rows(field: Value<'_>) -> Result<Vec<Row<'_>>, String> {
    if !field.is_object() {
        return Err("a field is not an object".into());
    }
    // Enriched fields have v2 ids named after their source (`affinity-data-industry`).
    let source = field.get("enrichment_source");
    let custom = source.is_none_or(|s| s.is_null() || s.as_str() == Some("none"));
    let v2_id = if custom {
        field_v2_id(field)
    } else {
        Pick::NULL
    };
    Ok(vec![Row::Json {
        record: field,
        extra: vec![("field_v2_id", v2_id)],
    }])
}

/// Dropdown options of every field, from v1 `GET /fields` (v2 field metadata has none).
fn dropdown_option_rows(field: Value<'_>) -> Result<Vec<Row<'_>>, String> {
    let Some(options) = field.get("dropdown_options").filter(|o| !o.is_null()) else {
        return Ok(vec![]);
    };
    let options = options
        .items()
        .ok_or("`dropdown_options` is not an array")?;
    options
        .map(|o| {
            if !o.is_object() {
                return Err("a dropdown option is not an object".to_string());
            }
            let field_id = Pick::Value(field.get("id").unwrap_or(NULL));
            Ok(Row::Json {
                record: o,
                extra: vec![("field_id", field_id), ("field_v2_id", field_v2_id(field))],
            })
        })
        .collect()
}

pub static STREAMS: &[Stream] = &[
    Stream {
        name: "persons",
        doc: "Every person (v2), with enriched, global and relationship-intelligence field values.",
        api: Api::V2,
        path: "/v2/persons",
        params: V2_ENTITY_FIELDS,
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[
            Table {
                name: "persons",
                doc: "One row per person.",
                rows: each_record,
                primary_key: &["id"],
                columns: &[
                    SYNC_ID,
                    col("id", Ty::Int64, "/id", "Person id."),
                    col("first_name", Ty::Utf8, "/firstName", ""),
                    col("last_name", Ty::Utf8, "/lastName", ""),
                    col(
                        "primary_email_address",
                        Ty::Utf8,
                        "/primaryEmailAddress",
                        "",
                    ),
                    col("email_addresses", Ty::Utf8List, "/emailAddresses", ""),
                    col(
                        "type",
                        Ty::Utf8,
                        "/type",
                        "`internal` (a user of your Affinity) or `external`.",
                    ),
                ],
            },
            Table {
                name: "persons_field_values",
                doc: "One row per person and field with a value.",
                rows: field_values::of_entity,
                primary_key: &["entity_id", "field_id"],
                columns: &ENTITY_FIELD_VALUE_COLUMNS,
            },
        ],
    },
    Stream {
        name: "companies",
        doc: "Every company (v2; organizations in v1), with enriched, global and relationship-intelligence field values.",
        api: Api::V2,
        path: "/v2/companies",
        params: V2_ENTITY_FIELDS,
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[
            Table {
                name: "companies",
                doc: "One row per company.",
                rows: each_record,
                primary_key: &["id"],
                columns: &[
                    SYNC_ID,
                    col("id", Ty::Int64, "/id", "Company id."),
                    col("name", Ty::Utf8, "/name", ""),
                    col("domain", Ty::Utf8, "/domain", "Primary domain."),
                    col("domains", Ty::Utf8List, "/domains", ""),
                    col(
                        "is_global",
                        Ty::Bool,
                        "/isGlobal",
                        "Part of Affinity's global company data set.",
                    ),
                ],
            },
            Table {
                name: "companies_field_values",
                doc: "One row per company and field with a value.",
                rows: field_values::of_entity,
                primary_key: &["entity_id", "field_id"],
                columns: &ENTITY_FIELD_VALUE_COLUMNS,
            },
        ],
    },
    Stream {
        name: "opportunities",
        doc: "Every opportunity (v2). Their field values come with the entries of opportunity lists.",
        api: Api::V2,
        path: "/v2/opportunities",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "opportunities",
            doc: "One row per opportunity.",
            rows: each_record,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "Opportunity id."),
                col("name", Ty::Utf8, "/name", ""),
                col(
                    "list_id",
                    Ty::Int64,
                    "/listId",
                    "The one list the opportunity lives on.",
                ),
            ],
        }],
    },
    Stream {
        name: "person_fields",
        doc: "Metadata of the fields persons have outside lists (v2).",
        api: Api::V2,
        path: "/v2/persons/fields",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "person_fields",
            doc: "One row per field.",
            rows: each_record,
            primary_key: &["id"],
            columns: FIELD_METADATA,
        }],
    },
    Stream {
        name: "company_fields",
        doc: "Metadata of the fields companies have outside lists (v2).",
        api: Api::V2,
        path: "/v2/companies/fields",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "company_fields",
            doc: "One row per field.",
            rows: each_record,
            primary_key: &["id"],
            columns: FIELD_METADATA,
        }],
    },
    Stream {
        name: "fields",
        doc: "Every field as v1 `GET /fields` shows it (with the list of a list-specific field), and the options of every ranked dropdown.",
        api: Api::V1,
        path: "/fields",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::None,
        page_size: 0,
        records_at: Records::Root,
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[
            Table {
                name: "fields",
                doc: "One row per field (v1; Crunchbase fields are not listed by Affinity).",
                rows: field_rows,
                primary_key: &["id"],
                columns: &[
                    SYNC_ID,
                    col("id", Ty::Int64, "/id", "v1 field id."),
                    col(
                        "field_v2_id",
                        Ty::Utf8,
                        "/field_v2_id",
                        "The same field's v2 id (`field-<id>`), as in the `*_field_values` tables; null for enriched fields, whose v2 ids name their source.",
                    ),
                    col("name", Ty::Utf8, "/name", "Field name."),
                    col(
                        "list_id",
                        Ty::Int64,
                        "/list_id",
                        "The list of a list-specific field; null for a global field.",
                    ),
                    col(
                        "value_type",
                        Ty::Int64,
                        "/value_type",
                        "v1 value type: 0 person, 1 organization, 2 dropdown, 3 number, 4 date, 5 location, 6 text, 7 ranked dropdown.",
                    ),
                    col("allows_multiple", Ty::Bool, "/allows_multiple", ""),
                    col(
                        "track_changes",
                        Ty::Bool,
                        "/track_changes",
                        "Whether `field_value_changes` has its history.",
                    ),
                    col(
                        "enrichment_source",
                        Ty::Utf8,
                        "/enrichment_source",
                        "`none` for custom fields, else the source.",
                    ),
                ],
            },
            Table {
                name: "dropdown_options",
                doc: "One row per option of a ranked dropdown field.",
                rows: dropdown_option_rows,
                primary_key: &["field_id", "id"],
                columns: &[
                    SYNC_ID,
                    col("field_id", Ty::Int64, "/field_id", "v1 field id."),
                    col(
                        "field_v2_id",
                        Ty::Utf8,
                        "/field_v2_id",
                        "The same field's v2 id (`field-<id>`).",
                    ),
                    col("id", Ty::Int64, "/id", "Option id (v2 `dropdownOptionId`)."),
                    col("text", Ty::Utf8, "/text", ""),
                    col("rank", Ty::Int64, "/rank", ""),
                    col("color", Ty::Int64, "/color", "v1 colour index."),
                ],
            },
        ],
    },
    Stream {
        name: "lists",
        doc: "Every list visible to the key (v2).",
        api: Api::V2,
        path: "/v2/lists",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "lists",
            doc: "One row per list.",
            rows: each_record,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "List id."),
                col("name", Ty::Utf8, "/name", ""),
                col(
                    "type",
                    Ty::Utf8,
                    "/type",
                    "`company`, `person` or `opportunity`.",
                ),
                col("is_public", Ty::Bool, "/isPublic", ""),
                col("owner_id", Ty::Int64, "/ownerId", ""),
                col("creator_id", Ty::Int64, "/creatorId", ""),
            ],
        }],
    },
    Stream {
        name: "list_fields",
        doc: "Metadata of every field of each list, list-specific ones included (v2).",
        api: Api::V2,
        path: "/v2/lists/{list_id}/fields",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: Some(Parent {
            stream: "lists",
            keys: &[("list_id", "/id")],
            when: None,
            expand: None,
        }),
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "list_fields",
            doc: "One row per list and field.",
            rows: each_record,
            primary_key: &["list_id", "id"],
            columns: &[
                SYNC_ID,
                Column {
                    name: "list_id",
                    ty: Ty::Int64,
                    source: Source::Parent("list_id"),
                    doc: "The list.",
                },
                FIELD_METADATA[1],
                FIELD_METADATA[2],
                FIELD_METADATA[3],
                FIELD_METADATA[4],
                FIELD_METADATA[5],
            ],
        }],
    },
    Stream {
        name: "list_entries",
        doc: "The entries (rows) of every list with all their field values, list-specific ones included (v2).",
        api: Api::V2,
        path: "/v2/lists/{list_id}/list-entries",
        params: V2_LIST_FIELDS,
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: Some(Parent {
            stream: "lists",
            keys: &[("list_id", "/id")],
            when: None,
            expand: None,
        }),
        default: true,
        incremental: Incremental::Full,
        tables: &[
            Table {
                name: "list_entries",
                doc: "One row per list entry.",
                rows: each_record,
                primary_key: &["id"],
                columns: &[
                    SYNC_ID,
                    col("id", Ty::Int64, "/id", "List entry id."),
                    col("list_id", Ty::Int64, "/listId", ""),
                    col(
                        "type",
                        Ty::Utf8,
                        "/type",
                        "`company`, `person` or `opportunity`.",
                    ),
                    col(
                        "entity_id",
                        Ty::Int64,
                        "/entity/id",
                        "The person, company or opportunity.",
                    ),
                    col(
                        "entity_name",
                        Ty::Utf8,
                        "/entity/name",
                        "Company or opportunity name (persons: see `persons`).",
                    ),
                    col("creator_id", Ty::Int64, "/creatorId", ""),
                    col("created_at", Ty::Timestamp, "/createdAt", ""),
                ],
            },
            Table {
                name: "list_entries_field_values",
                doc: "One row per list entry and field with a value.",
                rows: field_values::of_list_entry,
                primary_key: &["list_entry_id", "field_id"],
                columns: &ENTRY_FIELD_VALUE_COLUMNS,
            },
        ],
    },
    Stream {
        name: "saved_views",
        doc: "The saved views of every list (v2).",
        api: Api::V2,
        path: "/v2/lists/{list_id}/saved-views",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: Some(Parent {
            stream: "lists",
            keys: &[("list_id", "/id")],
            when: None,
            expand: None,
        }),
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "saved_views",
            doc: "One row per saved view.",
            rows: each_record,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "Saved view id."),
                Column {
                    name: "list_id",
                    ty: Ty::Int64,
                    source: Source::Parent("list_id"),
                    doc: "The list.",
                },
                col("name", Ty::Utf8, "/name", ""),
                col(
                    "type",
                    Ty::Utf8,
                    "/type",
                    "`sheet`, `board` or `dashboard`.",
                ),
                col("created_at", Ty::Timestamp, "/createdAt", ""),
            ],
        }],
    },
    Stream {
        name: "saved_view_entries",
        doc: "Which list entries each saved view shows, after its filters (v2). Field values: see list_entries.",
        api: Api::V2,
        path: "/v2/lists/{list_id}/saved-views/{view_id}/list-entries",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: Some(Parent {
            stream: "saved_views",
            keys: &[("view_id", "/id")],
            when: None,
            expand: None,
        }),
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "saved_view_entries",
            doc: "One row per saved view and list entry it shows.",
            rows: each_record,
            primary_key: &["view_id", "list_entry_id"],
            columns: &[
                SYNC_ID,
                Column {
                    name: "view_id",
                    ty: Ty::Int64,
                    source: Source::Parent("view_id"),
                    doc: "The saved view.",
                },
                col("list_entry_id", Ty::Int64, "/id", "The list entry."),
                col("list_id", Ty::Int64, "/listId", ""),
                col("entity_id", Ty::Int64, "/entity/id", ""),
                col("type", Ty::Utf8, "/type", ""),
            ],
        }],
    },
    Stream {
        name: "notes",
        doc: "Every note (v2), with its associated persons, companies and opportunities.",
        api: Api::V2,
        path: "/v2/notes",
        params: &[
            ("includes", "personsPreview"),
            ("includes", "companiesPreview"),
            ("includes", "opportunitiesPreview"),
            ("includes", "repliesCount"),
        ],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: None,
        default: true,
        incremental: Incremental::Filter {
            created: "createdAt",
            updated: "updatedAt",
        },
        tables: &[Table {
            name: "notes",
            doc: "One row per note (replies are in note_replies).",
            rows: note_rows,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "Note id."),
                col(
                    "type",
                    Ty::Utf8,
                    "/type",
                    "`entities`, `interaction` or `ai-notetaker`.",
                ),
                col("content_html", Ty::Utf8, "/content/html", ""),
                col("creator_id", Ty::Int64, "/creator/id", ""),
                col("created_at", Ty::Timestamp, "/createdAt", ""),
                col("updated_at", Ty::Timestamp, "/updatedAt", ""),
                col(
                    "interaction_id",
                    Ty::Int64,
                    "/interaction/id",
                    "The interaction the note was taken on.",
                ),
                col("interaction_type", Ty::Utf8, "/interaction/type", ""),
                col(
                    "sharing_type",
                    Ty::Utf8,
                    "/permissions/sharingType",
                    "`public`, `private` or `custom`.",
                ),
                col("replies_count", Ty::Int64, "/repliesCount", ""),
                col(
                    "person_ids",
                    Ty::Int64List,
                    "/person_ids",
                    "Associated persons (first 100; see persons_total).",
                ),
                col("persons_total", Ty::Int64, "/personsPreview/totalCount", ""),
                col(
                    "company_ids",
                    Ty::Int64List,
                    "/company_ids",
                    "Associated companies (first 100; see companies_total).",
                ),
                col(
                    "companies_total",
                    Ty::Int64,
                    "/companiesPreview/totalCount",
                    "",
                ),
                col(
                    "opportunity_ids",
                    Ty::Int64List,
                    "/opportunity_ids",
                    "Associated opportunities.",
                ),
                col(
                    "mentioned_person_ids",
                    Ty::Int64List,
                    "/mentioned_person_ids",
                    "Persons @-mentioned.",
                ),
            ],
        }],
    },
    Stream {
        name: "note_replies",
        doc: "Replies to notes (v2), fetched only for notes that have replies.",
        api: Api::V2,
        path: "/v2/notes/{note_id}/replies",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Cursor,
        page_size: 100,
        records_at: Records::Key("data"),
        parent: Some(Parent {
            stream: "notes",
            keys: &[("note_id", "/id")],
            when: Some(has_replies),
            expand: None,
        }),
        default: true,
        incremental: Incremental::FollowsParent,
        tables: &[Table {
            name: "note_replies",
            doc: "One row per reply.",
            rows: note_rows,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "Reply id."),
                col("parent_id", Ty::Int64, "/parent/id", "The note replied to."),
                col(
                    "type",
                    Ty::Utf8,
                    "/type",
                    "`user-reply` or `ai-notetaker-reply`.",
                ),
                col("content_html", Ty::Utf8, "/content/html", ""),
                col("creator_id", Ty::Int64, "/creator/id", ""),
                col("created_at", Ty::Timestamp, "/createdAt", ""),
                col("updated_at", Ty::Timestamp, "/updatedAt", ""),
                col("interaction_id", Ty::Int64, "/interaction/id", ""),
                col(
                    "mentioned_person_ids",
                    Ty::Int64List,
                    "/mentioned_person_ids",
                    "",
                ),
            ],
        }],
    },
    Stream {
        name: "reminders",
        doc: "Every reminder (v1).",
        api: Api::V1,
        path: "/reminders",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Token,
        page_size: 500,
        records_at: Records::Key("reminders"),
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "reminders",
            doc: "One row per reminder.",
            rows: each_record,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "Reminder id."),
                col("type", Ty::Int64, "/type", "0 one-time, 1 recurring."),
                col(
                    "status",
                    Ty::Int64,
                    "/status",
                    "0 completed, 1 active, 2 overdue.",
                ),
                col("content", Ty::Utf8, "/content", ""),
                col("created_at", Ty::Timestamp, "/created_at", ""),
                col("due_date", Ty::Timestamp, "/due_date", ""),
                col("completed_at", Ty::Timestamp, "/completed_at", ""),
                col(
                    "reset_type",
                    Ty::Int64,
                    "/reset_type",
                    "0 interaction, 1 email, 2 meeting.",
                ),
                col("reminder_days", Ty::Int64, "/reminder_days", ""),
                col("creator_id", Ty::Int64, "/creator/id", ""),
                col("owner_id", Ty::Int64, "/owner/id", ""),
                col("completer_id", Ty::Int64, "/completer/id", ""),
                col("person_id", Ty::Int64, "/person/id", ""),
                col("company_id", Ty::Int64, "/organization/id", ""),
                col("opportunity_id", Ty::Int64, "/opportunity/id", ""),
            ],
        }],
    },
    Stream {
        name: "entity_files",
        doc: "Metadata of every file attached to a person, company or opportunity (v1).",
        api: Api::V1,
        path: "/entity-files",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::Token,
        page_size: 500,
        records_at: Records::Key("entity_files"),
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "entity_files",
            doc: "One row per file.",
            rows: each_record,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "File id."),
                col("name", Ty::Utf8, "/name", ""),
                col("size", Ty::Int64, "/size", "Bytes."),
                col("person_id", Ty::Int64, "/person_id", ""),
                col("company_id", Ty::Int64, "/organization_id", ""),
                col("opportunity_id", Ty::Int64, "/opportunity_id", ""),
                col("uploader_id", Ty::Int64, "/uploader_id", ""),
                col("created_at", Ty::Timestamp, "/created_at", ""),
            ],
        }],
    },
    Stream {
        name: "webhook_subscriptions",
        doc: "The account's webhook subscriptions (v1).",
        api: Api::V1,
        path: "/webhook",
        params: &[],
        query_parents: &[],
        keep: None,
        paging: Paging::None,
        page_size: 0,
        records_at: Records::Root,
        parent: None,
        default: true,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "webhook_subscriptions",
            doc: "One row per subscription.",
            rows: each_record,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "Subscription id."),
                col(
                    "webhook_url",
                    Ty::Utf8,
                    "/webhook_url",
                    "Where events are sent. May carry a secret token: treat as sensitive.",
                ),
                col(
                    "subscriptions",
                    Ty::Utf8List,
                    "/subscriptions",
                    "Events; empty means all.",
                ),
                col("disabled", Ty::Bool, "/disabled", ""),
                col("created_by", Ty::Int64, "/created_by", ""),
            ],
        }],
    },
    Stream {
        name: "interactions",
        doc: "Emails, meetings, calls and chat messages (v1), one chain per external person, type and year with interactions. \
              Opt in: it costs requests per person. The years come from the person's relationship-intelligence dates \
              (first/last email, event and chat message) that the persons stream already fetched, so persons and years \
              without interactions cost nothing. An interaction with several external persons is written once, by the \
              chain of the one with the lowest id.",
        api: Api::V1,
        path: "/interactions",
        params: &[],
        query_parents: &[
            ("type", "type", ParamFormat::Int),
            ("person_id", "person_id", ParamFormat::Int),
            ("start_time", "start", ParamFormat::UnixTime),
            ("end_time", "end", ParamFormat::UnixTime),
        ],
        keep: Some(interactions::owned_by_chain),
        paging: Paging::Token,
        page_size: 100,
        records_at: Records::KeyByParent(
            "type",
            &[
                (0, "events"),
                (1, "events"),
                (2, "chat_messages"),
                (3, "emails"),
            ],
        ),
        parent: Some(Parent {
            stream: "persons",
            keys: &[],
            when: None,
            expand: Some(interactions::windows),
        }),
        default: false,
        incremental: Incremental::Window {
            start: "start",
            end: "end",
        },
        tables: &[Table {
            name: "interactions",
            doc: "One row per interaction.",
            rows: interactions::rows,
            primary_key: &["type", "id"],
            columns: &[
                SYNC_ID,
                col(
                    "type",
                    Ty::Int64,
                    "/type",
                    "0 meeting, 1 call, 2 chat message, 3 email (ids are unique per type).",
                ),
                col("id", Ty::Int64, "/id", "Interaction id."),
                col("date", Ty::Timestamp, "/date", "When it happened."),
                col("end_time", Ty::Timestamp, "/end_time", "Meetings."),
                col("title", Ty::Utf8, "/title", "Meetings and calls."),
                col("subject", Ty::Utf8, "/subject", "Emails."),
                col(
                    "direction",
                    Ty::Int64,
                    "/direction",
                    "Emails and chats: 0 sent, 1 received.",
                ),
                col(
                    "manual_creator_id",
                    Ty::Int64,
                    "/manual_creator_id",
                    "Who logged it, for manually logged ones.",
                ),
                col(
                    "person_ids",
                    Ty::Int64List,
                    "/person_ids",
                    "Everyone involved.",
                ),
                col("from_person_id", Ty::Int64, "/from/id", "Emails."),
                col("to_person_ids", Ty::Int64List, "/to_person_ids", "Emails."),
                col("cc_person_ids", Ty::Int64List, "/cc_person_ids", "Emails."),
                col(
                    "attendee_emails",
                    Ty::Utf8List,
                    "/attendees",
                    "Meetings and calls.",
                ),
                col("note_ids", Ty::Int64List, "/notes", "Notes taken on it."),
            ],
        }],
    },
    Stream {
        name: "relationship_strengths",
        doc: "Relationship strength between each external person with interactions and your team's members (v1). \
              Opt in: one request per such person (persons without interactions have no strengths and are skipped).",
        api: Api::V1,
        path: "/relationships-strengths",
        params: &[],
        query_parents: &[("external_id", "external_id", ParamFormat::Int)],
        keep: None,
        paging: Paging::None,
        page_size: 0,
        records_at: Records::Root,
        parent: Some(Parent {
            stream: "persons",
            keys: &[("external_id", "/id")],
            when: Some(interactions::has_interactions),
            expand: None,
        }),
        default: false,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "relationship_strengths",
            doc: "One row per (internal, external) person pair.",
            rows: each_record,
            primary_key: &["internal_id", "external_id"],
            columns: &[
                SYNC_ID,
                col(
                    "internal_id",
                    Ty::Int64,
                    "/internal_id",
                    "A member of your team.",
                ),
                col(
                    "external_id",
                    Ty::Int64,
                    "/external_id",
                    "The external person.",
                ),
                col(
                    "strength",
                    Ty::Float64,
                    "/strength",
                    "0 to 1; recalculated daily by Affinity.",
                ),
            ],
        }],
    },
    Stream {
        name: "field_value_changes",
        doc: "The history of every field that tracks changes (v1): one request per such field.",
        api: Api::V1,
        path: "/field-value-changes",
        params: &[],
        query_parents: &[("field_id", "field_id", ParamFormat::Int)],
        keep: None,
        paging: Paging::None,
        page_size: 0,
        records_at: Records::Root,
        parent: Some(Parent {
            stream: "fields",
            keys: &[("field_id", "/id")],
            when: Some(tracks_changes),
            expand: None,
        }),
        default: false,
        incremental: Incremental::Full,
        tables: &[Table {
            name: "field_value_changes",
            doc: "One row per change.",
            rows: each_record,
            primary_key: &["id"],
            columns: &[
                SYNC_ID,
                col("id", Ty::Int64, "/id", "Change id."),
                col(
                    "field_id",
                    Ty::Int64,
                    "/field_id",
                    "v1 field id (v2: `field-<id>`).",
                ),
                col("entity_id", Ty::Int64, "/entity_id", ""),
                col("list_entry_id", Ty::Int64, "/list_entry_id", ""),
                col(
                    "action_type",
                    Ty::Int64,
                    "/action_type",
                    "0 create, 1 delete, 2 update.",
                ),
                col("changer_id", Ty::Int64, "/changer/id", "Who changed it."),
                col("changed_at", Ty::Timestamp, "/changed_at", ""),
                col(
                    "value_json",
                    Ty::Json,
                    "/value",
                    "The new value (the old one for deletes), as v1 returns it.",
                ),
            ],
        }],
    },
];

fn tracks_changes(field: Value) -> bool {
    field
        .get("track_changes")
        .and_then(|x| x.as_bool())
        .unwrap_or(false)
}

/// Notes and replies: the id lists of their previews and mentions, lifted to the top level.
fn note_rows(note: Value<'_>) -> Result<Vec<Row<'_>>, String> {
    if !note.is_object() {
        return Err("a note is not an object".into());
    }
    // The values at `pointer` of each item of the array `list`; null when there is no array.
    let each = |list: &str, pointer: &str| match note.at(list).and_then(|x| x.items()) {
        Some(items) => Pick::List(items.filter_map(|x| x.at(pointer)).collect()),
        None => Pick::NULL,
    };
    let extra = [
        ("person_ids", "/personsPreview/data", "/id"),
        ("company_ids", "/companiesPreview/data", "/id"),
        ("opportunity_ids", "/opportunitiesPreview/data", "/id"),
        ("mentioned_person_ids", "/mentions", "/person/id"),
    ]
    .into_iter()
    .map(|(column, list, pointer)| (column, each(list, pointer)))
    .collect();
    Ok(vec![Row::Json {
        record: note,
        extra,
    }])
}

/// Looks a stream up by name.
pub fn stream(name: &str) -> Option<&'static Stream> {
    STREAMS.iter().find(|s| s.name == name)
}

/// The table named `name`, in whichever stream writes it.
pub fn table(name: &str) -> Option<&'static Table> {
    STREAMS
        .iter()
        .flat_map(|s| s.tables.iter())
        .find(|t| t.name == name)
}

/// The streams a sync of `names` (comma-separated; `None`: the default set) runs: each named
/// stream with the streams it fans out from, in catalog order.
pub fn select(names: Option<&str>) -> Result<Vec<&'static Stream>, String> {
    let Some(names) = names else {
        return Ok(STREAMS.iter().filter(|s| s.default).collect());
    };
    let mut wanted: Vec<&str> = vec![];
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let mut s = stream(name).ok_or_else(|| {
            let known: Vec<&str> = STREAMS.iter().map(|s| s.name).collect();
            format!(
                "unknown stream {name:?}; the streams are: {}",
                known.join(", ")
            )
        })?;
        wanted.push(s.name);
        while let Some(p) = s.parent {
            wanted.push(p.stream);
            s = stream(p.stream).expect("parents exist");
        }
    }
    if wanted.is_empty() {
        return Err("no stream named".into());
    }
    Ok(STREAMS
        .iter()
        .filter(|s| wanted.contains(&s.name))
        .collect())
}

/// The streams that fan out from `parent`'s records.
/// The stream at the top of `stream`'s fan-out (itself when it has no parent).
pub fn root_of(stream: &'static Stream) -> &'static Stream {
    let mut s = stream;
    while let Some(p) = s.parent.and_then(|p| self::stream(p.stream)) {
        s = p;
    }
    s
}

pub fn children_of(parent: &str) -> impl Iterator<Item = &'static Stream> + '_ {
    STREAMS
        .iter()
        .filter(move |s| s.parent.is_some_and(|p| p.stream == parent))
}

/// A column type as the schema docs name it.
fn type_name(ty: crate::table::Ty) -> &'static str {
    use crate::table::Ty;
    match ty {
        Ty::Int64 => "INT64",
        Ty::Float64 => "DOUBLE",
        Ty::Utf8 => "STRING",
        Ty::Bool => "BOOLEAN",
        Ty::Timestamp => "TIMESTAMP (µs, UTC)",
        Ty::Json => "STRING (JSON)",
        Ty::Utf8List => "LIST<STRING>",
        Ty::Int64List => "LIST<INT64>",
    }
}

/// The catalog as Markdown: every stream, where it comes from, and its tables' columns.
/// `docs/streams.md` is this text (a test keeps them equal).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Streams and tables\n\n\
         Generated from the catalog (`crates/affinity-sync-core/src/catalog.rs`) by `affinity-sync schema`; do not edit by hand.\n\n\
         Every table's batches have exactly these columns and types, whatever a page holds. \
         Parquet types: INT64 is signed 64-bit, TIMESTAMP is microseconds in UTC, STRING (JSON) holds JSON text \
         (NDJSON batches nest it as JSON). Every table has `_sync_id`; batches live under \
         `<table>/sync_id=<sync>/` (a Hive partition).\n",
    );
    for s in STREAMS {
        let api = match s.api {
            Api::V1 => "v1",
            Api::V2 => "v2",
        };
        let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let paging = match s.paging {
            Paging::Cursor => format!("`limit={}` + cursor", s.page_size),
            Paging::Token => format!("`page_size={}` + page token", s.page_size),
            Paging::None => "one response".to_string(),
        };
        out.push_str(&format!("\n## `{}`\n\n{}\n\n", s.name, s.doc));
        out.push_str(&format!("- Source: {api} `GET {}`", s.path));
        if !params.is_empty() {
            out.push_str(&format!(" with `{}`", params.join("&")));
        }
        out.push_str(&format!("; {paging}.\n"));
        if let Some(p) = s.parent {
            let when = if p.when.is_some() {
                " (only those that have some)"
            } else {
                ""
            };
            out.push_str(&format!("- One chain per `{}` record{when}.\n", p.stream));
        }
        out.push_str(&format!(
            "- In a default sync: {}.\n",
            if s.default {
                "yes"
            } else {
                "no (opt in with --streams)"
            }
        ));
        for t in s.tables {
            table_markdown(&mut out, t);
        }
    }
    out.push_str(
        "\n## Webhook changes\n\n\
         Written by the webhook receivers under `changes/` (see docs/changes.md), one object per \
         event; records fetched again go to `changes/<table>/` with the table's own columns \
         (`_sync_id` holds the change id).\n",
    );
    for t in crate::changes::tables() {
        table_markdown(&mut out, t);
    }
    out
}

fn table_markdown(out: &mut String, t: &Table) {
    out.push_str(&format!(
        "\n### table `{}`\n\n{} Primary key: `{}`.\n\n| column | type | meaning |\n| --- | --- | --- |\n",
        t.name,
        t.doc,
        t.primary_key.join("`, `")
    ));
    for c in t.columns {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.name,
            type_name(c.ty),
            c.doc.replace('|', "\\|")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_catalog_is_consistent() {
        let mut names = BTreeSet::new();
        let mut tables = BTreeSet::new();
        for s in STREAMS {
            assert!(names.insert(s.name), "stream {} declared twice", s.name);
            for t in s.tables {
                assert!(tables.insert(t.name), "table {} declared twice", t.name);
                assert_eq!(
                    t.columns[0].name, "_sync_id",
                    "{} starts with _sync_id",
                    t.name
                );
                let cols: BTreeSet<&str> = t.columns.iter().map(|c| c.name).collect();
                assert_eq!(cols.len(), t.columns.len(), "{}: duplicate column", t.name);
                for k in t.primary_key {
                    assert!(cols.contains(k), "{}: key {k} is a column", t.name);
                }
            }
            match s.paging {
                Paging::Cursor => assert_eq!((s.api, s.page_size), (Api::V2, 100), "{}", s.name),
                Paging::Token => assert!(
                    s.api == Api::V1 && [100, 500].contains(&s.page_size),
                    "{}",
                    s.name
                ),
                Paging::None => assert_eq!(s.api, Api::V1),
            }
            // A child's path placeholders are its parent's keys plus the parent's own.
            if let Some(p) = s.parent
                && p.expand.is_none()
            {
                let parent = stream(p.stream).expect("parent exists");
                let mut expected: Vec<&str> = parent.parent_keys();
                expected.extend(p.keys.iter().map(|(k, _)| *k));
                let mut got = s.parent_keys();
                got.sort();
                expected.sort();
                assert_eq!(got, expected, "{} path placeholders", s.name);
            } else if s.parent.is_none() {
                assert!(
                    s.parent_keys().is_empty(),
                    "{} has placeholders but no parent",
                    s.name
                );
            }
        }
    }
}
