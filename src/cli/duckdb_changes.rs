//! Applying webhook changes on top of a loaded sync, so DuckDB shows the current state.
//!
//! After `load duckdb` has put the latest complete sync in place (inside the same
//! transaction), the changes received since that sync started (`changes/`, see
//! `affinity_sync::changes`) are applied per record:
//!
//! 1. Every upserted record (rows a refresh fetched) and every tombstone is a change with the
//!    event time of the event that caused it. Per record (entity and id) the latest wins; a
//!    delete wins a tie. Changes sent before the sync started are already in it (a margin
//!    allows for clock skew), and the sync is the authority for them.
//! 2. Upserts replace the record's rows in its tables (a person's row and all its field
//!    values; a list entry's row and all its values).
//! 3. What list entries show of their entity follows the entity: its entity-level field
//!    values and, for companies and opportunities, `entity_name`.
//! 4. Deletes remove the record and what hangs off it: a person's, company's or
//!    opportunity's field values and list entries, a list's entries.
//! 5. Fields: a refreshed field's name replaces the old one in the v2 field metadata tables
//!    and the `*_field_values` tables; a deleted field takes its metadata rows, options and
//!    values with it.
//!
//! `change_events` and `tombstones` are loaded as tables too. docs/changes.md has the same
//! steps as a MERGE for Snowflake and BigQuery.

use super::duckdb_load::{quote_ident, quote_str, read_select, table_exists as exists};
use super::plan::has_batches;
use affinity_sync::changes::{CHANGE_EVENTS, TOMBSTONES};
use affinity_sync::table::Table;
use anyhow::{Context, Result};
use duckdb::Connection;
use std::path::Path;

/// A record kind the change model applies: its entity name, its table and the tables of
/// its rows keyed by it.
struct Kind {
    entity: &'static str,
    /// (table, key column) of every table holding the record's rows; the first is the record.
    tables: &'static [(&'static str, &'static str)],
}

const KINDS: &[Kind] = &[
    Kind {
        entity: "person",
        tables: &[("persons", "id"), ("persons_field_values", "entity_id")],
    },
    Kind {
        entity: "company",
        tables: &[("companies", "id"), ("companies_field_values", "entity_id")],
    },
    Kind {
        entity: "opportunity",
        tables: &[("opportunities", "id")],
    },
    Kind {
        entity: "list",
        tables: &[("lists", "id")],
    },
    Kind {
        entity: "list_entry",
        tables: &[
            ("list_entries", "id"),
            ("list_entries_field_values", "list_entry_id"),
        ],
    },
    Kind {
        entity: "note",
        tables: &[("notes", "id")],
    },
    Kind {
        entity: "reminder",
        tables: &[("reminders", "id")],
    },
    Kind {
        entity: "file",
        tables: &[("entity_files", "id")],
    },
    Kind {
        entity: "field",
        tables: &[("fields", "id"), ("dropdown_options", "field_id")],
    },
];

/// Where a field's v2 id (`field-<id>`) and its name appear: (table, id column, name column).
const FIELD_NAMES: &[(&str, &str, &str)] = &[
    ("person_fields", "id", "name"),
    ("company_fields", "id", "name"),
    ("list_fields", "id", "name"),
    ("persons_field_values", "field_id", "field_name"),
    ("companies_field_values", "field_id", "field_name"),
    ("list_entries_field_values", "field_id", "field_name"),
];

/// Changes sent up to this long before the sync started are applied too: Affinity's clock
/// (`sent_at`) and ours (`started_at`) may disagree a little, and applying a change the sync
/// already shows changes nothing, while missing one would keep a stale record.
const CLOCK_SKEW_MINUTES: u32 = 10;

/// What was applied.
#[derive(Debug, Default)]
pub struct Applied {
    pub events: u64,
    pub upserted: u64,
    pub deleted: u64,
}

fn table_def(name: &str) -> Option<&'static Table> {
    super::duckdb_load::table_def(name)
}

/// `SELECT` of every batch of `table` in `dir` (Parquet and NDJSON alike), or an empty
/// table of the right columns when there are none.
fn select_all(t: &Table, dir: &Path) -> String {
    let mut parts = vec![];
    for ext in ["parquet", "ndjson.gz"] {
        if has_batches(dir, ext) {
            parts.push(read_select(t, &format!("{}/*.{ext}", dir.display()), ext));
        }
    }
    if parts.is_empty() {
        parts.push(read_select(t, "", ""));
    }
    parts.join(" UNION ALL BY NAME ")
}

/// Applies `from/changes/` to the tables just loaded from the sync that started at
/// `sync_started_at` (RFC 3339). Does nothing when there are no changes.
pub fn apply(conn: &Connection, from: &Path, sync_started_at: &str) -> Result<Applied> {
    let root = from.join("changes");
    let mut applied = Applied::default();
    for t in [&CHANGE_EVENTS, &TOMBSTONES] {
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TABLE {} AS SELECT DISTINCT * FROM ({})",
            quote_ident(t.name),
            select_all(
                t,
                &root.join(if t.name == "change_events" {
                    "events"
                } else {
                    "tombstones"
                })
            )
        ))
        .with_context(|| format!("loading {}", t.name))?;
    }
    applied.events = conn.query_row("SELECT count(*) FROM change_events", [], |r| r.get(0))?;
    let started = affinity_sync::table::parse_timestamp(sync_started_at)
        .with_context(|| format!("the sync's started_at {sync_started_at:?} is not a timestamp"))?;
    let cutoff = affinity_sync::table::format_timestamp(
        started - i64::from(CLOCK_SKEW_MINUTES) * 60 * 1_000_000,
    );
    if !root.is_dir() {
        return Ok(applied);
    }
    // Every change of every record: upserts (the rows a refresh wrote) and tombstones.
    let mut changes = vec![format!(
        "SELECT entity, id, t.change_id, t.sent_at, 1 AS is_delete FROM tombstones t"
    )];
    for k in KINDS {
        let (base, key) = k.tables[0];
        if !exists(conn, base)? {
            continue;
        }
        for (table, _) in k.tables {
            let t = table_def(table).expect("change tables are catalog tables");
            conn.execute_batch(&format!(
                "CREATE OR REPLACE TEMP TABLE {} AS {}",
                quote_ident(&format!("_up_{table}")),
                select_all(t, &root.join(table))
            ))
            .with_context(|| format!("reading the refreshed rows of {table}"))?;
        }
        changes.push(format!(
            "SELECT {entity} AS entity, u.{key} AS id, e.change_id, e.sent_at, 0 AS is_delete \
             FROM {up} u JOIN change_events e ON e.change_id = u._sync_id",
            entity = quote_str(k.entity),
            key = quote_ident(key),
            up = quote_ident(&format!("_up_{base}")),
        ));
    }
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE _latest AS \
         SELECT entity, id, change_id, is_delete FROM ( \
           SELECT *, row_number() OVER (PARTITION BY entity, id ORDER BY sent_at DESC, is_delete DESC, change_id DESC) AS rn \
           FROM ({}) WHERE sent_at >= CAST({} AS TIMESTAMPTZ)) WHERE rn = 1",
        changes.join(" UNION ALL "),
        quote_str(&cutoff)
    ))
    .context("ordering the changes")?;
    applied.upserted = conn.query_row(
        "SELECT count(*) FROM _latest WHERE is_delete = 0",
        [],
        |r| r.get(0),
    )?;
    applied.deleted = conn.query_row(
        "SELECT count(*) FROM _latest WHERE is_delete = 1",
        [],
        |r| r.get(0),
    )?;

    // 2. Upserts and deletes replace (or remove) a record's own rows.
    for k in KINDS {
        if !exists(conn, k.tables[0].0)? {
            continue;
        }
        for (table, key) in k.tables {
            if !exists(conn, table)? {
                continue;
            }
            let (t, key, e) = (quote_ident(table), quote_ident(key), quote_str(k.entity));
            conn.execute_batch(&format!(
                "DELETE FROM {t} WHERE {key} IN (SELECT id FROM _latest WHERE entity = {e}); \
                 INSERT INTO {t} BY NAME SELECT u.* FROM {up} u JOIN _latest l \
                   ON l.entity = {e} AND l.is_delete = 0 AND u.{key} = l.id AND u._sync_id = l.change_id;",
                up = quote_ident(&format!("_up_{table}")),
            ))
            .with_context(|| format!("applying changes to {table}"))?;
        }
    }

    let entries = exists(conn, "list_entries")?;
    let entry_values = exists(conn, "list_entries_field_values")?;
    // 3. List entries show their entity as it is now.
    for (entity, values, names) in [
        ("person", "persons_field_values", None),
        ("company", "companies_field_values", Some("companies")),
        ("opportunity", "", Some("opportunities")),
    ] {
        if !entries {
            continue;
        }
        let e = quote_str(entity);
        if entry_values && !values.is_empty() && exists(conn, values)? {
            conn.execute_batch(&format!(
                "DELETE FROM list_entries_field_values WHERE field_type <> 'list' AND list_entry_id IN ( \
                   SELECT le.id FROM list_entries le JOIN _latest l ON l.entity = {e} AND l.is_delete = 0 \
                   AND le.type = {e} AND le.entity_id = l.id); \
                 INSERT INTO list_entries_field_values BY NAME \
                   SELECT v.* EXCLUDE (entity_id), le.id AS list_entry_id, le.list_id, le.entity_id \
                   FROM {values} v JOIN list_entries le ON le.type = {e} AND le.entity_id = v.entity_id \
                   JOIN _latest l ON l.entity = {e} AND l.is_delete = 0 AND l.id = v.entity_id;",
                values = quote_ident(values)
            ))
            .with_context(|| format!("carrying {entity} field values into list entries"))?;
        }
        if let Some(names) = names.filter(|n| exists(conn, n).unwrap_or(false)) {
            conn.execute_batch(&format!(
                "UPDATE list_entries SET entity_name = x.name FROM {names} x, _latest l \
                 WHERE l.entity = {e} AND l.is_delete = 0 AND x.id = l.id \
                   AND list_entries.type = {e} AND list_entries.entity_id = x.id;",
                names = quote_ident(names)
            ))
            .with_context(|| format!("carrying {entity} names into list entries"))?;
        }
    }

    // 4. A deleted entity or list takes its list entries (and their values) with it.
    if entries {
        let gone = "SELECT le.id FROM list_entries le JOIN _latest l ON l.is_delete = 1 AND ( \
                      (l.entity IN ('person', 'company', 'opportunity') AND le.type = l.entity AND le.entity_id = l.id) \
                      OR (l.entity = 'list' AND le.list_id = l.id))";
        if entry_values {
            conn.execute_batch(&format!(
                "DELETE FROM list_entries_field_values WHERE list_entry_id IN ({gone})"
            ))?;
        }
        conn.execute_batch(&format!("DELETE FROM list_entries WHERE id IN ({gone})"))?;
    }

    // 5. Fields, last: values the steps above wrote may carry an older name.
    let fields = exists(conn, "fields")?;
    for (table, id, name) in FIELD_NAMES {
        if !exists(conn, table)? {
            continue;
        }
        let (t, id, name) = (quote_ident(table), quote_ident(id), quote_ident(name));
        if fields {
            conn.execute_batch(&format!(
                "UPDATE {t} SET {name} = f.name FROM fields f, _latest l \
                 WHERE l.entity = 'field' AND l.is_delete = 0 AND f.id = l.id \
                   AND {t}.{id} = f.field_v2_id;"
            ))
            .with_context(|| format!("carrying field names into {table}"))?;
        }
        conn.execute_batch(&format!(
            "DELETE FROM {t} WHERE {id} IN ( \
               SELECT 'field-' || id FROM _latest WHERE entity = 'field' AND is_delete = 1);"
        ))
        .with_context(|| format!("removing deleted fields from {table}"))?;
    }
    conn.execute_batch("DROP TABLE _latest")?;
    Ok(applied)
}
