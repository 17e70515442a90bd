//! v2 field values, normalised into one long table per entity kind.
//!
//! v2 returns a record's field data as a `fields` array whose `value.data` takes one of 17
//! shapes. Warehouses want columns, so each non-null value becomes one row keyed by
//! (entity, field): typed columns for what the value means (`value_text`, `value_number`,
//! `value_datetime`, `value_id`, and the list forms `value_ids` / `value_texts`), plus
//! `value_json`, the value exactly as Affinity sent it. Null values write no row.

use crate::record::{NULL, Value};
use crate::table::{Column, Pick, Row, SYNC_ID, Ty, col};

/// The columns every `*_field_values` table shares (after its own key columns).
pub const VALUE_COLUMNS: [Column; 12] = [
    col(
        "field_id",
        Ty::Utf8,
        "/field_id",
        "v2 field id (`field-123`, `affinity-data-industry`, `first-email`).",
    ),
    col(
        "field_name",
        Ty::Utf8,
        "/field_name",
        "Field name as shown in Affinity.",
    ),
    col(
        "field_type",
        Ty::Utf8,
        "/field_type",
        "`enriched`, `global`, `list` or `relationship-intelligence`.",
    ),
    col(
        "enrichment_source",
        Ty::Utf8,
        "/enrichment_source",
        "`affinity-data`, `dealroom`, or null.",
    ),
    col(
        "value_type",
        Ty::Utf8,
        "/value_type",
        "One of the 17 v2 value types (`number`, `person-multi`, ...).",
    ),
    col(
        "value_text",
        Ty::Utf8,
        "/value_text",
        "Text, dropdown text, person or company name, location, interaction type.",
    ),
    col(
        "value_number",
        Ty::Float64,
        "/value_number",
        "Number and formula values.",
    ),
    col(
        "value_datetime",
        Ty::Timestamp,
        "/value_datetime",
        "Datetime values; an interaction's time.",
    ),
    col(
        "value_id",
        Ty::Int64,
        "/value_id",
        "Person, company, dropdown option or interaction id.",
    ),
    col(
        "value_ids",
        Ty::Int64List,
        "/value_ids",
        "Ids of multi-valued person, company and dropdown fields.",
    ),
    col(
        "value_texts",
        Ty::Utf8List,
        "/value_texts",
        "Texts of multi-valued text, dropdown and company fields.",
    ),
    col(
        "value_json",
        Ty::Json,
        "/value_json",
        "The value's `data` exactly as Affinity returned it.",
    ),
];

/// Columns of an entity-level field value table (`persons_field_values`, ...).
pub const ENTITY_FIELD_VALUE_COLUMNS: [Column; 14] = [
    SYNC_ID,
    col(
        "entity_id",
        Ty::Int64,
        "/entity_id",
        "The person, company or opportunity.",
    ),
    VALUE_COLUMNS[0],
    VALUE_COLUMNS[1],
    VALUE_COLUMNS[2],
    VALUE_COLUMNS[3],
    VALUE_COLUMNS[4],
    VALUE_COLUMNS[5],
    VALUE_COLUMNS[6],
    VALUE_COLUMNS[7],
    VALUE_COLUMNS[8],
    VALUE_COLUMNS[9],
    VALUE_COLUMNS[10],
    VALUE_COLUMNS[11],
];

/// Columns of `list_entries_field_values`: as above, keyed by the list entry too.
pub const ENTRY_FIELD_VALUE_COLUMNS: [Column; 16] = [
    SYNC_ID,
    col(
        "list_entry_id",
        Ty::Int64,
        "/list_entry_id",
        "The list entry (row of the list).",
    ),
    col("list_id", Ty::Int64, "/list_id", "The list."),
    col(
        "entity_id",
        Ty::Int64,
        "/entity_id",
        "The person, company or opportunity on the entry.",
    ),
    VALUE_COLUMNS[0],
    VALUE_COLUMNS[1],
    VALUE_COLUMNS[2],
    VALUE_COLUMNS[3],
    VALUE_COLUMNS[4],
    VALUE_COLUMNS[5],
    VALUE_COLUMNS[6],
    VALUE_COLUMNS[7],
    VALUE_COLUMNS[8],
    VALUE_COLUMNS[9],
    VALUE_COLUMNS[10],
    VALUE_COLUMNS[11],
];

/// Rows of an entity record's `fields` (persons, companies): [`ENTITY_FIELD_VALUE_COLUMNS`].
pub fn of_entity(record: Value<'_>) -> Result<Vec<Row<'_>>, String> {
    let keys = [Pick::NULL, at(record, "id")];
    rows(record.get("fields"), &keys)
}

/// Rows of a list entry's `entity.fields` (entity-level and list-specific values):
/// [`ENTRY_FIELD_VALUE_COLUMNS`].
pub fn of_list_entry(entry: Value<'_>) -> Result<Vec<Row<'_>>, String> {
    let entity = entry.get("entity").unwrap_or(NULL);
    let keys = [
        Pick::NULL,
        at(entry, "id"),
        at(entry, "listId"),
        at(entity, "id"),
    ];
    rows(entity.get("fields"), &keys)
}

/// `v[key]`, or null.
fn at<'a>(v: Value<'a>, key: &str) -> Pick<'a> {
    Pick::Value(v.get(key).unwrap_or(NULL))
}

/// One row per non-null value: `keys` (the `_sync_id` placeholder and the key columns), then
/// [`VALUE_COLUMNS`] in order.
fn rows<'a>(fields: Option<Value<'a>>, keys: &[Pick<'a>]) -> Result<Vec<Row<'a>>, String> {
    let Some(fields) = fields.filter(|f| !f.is_null()) else {
        return Ok(vec![]);
    };
    let fields = fields.items().ok_or("`fields` is not an array")?;
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        // One pass over the field's keys (each `get` would be one).
        let (mut id, mut name, mut kind, mut source, mut value) = (NULL, NULL, NULL, NULL, NULL);
        for (k, v) in f.entries_or_empty() {
            match k {
                "id" => id = v,
                "name" => name = v,
                "type" => kind = v,
                "enrichmentSource" => source = v,
                "value" => value = v,
                _ => {}
            }
        }
        let (mut data, mut value_type) = (NULL, None);
        for (k, v) in value.entries_or_empty() {
            match k {
                "data" => data = v,
                "type" => value_type = Some(v),
                _ => {}
            }
        }
        if data.is_null() {
            continue;
        }
        let value_type = value_type
            .filter(|t| t.is_str())
            .ok_or("a field value has no type")?;
        let mut row = Vec::with_capacity(keys.len() + VALUE_COLUMNS.len());
        row.extend(keys.iter().cloned());
        row.extend([
            Pick::Value(id),
            Pick::Value(name),
            Pick::Value(kind),
            Pick::Value(source),
            Pick::Value(value_type),
        ]);
        row.extend(typed(value_type.as_str().unwrap_or_default(), data));
        row.push(Pick::Value(data));
        out.push(Row::Picked(row));
    }
    Ok(out)
}

/// The strings of `v` under `keys`, joined by `sep`; null when there are none.
fn joined<'a>(v: Value<'a>, keys: &[&str], sep: &str) -> Pick<'a> {
    let parts: Vec<&str> = keys
        .iter()
        .filter_map(|k| v.get(k).and_then(|x| x.as_str()))
        .collect();
    if parts.is_empty() {
        Pick::NULL
    } else {
        Pick::Text(parts.join(sep))
    }
}

fn person_name(p: Value<'_>) -> Pick<'_> {
    joined(p, &["firstName", "lastName"], " ")
}

fn location_text(l: Value<'_>) -> Pick<'_> {
    joined(l, &["streetAddress", "city", "state", "country"], ", ")
}

/// The typed columns of one value, in [`VALUE_COLUMNS`] order: `value_text`,
/// `value_number`, `value_datetime`, `value_id`, `value_ids`, `value_texts`.
fn typed<'a>(value_type: &str, data: Value<'a>) -> [Pick<'a>; 6] {
    let (mut text, mut number, mut datetime, mut id, mut ids, mut texts) = (
        Pick::NULL,
        Pick::NULL,
        Pick::NULL,
        Pick::NULL,
        Pick::NULL,
        Pick::NULL,
    );
    let each = |key: &str| -> Pick<'a> {
        match data.items() {
            Some(items) => Pick::List(items.filter_map(|x| x.get(key)).collect()),
            None => Pick::NULL,
        }
    };
    match value_type {
        "text" | "filterable-text" => text = Pick::Value(data),
        "filterable-text-multi" => texts = Pick::Value(data),
        "number" => number = Pick::Value(data),
        "datetime" => datetime = Pick::Value(data),
        "location" => text = location_text(data),
        "dropdown" | "ranked-dropdown" => {
            id = at(data, "dropdownOptionId");
            text = at(data, "text");
        }
        "dropdown-multi" => {
            ids = each("dropdownOptionId");
            texts = each("text");
        }
        "person" => {
            id = at(data, "id");
            text = person_name(data);
        }
        "person-multi" => ids = each("id"),
        "company" => {
            id = at(data, "id");
            text = at(data, "name");
        }
        "company-multi" => {
            ids = each("id");
            texts = each("name");
        }
        "formula-number" => number = at(data, "calculatedValue"),
        "interaction" => {
            id = at(data, "id");
            text = at(data, "type");
            datetime = Pick::Value(
                data.get("sentAt")
                    .or_else(|| data.get("startTime"))
                    .unwrap_or(NULL),
            );
        }
        // number-multi, location-multi and types Affinity adds later: value_json only.
        _ => {}
    }
    [text, number, datetime, id, ids, texts]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::rec;
    use crate::table::pick_text;
    use serde_json::json;

    #[test]
    fn values_flatten_into_typed_rows_and_nulls_write_nothing() {
        let person = rec!({
            "id": 5,
            "fields": [
                { "id": "field-1", "name": "Rating", "type": "global", "enrichmentSource": null, "value": { "type": "number", "data": 4.5 } },
                { "id": "field-2", "name": "Empty", "type": "global", "enrichmentSource": null, "value": { "type": "person-multi", "data": null } },
                { "id": "field-3", "name": "Owners", "type": "global", "enrichmentSource": null, "value": { "type": "person-multi", "data": [{"id": 1, "firstName": "A", "lastName": null, "primaryEmailAddress": null, "type": "internal"}, {"id": 2}] } },
                { "id": "field-4", "name": "Status", "type": "list", "enrichmentSource": null, "value": { "type": "ranked-dropdown", "data": {"dropdownOptionId": 9, "text": "Won", "rank": 3, "color": "green"} } },
                { "id": "last-email", "name": "Last Email", "type": "relationship-intelligence", "enrichmentSource": null, "value": { "type": "interaction", "data": {"id": 77, "type": "email", "sentAt": "2024-01-01T00:00:00Z"} } },
            ]
        });
        // Each row as an object of its columns.
        let rows: Vec<serde_json::Value> = of_entity(person)
            .unwrap()
            .iter()
            .map(|row| {
                let Row::Picked(values) = row else {
                    panic!("field values are picked rows")
                };
                assert_eq!(values.len(), ENTITY_FIELD_VALUE_COLUMNS.len());
                let named = ENTITY_FIELD_VALUE_COLUMNS.iter().zip(values);
                serde_json::Value::Object(
                    named
                        .map(|(c, v)| {
                            let v = serde_json::from_str(&pick_text(v)).unwrap();
                            (c.name.to_string(), v)
                        })
                        .collect(),
                )
            })
            .collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0]["value_number"], json!(4.5));
        assert_eq!(rows[0]["entity_id"], json!(5));
        assert_eq!(rows[1]["value_ids"], json!([1, 2]));
        assert_eq!(rows[1]["value_json"][0]["firstName"], json!("A"));
        assert_eq!(rows[2]["value_id"], json!(9));
        assert_eq!(rows[2]["value_text"], json!("Won"));
        assert_eq!(rows[3]["value_datetime"], json!("2024-01-01T00:00:00Z"));
        assert!(of_entity(rec!({"id": 1, "fields": "nope"})).is_err());
        assert!(of_entity(rec!({"id": 1})).unwrap().is_empty());
    }
}
