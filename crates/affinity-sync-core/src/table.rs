//! Output tables: typed columns declared as data, and the conversion of JSON records into
//! typed rows.
//!
//! Every batch of a table has exactly the columns and types declared here, whatever a page
//! happens to contain, so a warehouse can load all batches of a table as one table. A value
//! that does not fit its column (a string where an id should be) is an error for the whole
//! page: a batch is either complete and correct, or not written.

use crate::record::{self, Value};
use simd_json::prelude::*;
use std::borrow::Cow;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A column's type, as written to Parquet (and as NDJSON renders it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int64,
    Float64,
    Utf8,
    Bool,
    /// Microseconds since the epoch, UTC (parsed from ISO 8601 with any offset).
    Timestamp,
    /// Any JSON, kept as its text (Parquet: a UTF-8 column; NDJSON: nested JSON).
    Json,
    Utf8List,
    Int64List,
}

/// Where a column's value comes from in a row.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A JSON pointer into the row (`/entity/id`).
    At(&'static str),
    /// One of the job's parent ids (`list_id` of list entries).
    Parent(&'static str),
    /// The sync id, on every row, so tables of several syncs can live side by side.
    SyncId,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: Ty,
    pub source: Source,
    /// What the column means, for the schema docs.
    pub doc: &'static str,
}

/// Shorthand for declaring a column read from a JSON pointer.
pub const fn col(name: &'static str, ty: Ty, at: &'static str, doc: &'static str) -> Column {
    Column {
        name,
        ty,
        source: Source::At(at),
        doc,
    }
}

/// The `_sync_id` column every table starts with.
pub const SYNC_ID: Column = Column {
    name: "_sync_id",
    ty: Ty::Utf8,
    source: Source::SyncId,
    doc: "The sync that wrote the row.",
};

/// Turns one API record into the rows of a table (most tables: the record itself).
pub type RowFn = for<'a> fn(&'a Value<'a>) -> Result<Vec<Row<'a>>, String>;

/// One row of a table, as its row function makes it.
#[derive(Debug, Clone)]
pub enum Row<'a> {
    /// A JSON object the columns' pointers read: usually the API record itself.
    Json(Cow<'a, Value<'a>>),
    /// The value of every column, in column order, already picked out of the record (the
    /// entries of `_sync_id` and parent-id columns are ignored). For derived tables with many
    /// rows per record (field values: one per value), which would otherwise build a JSON
    /// object per row only to read it back: the hottest path of a sync.
    Picked(Vec<Cow<'a, Value<'a>>>),
}

/// A table the step writes: its rows, their columns and their key.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub doc: &'static str,
    pub rows: RowFn,
    pub columns: &'static [Column],
    pub primary_key: &'static [&'static str],
}

/// The identity row function: the record is the row.
pub fn each_record<'a>(record: &'a Value<'a>) -> Result<Vec<Row<'a>>, String> {
    Ok(vec![Row::Json(Cow::Borrowed(record))])
}

/// A converted cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Micros(i64),
    /// Compact JSON text (serialized once, when the cell is read).
    Json(String),
    StrList(Vec<String>),
    IntList(Vec<i64>),
}

/// Reads one column of one row. `parent` looks up the job's parent ids.
pub fn cell(
    column: &Column,
    row: &Value,
    sync_id: &str,
    parent: impl Fn(&str) -> Option<i64>,
) -> Result<Cell, String> {
    let value = match column.source {
        Source::SyncId => return Ok(Cell::Str(sync_id.to_string())),
        Source::Parent(key) => return Ok(parent(key).map(Cell::Int).unwrap_or(Cell::Null)),
        Source::At(pointer) => record::at(row, pointer).unwrap_or(&record::NULL),
    };
    convert(column, value)
}

/// Converts `row` into one cell per column of `columns`, each appended to its column.
pub fn push_row(
    columns: &[Column],
    row: &Row,
    sync_id: &str,
    parent: impl Fn(&str) -> Option<i64>,
    cells: &mut [Vec<Cell>],
) -> Result<(), String> {
    match row {
        Row::Json(v) => {
            for (c, column) in columns.iter().enumerate() {
                cells[c].push(cell(column, v, sync_id, &parent)?);
            }
        }
        Row::Picked(values) => {
            if values.len() != columns.len() {
                return Err(format!(
                    "a derived row has {} values for {} columns",
                    values.len(),
                    columns.len()
                ));
            }
            for (c, (column, v)) in columns.iter().zip(values).enumerate() {
                cells[c].push(match column.source {
                    Source::At(_) => convert(column, v)?,
                    _ => cell(column, &record::NULL, sync_id, &parent)?,
                });
            }
        }
    }
    Ok(())
}

fn convert(column: &Column, v: &Value) -> Result<Cell, String> {
    let wrong = |what: &str| format!("column {}: expected {what}, got {}", column.name, short(v));
    if v.is_null() {
        return Ok(Cell::Null);
    }
    Ok(match column.ty {
        Ty::Int64 => match v {
            Value::String(s) => Cell::Int(s.parse().map_err(|_| wrong("an integer"))?),
            _ => Cell::Int(v.as_i64().ok_or_else(|| wrong("an integer"))?),
        },
        Ty::Float64 => Cell::Float(v.cast_f64().ok_or_else(|| wrong("a number"))?),
        Ty::Utf8 => match v {
            Value::String(s) => Cell::Str(s.to_string()),
            // Numbers and booleans as their JSON text (null returned above).
            Value::Static(_) => Cell::Str(record::text(v)),
            _ => return Err(wrong("a string")),
        },
        Ty::Bool => Cell::Bool(v.as_bool().ok_or_else(|| wrong("a boolean"))?),
        Ty::Timestamp => {
            let s = v.as_str().ok_or_else(|| wrong("a timestamp"))?;
            Cell::Micros(parse_timestamp(s).ok_or_else(|| wrong("an ISO 8601 timestamp"))?)
        }
        Ty::Json => Cell::Json(record::text(v)),
        Ty::Utf8List => {
            let items = v.as_array().ok_or_else(|| wrong("a list of strings"))?;
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(
                    i.as_str()
                        .ok_or_else(|| wrong("a list of strings"))?
                        .to_string(),
                );
            }
            Cell::StrList(out)
        }
        Ty::Int64List => {
            let items = v.as_array().ok_or_else(|| wrong("a list of integers"))?;
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(i.as_i64().ok_or_else(|| wrong("a list of integers"))?);
            }
            Cell::IntList(out)
        }
    })
}

fn short(v: &Value) -> String {
    let s = record::text(v);
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Parses ISO 8601 timestamps as Affinity writes them (`2023-01-01T00:00:00Z`,
/// `2017-05-04T10:44:31.526-08:00`; a missing offset means UTC) into UTC microseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        let with_z = if s.len() == 10 {
            format!("{s}T00:00:00Z")
        } else {
            format!("{s}Z")
        };
        OffsetDateTime::parse(&with_z, &Rfc3339).ok()
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000).ok()
}

/// Formats UTC microseconds as RFC 3339 (`2023-01-01T00:00:00.123456Z`).
pub fn format_timestamp(micros: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1_000)
        .expect("timestamp in range");
    t.format(&Rfc3339).expect("formattable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::rec;

    const ID: Column = col("id", Ty::Int64, "/id", "");
    const WHEN: Column = col("when", Ty::Timestamp, "/when", "");
    const TAGS: Column = col("tags", Ty::Utf8List, "/tags", "");

    #[test]
    fn cells_convert_or_fail_loudly() {
        let none = |_: &str| None;
        assert_eq!(
            cell(&ID, &rec!({"id": 7}), "s", none).unwrap(),
            Cell::Int(7)
        );
        assert_eq!(cell(&ID, &rec!({}), "s", none).unwrap(), Cell::Null);
        assert!(
            cell(&ID, &rec!({"id": "seven"}), "s", none)
                .unwrap_err()
                .contains("column id")
        );
        assert!(cell(&ID, &rec!({"id": 1.5}), "s", none).is_err());
        assert_eq!(
            cell(
                &WHEN,
                &rec!({"when": "2017-05-04T10:44:31.526-08:00"}),
                "s",
                none
            )
            .unwrap(),
            Cell::Micros(1_493_923_471_526_000)
        );
        assert_eq!(
            cell(&WHEN, &rec!({"when": "2023-01-01T00:00:00Z"}), "s", none).unwrap(),
            Cell::Micros(1_672_531_200_000_000)
        );
        assert!(cell(&WHEN, &rec!({"when": "last tuesday"}), "s", none).is_err());
        assert_eq!(
            cell(&TAGS, &rec!({"tags": ["a", "b"]}), "s", none).unwrap(),
            Cell::StrList(vec!["a".into(), "b".into()])
        );
        assert!(cell(&TAGS, &rec!({"tags": [1]}), "s", none).is_err());
        let parent = Column {
            name: "list_id",
            ty: Ty::Int64,
            source: Source::Parent("list_id"),
            doc: "",
        };
        assert_eq!(
            cell(&parent, &rec!({}), "s", |k| (k == "list_id").then_some(3)).unwrap(),
            Cell::Int(3)
        );
        assert_eq!(
            cell(&SYNC_ID, &rec!({}), "sync-1", none).unwrap(),
            Cell::Str("sync-1".into())
        );
    }

    #[test]
    fn timestamps_round_trip_in_utc() {
        let m = parse_timestamp("2022-12-31T16:00:00.123-08:00").unwrap();
        assert_eq!(format_timestamp(m), "2023-01-01T00:00:00.123Z");
        assert_eq!(parse_timestamp("2023-01-01"), Some(1_672_531_200_000_000));
    }
}
