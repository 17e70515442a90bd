//! Reading a batch back: the bytes of one Parquet or gzip NDJSON object as the rows of its
//! table, typed as the catalog declares them.
//!
//! Loaders that do not read Parquet themselves (`load postgres`, which feeds PostgreSQL's
//! binary COPY) need the cells of every batch. Columns are found by name, so a batch written
//! before a column was added reads back with that column null, and column order in the file
//! does not matter. A value of the wrong type is an error naming the table and column, never
//! a silent null.

use crate::batch::Format;
use crate::table::{Cell, Column, Table, Ty, parse_timestamp};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde_json::Value;
use std::io::Read;

/// The rows of one batch read back, column by column.
#[derive(Debug)]
pub struct Rows<'a> {
    pub table: &'a Table,
    /// `cells[c][r]`: column `c` of row `r`.
    pub cells: Vec<Vec<Cell>>,
    pub len: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the batch is not valid {format}: {reason}")]
    Corrupt {
        format: &'static str,
        reason: String,
    },
    #[error("column {column} of {table} holds {found}, not {expected:?}")]
    WrongType {
        table: &'static str,
        column: &'static str,
        found: String,
        expected: Ty,
    },
}

/// The rows of one batch of `table`.
pub fn read(
    table: &'static Table,
    format: Format,
    bytes: Vec<u8>,
) -> Result<Rows<'static>, ReadError> {
    match format {
        Format::Parquet => parquet(table, bytes),
        Format::Ndjson => ndjson(table, &bytes),
    }
}

fn corrupt(format: &'static str, reason: impl ToString) -> ReadError {
    ReadError::Corrupt {
        format,
        reason: reason.to_string(),
    }
}

fn parquet(table: &'static Table, bytes: Vec<u8>) -> Result<Rows<'static>, ReadError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| corrupt("Parquet", e))?
        .build()
        .map_err(|e| corrupt("Parquet", e))?;
    let mut cells: Vec<Vec<Cell>> = vec![vec![]; table.columns.len()];
    let mut len = 0;
    for batch in reader {
        let batch = batch.map_err(|e| corrupt("Parquet", e))?;
        append_batch(table, &batch, &mut cells)?;
        len += batch.num_rows();
    }
    Ok(Rows { table, cells, len })
}

fn append_batch(
    table: &'static Table,
    batch: &RecordBatch,
    cells: &mut [Vec<Cell>],
) -> Result<(), ReadError> {
    for (c, column) in table.columns.iter().enumerate() {
        let out = &mut cells[c];
        match batch.column_by_name(column.name) {
            Some(array) => append_column(table.name, column, array, out)?,
            None => out.extend((0..batch.num_rows()).map(|_| Cell::Null)),
        }
    }
    Ok(())
}

/// The cells of one column's array, appended to `out`.
pub(crate) fn append_column(
    table: &'static str,
    column: &Column,
    array: &dyn Array,
    out: &mut Vec<Cell>,
) -> Result<(), ReadError> {
    let wrong = || ReadError::WrongType {
        table,
        column: column.name,
        found: array.data_type().to_string(),
        expected: column.ty,
    };
    let valid = |i: usize| array.is_valid(i);
    match (column.ty, array.data_type()) {
        (Ty::Int64, DataType::Int64) => {
            let a = array.as_primitive::<Int64Type>();
            out.extend((0..a.len()).map(|i| {
                if valid(i) {
                    Cell::Int(a.value(i))
                } else {
                    Cell::Null
                }
            }));
        }
        (Ty::Float64, DataType::Float64) => {
            let a = array.as_primitive::<Float64Type>();
            out.extend((0..a.len()).map(|i| {
                if valid(i) {
                    Cell::Float(a.value(i))
                } else {
                    Cell::Null
                }
            }));
        }
        (Ty::Utf8 | Ty::Json, DataType::Utf8) => {
            let a = array.as_string::<i32>();
            let json = column.ty == Ty::Json;
            out.extend((0..a.len()).map(|i| match (valid(i), json) {
                (false, _) => Cell::Null,
                (true, false) => Cell::Str(a.value(i).to_string()),
                (true, true) => Cell::Json(a.value(i).to_string()),
            }));
        }
        (Ty::Bool, DataType::Boolean) => {
            let a = array.as_boolean();
            out.extend((0..a.len()).map(|i| {
                if valid(i) {
                    Cell::Bool(a.value(i))
                } else {
                    Cell::Null
                }
            }));
        }
        (Ty::Timestamp, DataType::Timestamp(TimeUnit::Microsecond, _)) => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            out.extend((0..a.len()).map(|i| {
                if valid(i) {
                    Cell::Micros(a.value(i))
                } else {
                    Cell::Null
                }
            }));
        }
        (Ty::Utf8List, DataType::List(f)) if f.data_type() == &DataType::Utf8 => {
            let a = array.as_list::<i32>();
            for i in 0..a.len() {
                out.push(if valid(i) {
                    let items = a.value(i);
                    let items = items.as_string::<i32>();
                    Cell::StrList(
                        (0..items.len())
                            .map(|j| items.value(j).to_string())
                            .collect(),
                    )
                } else {
                    Cell::Null
                });
            }
        }
        (Ty::Int64List, DataType::List(f)) if f.data_type() == &DataType::Int64 => {
            let a = array.as_list::<i32>();
            for i in 0..a.len() {
                out.push(if valid(i) {
                    let items = a.value(i);
                    let items = items.as_primitive::<Int64Type>();
                    Cell::IntList((0..items.len()).map(|j| items.value(j)).collect())
                } else {
                    Cell::Null
                });
            }
        }
        _ => return Err(wrong()),
    }
    Ok(())
}

fn ndjson(table: &'static Table, bytes: &[u8]) -> Result<Rows<'static>, ReadError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| corrupt("gzip NDJSON", e))?;
    let mut cells: Vec<Vec<Cell>> = vec![vec![]; table.columns.len()];
    let mut len = 0;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: serde_json::Map<String, Value> = serde_json::from_str(line)
            .map_err(|e| corrupt("gzip NDJSON", format!("line {}: {e}", n + 1)))?;
        for (c, column) in table.columns.iter().enumerate() {
            let v = row.get(column.name).unwrap_or(&Value::Null);
            let cell = json_cell(column.ty, v).ok_or_else(|| ReadError::WrongType {
                table: table.name,
                column: column.name,
                found: format!("{v} (line {})", n + 1),
                expected: column.ty,
            })?;
            cells[c].push(cell);
        }
        len += 1;
    }
    Ok(Rows { table, cells, len })
}

/// The cell a JSON value of an NDJSON batch stands for, as the encoder wrote it.
fn json_cell(ty: Ty, v: &Value) -> Option<Cell> {
    if v.is_null() {
        return Some(Cell::Null);
    }
    Some(match ty {
        Ty::Int64 => Cell::Int(v.as_i64()?),
        Ty::Float64 => Cell::Float(v.as_f64()?),
        Ty::Utf8 => Cell::Str(v.as_str()?.to_string()),
        Ty::Json => Cell::Json(v.to_string()),
        Ty::Bool => Cell::Bool(v.as_bool()?),
        Ty::Timestamp => Cell::Micros(parse_timestamp(v.as_str()?)?),
        Ty::Utf8List => Cell::StrList(
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
        ),
        Ty::Int64List => Cell::IntList(
            v.as_array()?
                .iter()
                .map(Value::as_i64)
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::encode;
    use crate::catalog::STREAMS;
    use serde_json::json;

    /// One value of every kind a column of `ty` can hold (and a null in row 1), as the API
    /// sends it, and the cell it reads back as.
    fn sample(ty: Ty, row: usize) -> (serde_json::Value, Cell) {
        if row == 1 {
            return (Value::Null, Cell::Null);
        }
        let micros = 1_732_406_400_123_456 + row as i64;
        match ty {
            Ty::Int64 => (json!(-42 + row as i64), Cell::Int(-42 + row as i64)),
            Ty::Float64 => (json!(0.1 + row as f64), Cell::Float(0.1 + row as f64)),
            Ty::Utf8 => {
                let s = format!("Zoë \"quoted\" {row}");
                (json!(s), Cell::Str(s))
            }
            Ty::Json => (
                json!({"row": row, "a": [1, 2.5, "x"]}),
                Cell::Json(format!(r#"{{"a":[1,2.5,"x"],"row":{row}}}"#)),
            ),
            Ty::Bool => (json!(row == 0), Cell::Bool(row == 0)),
            Ty::Timestamp => (
                json!(crate::table::format_timestamp(micros)),
                Cell::Micros(micros),
            ),
            Ty::Utf8List => (
                json!(["a", format!("b{row}")]),
                Cell::StrList(vec!["a".into(), format!("b{row}")]),
            ),
            Ty::Int64List => (
                json!([1, -2, row as i64]),
                Cell::IntList(vec![1, -2, row as i64]),
            ),
        }
    }

    #[test]
    fn every_table_reads_back_what_was_written_in_both_formats() {
        use crate::table::{Columns, Row, Source};
        let sync_id = "20261125T000000Z-ab12";
        for table in STREAMS.iter().flat_map(|s| s.tables.iter()) {
            let mut want: Vec<Vec<Cell>> = vec![vec![]; table.columns.len()];
            let mut columns = Columns::new(table.columns, 3, 0);
            for r in 0..3 {
                let mut values = vec![];
                for (c, column) in table.columns.iter().enumerate() {
                    let (value, cell) = sample(column.ty, r);
                    want[c].push(match column.source {
                        // Never null: the sync that wrote the row.
                        Source::SyncId => Cell::Str(sync_id.into()),
                        Source::Parent(_) => Cell::Int(5),
                        Source::At(_) => cell,
                    });
                    values.push(crate::table::Pick::Value(crate::record::leaked(value)));
                }
                columns
                    .push_row(&Row::Picked(values), sync_id, |_| Some(5))
                    .unwrap();
            }
            let arrays = columns.finish();
            for format in [Format::Parquet, Format::Ndjson] {
                let bytes = encode(table, arrays.clone(), format);
                let back = read(table, format, bytes).unwrap();
                assert_eq!(back.len, 3, "{} {format:?}", table.name);
                assert_eq!(back.cells, want, "{} {format:?}", table.name);
            }
        }
    }

    fn gz(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_missing_column_reads_as_null_and_a_wrong_type_is_an_error() {
        let table = crate::catalog::table("persons").unwrap();
        let back = read(table, Format::Ndjson, gz("{\"id\": 7}\n\n")).unwrap();
        assert_eq!(back.len, 1);
        for (c, column) in table.columns.iter().enumerate() {
            let want = if column.name == "id" {
                Cell::Int(7)
            } else {
                Cell::Null
            };
            assert_eq!(back.cells[c], vec![want], "{}", column.name);
        }
        let err = read(table, Format::Ndjson, gz("{\"id\": \"seven\"}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column id of persons") && err.contains("line 1"),
            "{err}"
        );
        let err = read(table, Format::Parquet, b"not parquet".to_vec()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the batch is not valid Parquet"),
            "{err}"
        );
    }
}
