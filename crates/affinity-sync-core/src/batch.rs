//! Batch encoders: the rows of one page of one table, as Parquet or gzip NDJSON bytes.
//!
//! Both encoders are deterministic (same rows, same bytes), so a re-processed job rewrites
//! an identical object. Parquet columns use types every warehouse reads: signed 64-bit ints,
//! doubles, UTF-8, booleans, microsecond timestamps in UTC, and lists of strings or ints;
//! JSON is kept as UTF-8 text. NDJSON writes the same columns in the same order, timestamps
//! as RFC 3339 UTC strings and JSON columns as nested JSON.

use crate::table::{Column, Source, Table, Ty, format_timestamp, list_item};
use arrow_array::types::Float64Type;
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

/// The Arrow type of a column.
pub fn arrow_type(ty: Ty) -> DataType {
    match ty {
        Ty::Int64 => DataType::Int64,
        Ty::Float64 => DataType::Float64,
        Ty::Utf8 | Ty::Json => DataType::Utf8,
        Ty::Bool => DataType::Boolean,
        Ty::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Ty::Utf8List => DataType::List(list_item(DataType::Utf8)),
        Ty::Int64List => DataType::List(list_item(DataType::Int64)),
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

/// The arrays of one batch of `table` (as [`crate::table::Columns::finish`] makes them),
/// encoded.
pub fn encode(table: &'static Table, arrays: Vec<ArrayRef>, format: Format) -> Vec<u8> {
    let batch = RecordBatch::try_new(Arc::new(schema(table)), arrays)
        .expect("arrays match the declared schema");
    match format {
        Format::Parquet => parquet(table, &batch),
        Format::Ndjson => ndjson_gz(table, &batch),
    }
}

fn parquet(table: &Table, batch: &RecordBatch) -> Vec<u8> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::schema::types::ColumnPath;
    // Statistics per column chunk, not per page: a batch is one page of the API, so one row
    // group of (nearly always) one data page per column, and a page index would repeat the
    // chunk's min/max at the cost of a second pass over every value.
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("affinity-sync {}", env!("CARGO_PKG_VERSION")));
    // Min/max statistics only where a reader can skip a file by them: ids, numbers, times and
    // flags (pages come in id order, so a file's id range is narrow) and the sync id. A text
    // column's min/max spans nearly every value (a page holds a spread of names, emails and
    // field values), so it prunes nothing, and working it out compared every value: measured
    // by the benchmark's "Parquet encoding only" case.
    for c in table.columns.iter().filter(|c| unprunable_text(c)) {
        props = props.set_column_statistics_enabled(leaf_path(c), EnabledStatistics::None);
    }
    // JSON text is long and rarely repeats: a dictionary only costs time (it falls back to
    // plain anyway).
    for c in table.columns.iter().filter(|c| c.ty == Ty::Json) {
        props = props.set_column_dictionary_enabled(ColumnPath::from(c.name), false);
    }
    let props = props.build();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("valid schema");
    writer.write(batch).expect("writing to memory");
    writer.close().expect("closing in memory");
    out
}

/// The Parquet path of a column's values: a list's values are its leaf `<name>.list.item`.
fn leaf_path(c: &Column) -> parquet::schema::types::ColumnPath {
    let name = c.name.to_string();
    match c.ty {
        Ty::Utf8List | Ty::Int64List => vec![name, "list".into(), "item".into()].into(),
        _ => vec![name].into(),
    }
}

/// A column of free text (text, JSON, lists of text), other than the sync id.
fn unprunable_text(c: &Column) -> bool {
    matches!(c.ty, Ty::Utf8 | Ty::Json | Ty::Utf8List) && !matches!(c.source, Source::SyncId)
}

fn ndjson_gz(table: &Table, batch: &RecordBatch) -> Vec<u8> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    // Level 1: several times faster than the default 6 on this data, for output about a fifth
    // larger (measured by `cargo bench -p affinity-sync-core --bench page_to_batch`). flate2's
    // zlib-rs backend (pure Rust, also on wasm32-wasip2) writes a v2 persons page as fast as
    // miniz_oxide did, and its field value batches 7-8% smaller.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let keys: Vec<String> = table
        .columns
        .iter()
        .map(|c| serde_json::to_string(c.name).expect("json") + ":")
        .collect();
    let mut line = Vec::with_capacity(512);
    for r in 0..batch.num_rows() {
        line.clear();
        line.push(b'{');
        for (i, (column, array)) in table.columns.iter().zip(batch.columns()).enumerate() {
            if i > 0 {
                line.push(b',');
            }
            line.extend_from_slice(keys[i].as_bytes());
            if array.is_null(r) {
                line.extend_from_slice(b"null");
                continue;
            }
            let out = &mut line;
            match column.ty {
                Ty::Int64 => json(out, &array.as_primitive::<Int64Type>().value(r)),
                Ty::Float64 => json(out, &array.as_primitive::<Float64Type>().value(r)),
                Ty::Utf8 => json(out, array.as_string::<i32>().value(r)),
                // Already compact JSON text.
                Ty::Json => out.extend_from_slice(array.as_string::<i32>().value(r).as_bytes()),
                Ty::Bool => json(out, &array.as_boolean().value(r)),
                Ty::Timestamp => {
                    let micros = array.as_primitive::<TimestampMicrosecondType>().value(r);
                    json(out, &format_timestamp(micros))
                }
                Ty::Utf8List => {
                    let items = array.as_list::<i32>().value(r);
                    let items = items.as_string::<i32>();
                    json(
                        out,
                        &items
                            .iter()
                            .map(|s| s.unwrap_or_default())
                            .collect::<Vec<_>>(),
                    )
                }
                Ty::Int64List => {
                    let items = array.as_list::<i32>().value(r);
                    json(out, items.as_primitive::<Int64Type>().values().as_ref())
                }
            }
        }
        line.extend_from_slice(b"}\n");
        gz.write_all(&line).expect("writing to memory");
    }
    gz.finish().expect("finishing in memory")
}

fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(out, v).expect("writing JSON to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::rec;
    use crate::table::{Columns, Row};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn parquet_keeps_statistics_that_can_skip_a_file_and_no_others() {
        let table = &crate::catalog::stream("persons").unwrap().tables[0];
        let mut columns = Columns::new(table.columns, 2, 0);
        for person in [
            rec!({"id": 3, "firstName": "Ann", "emailAddresses": ["a@x.io"], "type": "external"}),
            rec!({"id": 9, "firstName": "Bo", "emailAddresses": [], "type": "internal"}),
        ] {
            columns
                .push_row(&Row::of(person), "sync-1", |_| None)
                .unwrap();
        }
        let bytes = encode(table, columns.finish(), Format::Parquet);
        let file = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        let group = file.metadata().row_group(0);
        let with_stats: Vec<&str> = group
            .columns()
            .iter()
            .filter(|c| c.statistics().is_some())
            .map(|c| c.column_path().parts()[0].as_str())
            .collect();
        assert_eq!(with_stats, ["_sync_id", "id"]);
        let id = group.columns()[1].statistics().unwrap();
        assert_eq!(
            (id.min_bytes_opt(), id.max_bytes_opt()),
            (Some(&3i64.to_le_bytes()[..]), Some(&9i64.to_le_bytes()[..]))
        );
    }
}
