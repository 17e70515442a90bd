//! Output tables: typed columns declared as data, and the conversion of JSON records into
//! typed rows.
//!
//! Every batch of a table has exactly the columns and types declared here, whatever a page
//! happens to contain, so a warehouse can load all batches of a table as one table. A value
//! that does not fit its column (a string where an id should be) is an error for the whole
//! page: a batch is either complete and correct, or not written.

use crate::record::{self, Value};
use arrow_array::ArrayRef;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType, Field};
use std::sync::Arc;
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
pub type RowFn = for<'a> fn(Value<'a>) -> Result<Vec<Row<'a>>, String>;

/// One row of a table, as its row function makes it.
#[derive(Debug, Clone)]
pub enum Row<'a> {
    /// A JSON object the columns' pointers read: usually the API record itself. `extra`
    /// adds top-level keys (ids lifted out of nested lists, a derived id), which the
    /// columns read before the record's own.
    Json {
        record: Value<'a>,
        extra: Vec<(&'static str, Pick<'a>)>,
    },
    /// The value of every column, in column order, already picked out of the record (the
    /// entries of `_sync_id` and parent-id columns are ignored). For derived tables with many
    /// rows per record (field values: one per value), which would otherwise look every
    /// column up by its pointer: the hottest path of a sync.
    Picked(Vec<Pick<'a>>),
}

impl<'a> Row<'a> {
    /// The record itself as the row.
    pub fn of(record: Value<'a>) -> Row<'a> {
        Row::Json {
            record,
            extra: vec![],
        }
    }
}

/// One value of a row: read from the page, or made from it.
#[derive(Debug, Clone)]
pub enum Pick<'a> {
    /// A value of the page.
    Value(Value<'a>),
    /// Text made from the page (a person's full name, `field-<id>`).
    Text(String),
    /// A list of values of the page (the ids of a note's persons).
    List(Vec<Value<'a>>),
}

impl Pick<'_> {
    pub const NULL: Pick<'static> = Pick::Value(record::NULL);
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

impl Table {
    /// This table's rows of `records` (from a page of `page_bytes`), as Arrow arrays in
    /// column order, with how many rows there are. `row_id` fills `_sync_id`, `parent` the
    /// parent-id columns. An error names the first value that does not fit its column.
    pub fn arrays(
        &self,
        records: &[Value],
        page_bytes: usize,
        row_id: &str,
        parent: impl Fn(&str) -> Option<i64>,
    ) -> Result<(usize, Vec<ArrayRef>), String> {
        let mut rows: Vec<Row> = vec![];
        for r in records {
            rows.extend((self.rows)(*r)?);
        }
        let mut columns = Columns::new(self.columns, rows.len(), page_bytes);
        for row in &rows {
            columns.push_row(row, row_id, &parent)?;
        }
        Ok((rows.len(), columns.finish()))
    }
}

/// The identity row function: the record is the row.
pub fn each_record(record: Value<'_>) -> Result<Vec<Row<'_>>, String> {
    Ok(vec![Row::of(record)])
}

/// One value of a batch read back ([`crate::batch_read`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Micros(i64),
    /// Compact JSON text.
    Json(String),
    StrList(Vec<String>),
    IntList(Vec<i64>),
}

/// The columns of one batch being filled: one Arrow builder per column, appended to row by
/// row. Values go from the parsed page straight into the arrays the encoders write, with no
/// owned cell per value in between (a `String` per text cell, later copied into the array and
/// freed, was a fifth of a page's time).
pub struct Columns {
    columns: &'static [Column],
    builders: Vec<Builder>,
    /// The JSON text of the cell being written (one buffer for the whole batch).
    scratch: Vec<u8>,
}

enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Bool(BooleanBuilder),
    Micros(TimestampMicrosecondBuilder),
    TextList(ListBuilder<StringBuilder>),
    IntList(ListBuilder<Int64Builder>),
}

impl Columns {
    /// Empty columns with room for `rows` rows, and for `json_bytes` of text in each JSON
    /// column: the length of the page the rows come from is a bound that rarely needs to
    /// grow (a JSON cell is the compact text of a value of the page), where a guess per row
    /// made the buffer grow, and copy itself, several times a page.
    pub fn new(columns: &'static [Column], rows: usize, json_bytes: usize) -> Columns {
        let builders = columns
            .iter()
            .map(|c| match c.ty {
                Ty::Int64 => Builder::Int(Int64Builder::with_capacity(rows)),
                Ty::Float64 => Builder::Float(Float64Builder::with_capacity(rows)),
                // A guess at the text per row; the buffer grows if it is short.
                Ty::Utf8 => Builder::Text(StringBuilder::with_capacity(rows, rows * 16)),
                Ty::Json => Builder::Text(StringBuilder::with_capacity(rows, json_bytes)),
                Ty::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
                Ty::Timestamp => Builder::Micros(
                    TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
                ),
                Ty::Utf8List => Builder::TextList(
                    ListBuilder::new(StringBuilder::new()).with_field(list_item(DataType::Utf8)),
                ),
                Ty::Int64List => Builder::IntList(
                    ListBuilder::new(Int64Builder::new()).with_field(list_item(DataType::Int64)),
                ),
            })
            .collect();
        Columns {
            columns,
            builders,
            scratch: Vec::with_capacity(256),
        }
    }

    /// Converts `row` and appends one value to every column. `parent` looks up the job's
    /// parent ids. On an error the columns are left part-filled: the page fails as a whole.
    pub fn push_row(
        &mut self,
        row: &Row,
        sync_id: &str,
        parent: impl Fn(&str) -> Option<i64>,
    ) -> Result<(), String> {
        if let Row::Picked(values) = row
            && values.len() != self.columns.len()
        {
            return Err(format!(
                "a derived row has {} values for {} columns",
                values.len(),
                self.columns.len()
            ));
        }
        for (c, column) in self.columns.iter().enumerate() {
            let builder = &mut self.builders[c];
            let scratch = &mut self.scratch;
            match column.source {
                Source::SyncId => text_builder(builder).append_value(sync_id),
                Source::Parent(key) => match (parent(key), builder) {
                    (Some(id), Builder::Int(b)) => b.append_value(id),
                    (None, builder) => append(column, builder, &Pick::NULL, scratch)?,
                    (Some(_), _) => {
                        return Err(format!(
                            "column {}: a parent id needs an integer column",
                            column.name
                        ));
                    }
                },
                Source::At(pointer) => match row {
                    Row::Json { record, extra } => {
                        let lifted = extra
                            .iter()
                            .find(|(k, _)| pointer.strip_prefix('/') == Some(*k))
                            .map(|(_, v)| v);
                        match lifted {
                            Some(v) => append(column, builder, v, scratch)?,
                            None => {
                                let v = record.at(pointer).unwrap_or(record::NULL);
                                append(column, builder, &Pick::Value(v), scratch)?
                            }
                        }
                    }
                    Row::Picked(values) => append(column, builder, &values[c], scratch)?,
                },
            }
        }
        Ok(())
    }

    /// The arrays, in column order, typed as [`crate::batch::schema`] declares them.
    pub fn finish(self) -> Vec<ArrayRef> {
        self.builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Int(mut b) => Arc::new(b.finish()),
                    Builder::Float(mut b) => Arc::new(b.finish()),
                    Builder::Text(mut b) => Arc::new(b.finish()),
                    Builder::Bool(mut b) => Arc::new(b.finish()),
                    Builder::Micros(mut b) => Arc::new(b.finish()),
                    Builder::TextList(mut b) => Arc::new(b.finish()),
                    Builder::IntList(mut b) => Arc::new(b.finish()),
                }
            })
            .collect()
    }
}

/// The field of a list column's items, as [`crate::batch::schema`] declares it.
pub(crate) fn list_item(ty: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", ty, true))
}

fn text_builder(b: &mut Builder) -> &mut StringBuilder {
    match b {
        Builder::Text(b) => b,
        _ => unreachable!("`_sync_id` is a text column"),
    }
}

/// Appends `v`, converted to `column`'s type, to its builder (which is of that type).
fn append(
    column: &Column,
    builder: &mut Builder,
    v: &Pick,
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    let wrong = |what: &str| format!("column {}: expected {what}, got {}", column.name, short(v));
    let v = match v {
        Pick::Value(v) => *v,
        Pick::Text(s) => {
            let Builder::Text(b) = builder else {
                return Err(wrong(expected(column.ty)));
            };
            if column.ty == Ty::Utf8 {
                b.append_value(s);
            } else {
                scratch.clear();
                record::write_str(s, scratch);
                b.append_value(std::str::from_utf8(scratch).expect("JSON text is UTF-8"));
            }
            return Ok(());
        }
        Pick::List(items) => {
            match builder {
                Builder::TextList(b) => {
                    for i in items {
                        let s = i.as_str().ok_or_else(|| wrong("a list of strings"))?;
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                Builder::IntList(b) => {
                    for i in items {
                        let n = i.as_i64().ok_or_else(|| wrong("a list of integers"))?;
                        b.values().append_value(n);
                    }
                    b.append(true);
                }
                Builder::Text(b) if column.ty == Ty::Json => {
                    scratch.clear();
                    write_list(items, scratch);
                    b.append_value(std::str::from_utf8(scratch).expect("JSON text is UTF-8"))
                }
                _ => return Err(wrong(expected(column.ty))),
            }
            return Ok(());
        }
    };
    match builder {
        _ if v.is_null() => match builder {
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Micros(b) => b.append_null(),
            Builder::TextList(b) => b.append_null(),
            Builder::IntList(b) => b.append_null(),
        },
        Builder::Int(b) => b.append_value(match v.as_str() {
            Some(s) => s.parse().map_err(|_| wrong("an integer"))?,
            None => v.as_i64().ok_or_else(|| wrong("an integer"))?,
        }),
        Builder::Float(b) => b.append_value(v.as_f64().ok_or_else(|| wrong("a number"))?),
        Builder::Text(b) => match v.as_str() {
            Some(s) if column.ty == Ty::Utf8 => b.append_value(s),
            // JSON columns hold any value's compact text; text columns take numbers and
            // booleans as their JSON text.
            _ if column.ty == Ty::Json || !(v.is_object() || v.is_array()) => {
                scratch.clear();
                record::write_text(v, scratch);
                b.append_value(std::str::from_utf8(scratch).expect("JSON text is UTF-8"))
            }
            _ => return Err(wrong("a string")),
        },
        Builder::Bool(b) => b.append_value(v.as_bool().ok_or_else(|| wrong("a boolean"))?),
        Builder::Micros(b) => {
            let s = v.as_str().ok_or_else(|| wrong("a timestamp"))?;
            b.append_value(parse_timestamp(s).ok_or_else(|| wrong("an ISO 8601 timestamp"))?)
        }
        Builder::TextList(b) => {
            let items = v.items().ok_or_else(|| wrong("a list of strings"))?;
            for i in items {
                let s = i.as_str().ok_or_else(|| wrong("a list of strings"))?;
                b.values().append_value(s);
            }
            b.append(true);
        }
        Builder::IntList(b) => {
            let items = v.items().ok_or_else(|| wrong("a list of integers"))?;
            for i in items {
                let n = i.as_i64().ok_or_else(|| wrong("a list of integers"))?;
                b.values().append_value(n);
            }
            b.append(true);
        }
    }
    Ok(())
}

/// What a column of type `ty` takes, for error messages.
fn expected(ty: Ty) -> &'static str {
    match ty {
        Ty::Int64 => "an integer",
        Ty::Float64 => "a number",
        Ty::Utf8 => "a string",
        Ty::Bool => "a boolean",
        Ty::Timestamp => "a timestamp",
        Ty::Json => "any JSON",
        Ty::Utf8List => "a list of strings",
        Ty::Int64List => "a list of integers",
    }
}

/// The compact JSON text of a list of values.
fn write_list(items: &[Value], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        record::write_text(*x, out);
    }
    out.push(b']');
}

/// The compact JSON text of a value of a row.
pub fn pick_text(v: &Pick) -> String {
    let mut out = vec![];
    match v {
        Pick::Value(v) => record::write_text(*v, &mut out),
        Pick::Text(s) => record::write_str(s, &mut out),
        Pick::List(items) => write_list(items, &mut out),
    }
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// A value for an error message: its JSON text, cut at 60 characters.
fn short(v: &Pick) -> String {
    let s = pick_text(v);
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
    const PARENT: Column = Column {
        name: "list_id",
        ty: Ty::Int64,
        source: Source::Parent("list_id"),
        doc: "",
    };

    /// `column` of `row`, through the builders and read back from the array.
    fn cell(
        column: &'static Column,
        row: Value<'static>,
        sync_id: &str,
        parent: impl Fn(&str) -> Option<i64>,
    ) -> Result<Cell, String> {
        let mut columns = Columns::new(std::slice::from_ref(column), 1, 0);
        columns.push_row(&Row::of(row), sync_id, parent)?;
        let mut cells = vec![];
        crate::batch_read::append_column("t", column, &columns.finish()[0], &mut cells)
            .expect("the array has the column's type");
        Ok(cells.pop().expect("one row"))
    }

    #[test]
    fn cells_convert_or_fail_loudly() {
        let none = |_: &str| None;
        assert_eq!(cell(&ID, rec!({"id": 7}), "s", none).unwrap(), Cell::Int(7));
        assert_eq!(cell(&ID, rec!({}), "s", none).unwrap(), Cell::Null);
        assert!(
            cell(&ID, rec!({"id": "seven"}), "s", none)
                .unwrap_err()
                .contains("column id")
        );
        assert!(cell(&ID, rec!({"id": 1.5}), "s", none).is_err());
        assert_eq!(
            cell(
                &WHEN,
                rec!({"when": "2017-05-04T10:44:31.526-08:00"}),
                "s",
                none
            )
            .unwrap(),
            Cell::Micros(1_493_923_471_526_000)
        );
        assert_eq!(
            cell(&WHEN, rec!({"when": "2023-01-01T00:00:00Z"}), "s", none).unwrap(),
            Cell::Micros(1_672_531_200_000_000)
        );
        assert!(cell(&WHEN, rec!({"when": "last tuesday"}), "s", none).is_err());
        assert_eq!(
            cell(&TAGS, rec!({"tags": ["a", "b"]}), "s", none).unwrap(),
            Cell::StrList(vec!["a".into(), "b".into()])
        );
        assert!(cell(&TAGS, rec!({"tags": [1]}), "s", none).is_err());
        assert_eq!(
            cell(&PARENT, rec!({}), "s", |k| (k == "list_id").then_some(3)).unwrap(),
            Cell::Int(3)
        );
        assert_eq!(
            cell(&SYNC_ID, rec!({}), "sync-1", none).unwrap(),
            Cell::Str("sync-1".into())
        );
    }

    #[test]
    fn made_values_and_lifted_keys_convert_like_page_values() {
        const NAME: Column = col("name", Ty::Utf8, "/name", "");
        const RAW: Column = col("raw", Ty::Json, "/raw", "");
        const IDS: Column = col("ids", Ty::Int64List, "/ids", "");
        static COLUMNS: [Column; 4] = [NAME, RAW, IDS, ID];
        let record = rec!({"id": 4, "ids": [9], "list": [1, 2, "x"], "name": "page"});
        let list: Vec<Value> = record.get("list").unwrap().items().unwrap().collect();
        let row = |extra: Vec<(&'static str, Pick<'static>)>| Row::Json { record, extra };
        let cells = |row: Row| {
            let mut columns = Columns::new(&COLUMNS, 1, 0);
            columns.push_row(&row, "s", |_| None)?;
            let mut cells = vec![];
            for (column, array) in COLUMNS.iter().zip(columns.finish()) {
                crate::batch_read::append_column("t", column, &array, &mut cells).unwrap();
            }
            Ok::<_, String>(cells)
        };
        // Lifted keys answer before the record's own; the rest read the record.
        assert_eq!(
            cells(row(vec![
                ("name", Pick::Text("Ann \"A\" Lee".into())),
                ("raw", Pick::List(list[..2].to_vec())),
            ]))
            .unwrap(),
            [
                Cell::Str("Ann \"A\" Lee".into()),
                Cell::Json("[1,2]".into()),
                Cell::IntList(vec![9]),
                Cell::Int(4),
            ]
        );
        assert_eq!(
            cells(row(vec![
                ("raw", Pick::Text("é\n".into())),
                ("ids", Pick::List(list[..2].to_vec())),
            ]))
            .unwrap()[1..3],
            [Cell::Json(r#""é\n""#.into()), Cell::IntList(vec![1, 2])]
        );
        let err = cells(row(vec![("ids", Pick::List(list.clone()))])).unwrap_err();
        assert!(
            err.contains("column ids: expected a list of integers"),
            "{err}"
        );
        let err = cells(row(vec![("ids", Pick::Text("1".into()))])).unwrap_err();
        assert!(
            err.contains(r#"column ids: expected a list of integers, got "1""#),
            "{err}"
        );
        let err = cells(Row::Picked(vec![Pick::NULL])).unwrap_err();
        assert!(err.contains("1 values for 4 columns"), "{err}");
    }

    #[test]
    fn timestamps_round_trip_in_utc() {
        let m = parse_timestamp("2022-12-31T16:00:00.123-08:00").unwrap();
        assert_eq!(format_timestamp(m), "2023-01-01T00:00:00.123Z");
        assert_eq!(parse_timestamp("2023-01-01"), Some(1_672_531_200_000_000));
    }
}
