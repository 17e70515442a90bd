//! Batch encoders: the rows of one page of one table, as Parquet or gzip NDJSON bytes.
//!
//! Both encoders are deterministic (same rows, same bytes), so a re-processed job rewrites
//! an identical object. Parquet columns use types every warehouse reads: signed 64-bit ints,
//! doubles, UTF-8, booleans, microsecond timestamps in UTC, and lists of strings or ints;
//! JSON is kept as UTF-8 text. NDJSON writes the same columns in the same order, timestamps
//! as RFC 3339 UTC strings and JSON columns as nested JSON.

use crate::table::{Cell, Column, Table, Ty, format_timestamp};
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::io::Write;
use std::sync::Arc;

/// Output format of batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Ndjson,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Ndjson => "ndjson.gz",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Ndjson => "ndjson",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "parquet" => Some(Format::Parquet),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            _ => None,
        }
    }
}

/// The rows of one batch, column by column.
#[derive(Debug)]
pub struct Rows<'a> {
    pub table: &'a Table,
    /// `cells[c][r]`: column `c` of row `r`.
    pub cells: Vec<Vec<Cell>>,
    pub len: usize,
}

fn item(nullable: bool, ty: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", ty, nullable))
}

/// The Arrow type of a column.
pub fn arrow_type(ty: Ty) -> DataType {
    match ty {
        Ty::Int64 => DataType::Int64,
        Ty::Float64 => DataType::Float64,
        Ty::Utf8 | Ty::Json => DataType::Utf8,
        Ty::Bool => DataType::Boolean,
        Ty::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Ty::Utf8List => DataType::List(item(true, DataType::Utf8)),
        Ty::Int64List => DataType::List(item(true, DataType::Int64)),
    }
}

/// The Arrow schema every batch of `table` has.
pub fn schema(table: &Table) -> Schema {
    Schema::new(
        table
            .columns
            .iter()
            .map(|c| Field::new(c.name, arrow_type(c.ty), c.name != "_sync_id"))
            .collect::<Vec<_>>(),
    )
}

fn array<'a>(column: &Column, cells: &'a [Cell]) -> ArrayRef {
    match column.ty {
        Ty::Int64 => {
            let mut b = Int64Builder::with_capacity(cells.len());
            cells
                .iter()
                .for_each(|c| b.append_option(if let Cell::Int(v) = c { Some(*v) } else { None }));
            Arc::new(b.finish())
        }
        Ty::Float64 => {
            let mut b = Float64Builder::with_capacity(cells.len());
            cells.iter().for_each(|c| {
                b.append_option(if let Cell::Float(v) = c {
                    Some(*v)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        Ty::Utf8 | Ty::Json => {
            let text = |c: &'a Cell| match c {
                Cell::Str(v) | Cell::Json(v) => Some(v.as_str()),
                _ => None,
            };
            // Sized up front: a page's JSON column holds hundreds of kilobytes, which growing
            // by doubling would copy several times over.
            let bytes = cells.iter().filter_map(text).map(str::len).sum();
            let mut b = StringBuilder::with_capacity(cells.len(), bytes);
            cells.iter().for_each(|c| b.append_option(text(c)));
            Arc::new(b.finish())
        }
        Ty::Bool => {
            let mut b = BooleanBuilder::with_capacity(cells.len());
            cells.iter().for_each(|c| {
                b.append_option(if let Cell::Bool(v) = c {
                    Some(*v)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        Ty::Timestamp => {
            let mut b =
                TimestampMicrosecondBuilder::with_capacity(cells.len()).with_timezone("UTC");
            cells.iter().for_each(|c| {
                b.append_option(if let Cell::Micros(v) = c {
                    Some(*v)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        Ty::Utf8List => {
            let mut b =
                ListBuilder::new(StringBuilder::new()).with_field(item(true, DataType::Utf8));
            for c in cells {
                match c {
                    Cell::StrList(items) => {
                        items.iter().for_each(|s| b.values().append_value(s));
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        Ty::Int64List => {
            let mut b =
                ListBuilder::new(Int64Builder::new()).with_field(item(true, DataType::Int64));
            for c in cells {
                match c {
                    Cell::IntList(items) => {
                        items.iter().for_each(|v| b.values().append_value(*v));
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
    }
}

/// The rows as an Arrow record batch with the table's schema.
pub fn record_batch(rows: &Rows) -> RecordBatch {
    let arrays: Vec<ArrayRef> = rows
        .table
        .columns
        .iter()
        .zip(&rows.cells)
        .map(|(c, cells)| array(c, cells))
        .collect();
    RecordBatch::try_new(Arc::new(schema(rows.table)), arrays)
        .expect("arrays match the declared schema")
}

pub fn encode(rows: &Rows, format: Format) -> Vec<u8> {
    match format {
        Format::Parquet => parquet(rows),
        Format::Ndjson => ndjson_gz(rows),
    }
}

fn parquet(rows: &Rows) -> Vec<u8> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::schema::types::ColumnPath;
    let batch = record_batch(rows);
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("affinity-sync {}", env!("CARGO_PKG_VERSION")));
    // JSON text is long and rarely repeats: a dictionary only costs time (it falls back to
    // plain anyway), and min/max statistics over it prune nothing.
    for c in rows.table.columns.iter().filter(|c| c.ty == Ty::Json) {
        let path = ColumnPath::from(c.name);
        props = props
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    let props = props.build();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("valid schema");
    writer.write(&batch).expect("writing to memory");
    writer.close().expect("closing in memory");
    out
}

fn ndjson_gz(rows: &Rows) -> Vec<u8> {
    // Level 1: several times faster than the default 6 on this data, for output about a fifth
    // larger (measured by `cargo bench -p affinity-sync-core --bench page_to_batch`).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut line = Vec::with_capacity(512);
    for r in 0..rows.len {
        line.clear();
        line.push(b'{');
        for (i, column) in rows.table.columns.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            serde_json::to_writer(&mut line, column.name).expect("json");
            line.push(b':');
            let cell = &rows.cells[i][r];
            match cell {
                Cell::Null => line.extend_from_slice(b"null"),
                Cell::Int(v) => line.extend_from_slice(v.to_string().as_bytes()),
                Cell::Float(v) => serde_json::to_writer(&mut line, v).expect("json"),
                Cell::Str(v) => serde_json::to_writer(&mut line, v).expect("json"),
                Cell::Bool(v) => line.extend_from_slice(if *v { b"true" } else { b"false" }),
                Cell::Micros(v) => {
                    serde_json::to_writer(&mut line, &format_timestamp(*v)).expect("json")
                }
                // Already compact JSON text.
                Cell::Json(v) => line.extend_from_slice(v.as_bytes()),
                Cell::StrList(v) => serde_json::to_writer(&mut line, v).expect("json"),
                Cell::IntList(v) => serde_json::to_writer(&mut line, v).expect("json"),
            }
        }
        line.extend_from_slice(b"}\n");
        gz.write_all(&line).expect("writing to memory");
    }
    gz.finish().expect("finishing in memory")
}
