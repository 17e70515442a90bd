//! The SQL that applies webhook changes on top of a loaded sync, shared by `load duckdb` and
//! `load postgres` (plain SQL both engines run as written: explicit column lists, no
//! engine-specific clauses).
//!
//! Each loader first puts in place the loaded sync's tables, `change_events` and
//! `tombstones`, and one temporary table `_up_<table>` per table a change can touch
//! ([`refreshed_tables`]), holding the rows refreshes wrote under `changes/<table>/`. Then:
//!
//! 1. Every upserted record (rows a refresh fetched) and every tombstone is a change with the
//!    event time of the event that caused it. Per record (entity and id) the latest wins; a
//!    delete wins a tie. Changes sent before the sync started are already in it (a margin
//!    allows for clock skew), and the sync is the authority for them ([`order`]).
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
//! docs/changes.md has the same steps as a MERGE for Snowflake and BigQuery.

use super::ddl::Dialect;
use affinity_sync_core::table::Table;
use anyhow::{Context, Result};

/// A record kind the change model applies: its entity name and the tables of its rows.
pub struct Kind {
    pub entity: &'static str,
    /// (table, key column) of every table holding the record's rows; the first is the record.
    pub tables: &'static [(&'static str, &'static str)],
}

pub const KINDS: &[Kind] = &[
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
pub(crate) const FIELD_NAMES: &[(&str, &str, &str)] = &[
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
pub(crate) const CLOCK_SKEW_MINUTES: i64 = 10;

/// What was applied.
#[derive(Debug, Default)]
pub struct Applied {
    pub events: u64,
    pub upserted: u64,
    pub deleted: u64,
}

/// Counts of what [`order`] chose, to run after it.
pub const COUNT_UPSERTS: &str = "SELECT count(*) FROM _latest WHERE is_delete = 0";
pub const COUNT_DELETES: &str = "SELECT count(*) FROM _latest WHERE is_delete = 1";

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The names `order` and `apply` write bare in their SQL: on the way out (`quoted`) they, and
/// the names written quoted, are written as the dialect writes the names of the tables
/// `ddl` created (`Dialect::quote`: upper case for Snowflake, quoted lower case elsewhere).
const NAMES: &[&str] = &[
    "_latest",
    "_sync_id",
    "change_events",
    "change_id",
    "entity",
    "entity_id",
    "entity_name",
    "field_type",
    "field_v2_id",
    "fields",
    "id",
    "is_delete",
    "list_entries",
    "list_entries_field_values",
    "list_entry_id",
    "list_id",
    "name",
    "rn",
    "sent_at",
    "tombstones",
    "type",
];

/// `sql` with every bare name of [`NAMES`] and every quoted name written as `dialect` writes
/// names; string literals and backquoted names are left as they are.
pub(crate) fn quoted(sql: &str, dialect: Dialect) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        let len = match c {
            // A backquoted name (Spark's, and its file paths) is written as it is.
            '\'' | '"' | '`' => {
                // To the closing quote; a doubled quote is part of the text.
                let mut end = 1;
                let bytes = rest.as_bytes();
                while end < bytes.len() {
                    if bytes[end] == c as u8 {
                        if bytes.get(end + 1) == Some(&(c as u8)) {
                            end += 2;
                            continue;
                        }
                        end += 1;
                        break;
                    }
                    end += 1;
                }
                let closed = end >= 2 && rest.as_bytes()[end - 1] == c as u8;
                if c == '"' && closed {
                    let name = rest[1..end - 1].replace("\"\"", "\"");
                    out.push_str(&dialect.quote(&name));
                } else {
                    out.push_str(&rest[..end]);
                }
                end
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let end = rest
                    .find(|x: char| !(x.is_ascii_alphanumeric() || x == '_'))
                    .unwrap_or(rest.len());
                let word = &rest[..end];
                if NAMES.contains(&word) {
                    out.push_str(&dialect.quote(word));
                } else {
                    out.push_str(word);
                }
                end
            }
            c => {
                out.push(c);
                c.len_utf8()
            }
        };
        rest = &rest[len..];
    }
    out
}

/// The temporary table a loader fills with the refreshed rows of `table`.
pub fn up_table(table: &str) -> String {
    format!("_up_{table}")
}

fn table_def(name: &str) -> &'static Table {
    affinity_sync_core::catalog::table(name).expect("change tables are catalog tables")
}

/// The tables whose refreshed rows the loader must provide as `_up_<table>`: every table of
/// every kind whose record table was loaded.
pub fn refreshed_tables(exists: &dyn Fn(&str) -> bool) -> Vec<&'static Table> {
    KINDS
        .iter()
        .filter(|k| exists(k.tables[0].0))
        .flat_map(|k| k.tables.iter().map(|(t, _)| table_def(t)))
        .collect()
}

/// The cutoff before which changes are left to the sync that started at `sync_started_at`.
fn cutoff(sync_started_at: &str) -> Result<String> {
    let started = affinity_sync_core::table::parse_timestamp(sync_started_at)
        .with_context(|| format!("the sync's started_at {sync_started_at:?} is not a timestamp"))?;
    Ok(affinity_sync_core::table::format_timestamp(
        started - CLOCK_SKEW_MINUTES * 60 * 1_000_000,
    ))
}

/// Step 1: the temporary table `_latest` (entity, id, change_id, is_delete): the change that
/// wins for each record.
pub fn order(
    dialect: Dialect,
    exists: &dyn Fn(&str) -> bool,
    sync_started_at: &str,
) -> Result<String> {
    let mut changes = vec![
        "SELECT t.entity, t.id, t.change_id, t.sent_at, 1 AS is_delete FROM tombstones t"
            .to_string(),
    ];
    for k in KINDS.iter().filter(|k| exists(k.tables[0].0)) {
        let (base, key) = k.tables[0];
        changes.push(format!(
            "SELECT {entity} AS entity, u.{key} AS id, e.change_id, e.sent_at, 0 AS is_delete \
             FROM {up} u JOIN change_events e ON e.change_id = u._sync_id",
            entity = quote_str(k.entity),
            key = quote_ident(key),
            up = quote_ident(&up_table(base)),
        ));
    }
    Ok(quoted(
        &format!(
            "DROP TABLE IF EXISTS _latest; \
         CREATE TEMP TABLE _latest AS \
         SELECT entity, id, change_id, is_delete FROM ( \
           SELECT c.*, row_number() OVER (PARTITION BY entity, id ORDER BY sent_at DESC, is_delete DESC, change_id DESC) AS rn \
           FROM ({}) c WHERE sent_at >= CAST({} AS TIMESTAMPTZ)) r WHERE rn = 1;",
            changes.join(" UNION ALL "),
            quote_str(&cutoff(sync_started_at)?)
        ),
        dialect,
    ))
}

fn columns(t: &Table) -> Vec<String> {
    t.columns.iter().map(|c| quote_ident(c.name)).collect()
}

/// Steps 2 to 5, in order, each as (what it does, statements); the last drops `_latest`.
pub fn apply(dialect: Dialect, exists: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut steps = vec![];
    // 2. Upserts and deletes replace (or remove) a record's own rows.
    for k in KINDS.iter().filter(|k| exists(k.tables[0].0)) {
        for (table, key) in k.tables.iter().filter(|(t, _)| exists(t)) {
            let cols = columns(table_def(table));
            let (t, key, e) = (quote_ident(table), quote_ident(key), quote_str(k.entity));
            steps.push((
                format!("applying changes to {table}"),
                format!(
                    "DELETE FROM {t} WHERE {key} IN (SELECT id FROM _latest WHERE entity = {e}); \
                     INSERT INTO {t} ({list}) SELECT {from} FROM {up} u JOIN _latest l \
                       ON l.entity = {e} AND l.is_delete = 0 AND u.{key} = l.id AND u._sync_id = l.change_id;",
                    list = cols.join(", "),
                    from = cols.iter().map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", "),
                    up = quote_ident(&up_table(table)),
                ),
            ));
        }
    }

    let entries = exists("list_entries");
    let entry_values = exists("list_entries_field_values");
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
        if entry_values && !values.is_empty() && exists(values) {
            let target = table_def("list_entries_field_values");
            let source = table_def(values);
            let select: Vec<String> = target
                .columns
                .iter()
                .map(|c| match c.name {
                    "list_entry_id" => "le.id".to_string(),
                    "list_id" => "le.list_id".to_string(),
                    "entity_id" => "le.entity_id".to_string(),
                    name if source.columns.iter().any(|s| s.name == name) => {
                        format!("v.{}", quote_ident(name))
                    }
                    _ => format!("CAST(NULL AS {})", dialect.type_of(c.ty)),
                })
                .collect();
            steps.push((
                format!("carrying {entity} field values into list entries"),
                format!(
                    "DELETE FROM list_entries_field_values WHERE field_type <> 'list' AND list_entry_id IN ( \
                       SELECT le.id FROM list_entries le JOIN _latest l ON l.entity = {e} AND l.is_delete = 0 \
                       AND le.type = {e} AND le.entity_id = l.id); \
                     INSERT INTO list_entries_field_values ({list}) \
                       SELECT {select} \
                       FROM {values} v JOIN list_entries le ON le.type = {e} AND le.entity_id = v.entity_id \
                       JOIN _latest l ON l.entity = {e} AND l.is_delete = 0 AND l.id = v.entity_id;",
                    list = columns(target).join(", "),
                    select = select.join(", "),
                    values = quote_ident(values)
                ),
            ));
        }
        if let Some(names) = names.filter(|n| exists(n)) {
            steps.push((
                format!("carrying {entity} names into list entries"),
                format!(
                    "UPDATE list_entries SET entity_name = x.name FROM {names} x, _latest l \
                     WHERE l.entity = {e} AND l.is_delete = 0 AND x.id = l.id \
                       AND list_entries.type = {e} AND list_entries.entity_id = x.id;",
                    names = quote_ident(names)
                ),
            ));
        }
    }

    // 4. A deleted entity or list takes its list entries (and their values) with it.
    if entries {
        let gone = "SELECT le.id FROM list_entries le JOIN _latest l ON l.is_delete = 1 AND ( \
                      (l.entity IN ('person', 'company', 'opportunity') AND le.type = l.entity AND le.entity_id = l.id) \
                      OR (l.entity = 'list' AND le.list_id = l.id))";
        let mut sql = String::new();
        if entry_values {
            sql.push_str(&format!(
                "DELETE FROM list_entries_field_values WHERE list_entry_id IN ({gone}); "
            ));
        }
        sql.push_str(&format!("DELETE FROM list_entries WHERE id IN ({gone});"));
        steps.push(("removing the list entries of deleted records".into(), sql));
    }

    // 5. Fields, last: values the steps above wrote may carry an older name.
    let fields = exists("fields");
    for (table, id, name) in FIELD_NAMES.iter().filter(|(t, _, _)| exists(t)) {
        let (t, id, name) = (quote_ident(table), quote_ident(id), quote_ident(name));
        if fields {
            steps.push((
                format!("carrying field names into {table}"),
                format!(
                    "UPDATE {t} SET {name} = f.name FROM fields f, _latest l \
                     WHERE l.entity = 'field' AND l.is_delete = 0 AND f.id = l.id \
                       AND {t}.{id} = f.field_v2_id;"
                ),
            ));
        }
        steps.push((
            format!("removing deleted fields from {table}"),
            format!(
                "DELETE FROM {t} WHERE {id} IN ( \
                   SELECT 'field-' || CAST(id AS VARCHAR) FROM _latest WHERE entity = 'field' AND is_delete = 1);"
            ),
        ));
    }
    steps.push(("dropping _latest".into(), "DROP TABLE _latest;".into()));
    steps
        .into_iter()
        .map(|(what, sql)| (what, quoted(&sql, dialect)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_quoted_and_literals_and_quoted_names_kept() {
        let sql = r#"SELECT l.id, 'id' || "id", le.type AS entity FROM _latest l WHERE name = 'it''s id'"#;
        assert_eq!(
            quoted(sql, Dialect::Duckdb),
            r#"SELECT l."id", 'id' || "id", le."type" AS "entity" FROM "_latest" l WHERE "name" = 'it''s id'"#
        );
        // Snowflake: the upper-case names `ddl` created, bare (none of these is reserved).
        assert_eq!(
            quoted(sql, Dialect::Snowflake),
            r#"SELECT l.ID, 'id' || ID, le.TYPE AS ENTITY FROM _LATEST l WHERE NAME = 'it''s id'"#
        );
    }

    /// Every identifier of `sql` outside string literals: (name, was it quoted).
    fn identifiers(sql: &str) -> Vec<(String, bool)> {
        let mut out = vec![];
        let mut rest = sql;
        while let Some(c) = rest.chars().next() {
            let len = if c == '\'' || c == '"' {
                let end = rest[1..].find(c).map_or(rest.len(), |e| e + 2);
                if c == '"' {
                    out.push((rest[1..end - 1].to_string(), true));
                }
                end
            } else if c.is_ascii_alphabetic() || c == '_' {
                let end = rest
                    .find(|x: char| !(x.is_ascii_alphanumeric() || x == '_'))
                    .unwrap_or(rest.len());
                out.push((rest[..end].to_string(), false));
                end
            } else {
                c.len_utf8()
            };
            rest = &rest[len..];
        }
        out
    }

    #[test]
    fn every_statement_names_the_tables_as_the_dialect_created_them() {
        let all = |_: &str| true;
        for d in [Dialect::Duckdb, Dialect::Postgres, Dialect::Snowflake] {
            let mut sql = order(d, &all, "2026-11-25T00:00:00Z").unwrap();
            for (_, s) in apply(d, &all) {
                sql.push_str(&s);
            }
            for (word, was_quoted) in identifiers(&sql) {
                let name = word.to_ascii_lowercase();
                if !NAMES.contains(&name.as_str()) {
                    continue;
                }
                match d {
                    // Folding to upper case must find the upper-case table or column.
                    Dialect::Snowflake => assert!(
                        word == name.to_ascii_uppercase(),
                        "{word} would not resolve to {}",
                        name.to_ascii_uppercase()
                    ),
                    // Tables created with quoted lower-case names.
                    _ => assert!(was_quoted && word == name, "{d:?}: {word} appears unquoted"),
                }
            }
        }
    }
}
