//! v2 field values, normalised into one long table per entity kind.
//!
//! v2 returns a record's field data as a `fields` array whose `value.data` takes one of 17
//! shapes. Warehouses want columns, so each non-null value becomes one row keyed by
//! (entity, field): typed columns for what the value means (`value_text`, `value_number`,
//! `value_datetime`, `value_id`, and the list forms `value_ids` / `value_texts`), plus
//! `value_json`, the value exactly as Affinity sent it. Null values write no row.

use crate::table::{Column, SYNC_ID, Ty, col};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

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

/// Rows of an entity record's `fields` (persons, companies).
pub fn of_entity(record: &Value) -> Result<Vec<Cow<'_, Value>>, String> {
    let mut keys = Map::new();
    keys.insert(
        "entity_id".into(),
        record.get("id").cloned().unwrap_or(Value::Null),
    );
    rows(record.get("fields"), keys)
}

/// Rows of a list entry's `entity.fields` (entity-level and list-specific values).
pub fn of_list_entry(entry: &Value) -> Result<Vec<Cow<'_, Value>>, String> {
    let mut keys = Map::new();
    keys.insert(
        "list_entry_id".into(),
        entry.get("id").cloned().unwrap_or(Value::Null),
    );
    keys.insert(
        "list_id".into(),
        entry.get("listId").cloned().unwrap_or(Value::Null),
    );
    keys.insert(
        "entity_id".into(),
        entry.pointer("/entity/id").cloned().unwrap_or(Value::Null),
    );
    rows(entry.pointer("/entity/fields"), keys)
}

fn rows(
    fields: Option<&Value>,
    keys: Map<String, Value>,
) -> Result<Vec<Cow<'static, Value>>, String> {
    let Some(fields) = fields.filter(|f| !f.is_null()) else {
        return Ok(vec![]);
    };
    let fields = fields.as_array().ok_or("`fields` is not an array")?;
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let data = f.pointer("/value/data").unwrap_or(&Value::Null);
        if data.is_null() {
            continue;
        }
        let value_type = f
            .pointer("/value/type")
            .and_then(Value::as_str)
            .ok_or("a field value has no type")?;
        let mut row = keys.clone();
        row.insert(
            "field_id".into(),
            f.get("id").cloned().unwrap_or(Value::Null),
        );
        row.insert(
            "field_name".into(),
            f.get("name").cloned().unwrap_or(Value::Null),
        );
        row.insert(
            "field_type".into(),
            f.get("type").cloned().unwrap_or(Value::Null),
        );
        row.insert(
            "enrichment_source".into(),
            f.get("enrichmentSource").cloned().unwrap_or(Value::Null),
        );
        row.insert("value_type".into(), json!(value_type));
        typed(value_type, data, &mut row);
        row.insert("value_json".into(), data.clone());
        out.push(Cow::Owned(Value::Object(row)));
    }
    Ok(out)
}

fn person_name(p: &Value) -> Value {
    let parts: Vec<&str> = ["firstName", "lastName"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_str))
        .collect();
    if parts.is_empty() {
        Value::Null
    } else {
        json!(parts.join(" "))
    }
}

fn location_text(l: &Value) -> Value {
    let parts: Vec<&str> = ["streetAddress", "city", "state", "country"]
        .iter()
        .filter_map(|k| l.get(*k).and_then(Value::as_str))
        .collect();
    if parts.is_empty() {
        Value::Null
    } else {
        json!(parts.join(", "))
    }
}

/// Fills the typed columns for one value.
fn typed(value_type: &str, data: &Value, row: &mut Map<String, Value>) {
    let mut set = |k: &str, v: Value| {
        if !v.is_null() {
            row.insert(k.to_string(), v);
        }
    };
    let ids = |d: &Value, key: &str| {
        json!(d.as_array().map(|a| {
            a.iter()
                .filter_map(|x| x.get(key).cloned())
                .collect::<Vec<_>>()
        }))
    };
    let texts = |d: &Value, key: &str| {
        json!(d.as_array().map(|a| {
            a.iter()
                .filter_map(|x| x.get(key).cloned())
                .collect::<Vec<_>>()
        }))
    };
    match value_type {
        "text" | "filterable-text" => set("value_text", data.clone()),
        "filterable-text-multi" => set("value_texts", data.clone()),
        "number" => set("value_number", data.clone()),
        "datetime" => set("value_datetime", data.clone()),
        "location" => set("value_text", location_text(data)),
        "dropdown" | "ranked-dropdown" => {
            set(
                "value_id",
                data.get("dropdownOptionId").cloned().unwrap_or_default(),
            );
            set("value_text", data.get("text").cloned().unwrap_or_default());
        }
        "dropdown-multi" => {
            set("value_ids", ids(data, "dropdownOptionId"));
            set("value_texts", texts(data, "text"));
        }
        "person" => {
            set("value_id", data.get("id").cloned().unwrap_or_default());
            set("value_text", person_name(data));
        }
        "person-multi" => set("value_ids", ids(data, "id")),
        "company" => {
            set("value_id", data.get("id").cloned().unwrap_or_default());
            set("value_text", data.get("name").cloned().unwrap_or_default());
        }
        "company-multi" => {
            set("value_ids", ids(data, "id"));
            set("value_texts", texts(data, "name"));
        }
        "formula-number" => set(
            "value_number",
            data.get("calculatedValue").cloned().unwrap_or_default(),
        ),
        "interaction" => {
            set("value_id", data.get("id").cloned().unwrap_or_default());
            set("value_text", data.get("type").cloned().unwrap_or_default());
            let when = data
                .get("sentAt")
                .or_else(|| data.get("startTime"))
                .cloned()
                .unwrap_or_default();
            set("value_datetime", when);
        }
        // number-multi, location-multi and types Affinity adds later: value_json only.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_flatten_into_typed_rows_and_nulls_write_nothing() {
        let person = json!({
            "id": 5,
            "fields": [
                { "id": "field-1", "name": "Rating", "type": "global", "enrichmentSource": null, "value": { "type": "number", "data": 4.5 } },
                { "id": "field-2", "name": "Empty", "type": "global", "enrichmentSource": null, "value": { "type": "person-multi", "data": null } },
                { "id": "field-3", "name": "Owners", "type": "global", "enrichmentSource": null, "value": { "type": "person-multi", "data": [{"id": 1, "firstName": "A", "lastName": null, "primaryEmailAddress": null, "type": "internal"}, {"id": 2}] } },
                { "id": "field-4", "name": "Status", "type": "list", "enrichmentSource": null, "value": { "type": "ranked-dropdown", "data": {"dropdownOptionId": 9, "text": "Won", "rank": 3, "color": "green"} } },
                { "id": "last-email", "name": "Last Email", "type": "relationship-intelligence", "enrichmentSource": null, "value": { "type": "interaction", "data": {"id": 77, "type": "email", "sentAt": "2024-01-01T00:00:00Z"} } },
            ]
        });
        let rows = of_entity(&person).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0]["value_number"], json!(4.5));
        assert_eq!(rows[0]["entity_id"], json!(5));
        assert_eq!(rows[1]["value_ids"], json!([1, 2]));
        assert_eq!(rows[1]["value_json"][0]["firstName"], json!("A"));
        assert_eq!(rows[2]["value_id"], json!(9));
        assert_eq!(rows[2]["value_text"], json!("Won"));
        assert_eq!(rows[3]["value_datetime"], json!("2024-01-01T00:00:00Z"));
        assert!(of_entity(&json!({"id": 1, "fields": "nope"})).is_err());
        assert!(of_entity(&json!({"id": 1})).unwrap().is_empty());
    }
}
