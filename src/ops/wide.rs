//! Wide views: `persons_wide`, `companies_wide` and one `list_<id>_wide` per list, a row per
//! record with a column per field, as dlt users know them.
//!
//! The field values are stored long (a row per record and field, `*_field_values`), which is
//! what a load can write without knowing the fields. The wide views pivot them. A view's
//! columns are fixed when it is created, so its fields are read from the data first
//! ([`WideView`], found by `duckdb_load::wide_views_found` in a DuckDB database), and the
//! statements are then written for a dialect: DuckDB's by `load duckdb` and `ddl --views`,
//! the warehouses' by `ddl --views --from DIR`.

use super::change_sql::{quote_ident, quote_str, quoted};
use super::ddl::Dialect;
use std::collections::HashSet;

/// One wide view: its base table, its field-values table, and the fields that become columns.
pub struct WideView {
    /// `persons_wide`, `companies_wide`, `list_<id>_wide`.
    pub name: String,
    /// The table with a row per record (`persons`, `companies`, `list_entries`).
    pub base: &'static str,
    /// The long table of field values (`persons_field_values`, …).
    pub values: &'static str,
    /// The column of `values` that names the record (`entity_id`, `list_entry_id`).
    pub value_key: &'static str,
    /// For a list's view: the list, whose entries and values are the only ones shown.
    pub list: Option<i64>,
    pub fields: Vec<WideField>,
}

/// A field that is a column of a wide view.
pub struct WideField {
    pub id: String,
    /// The field's name, or `name (id)` when two fields of the view share a name (names
    /// compared without case, as most warehouses compare column names).
    pub column: String,
    /// The field's value type, which says which typed column holds its values.
    pub value_type: String,
}

impl WideField {
    /// The fields, as (id, name, value type) in column order, with their column names.
    pub fn named(fields: Vec<(String, String, String)>) -> Vec<WideField> {
        let mut seen: HashSet<String> = HashSet::new();
        fields
            .into_iter()
            .map(|(id, name, value_type)| {
                let mut column = name.clone();
                if !seen.insert(column.to_lowercase()) {
                    column = format!("{name} ({id})");
                    seen.insert(column.to_lowercase());
                }
                WideField {
                    id,
                    column,
                    value_type,
                }
            })
            .collect()
    }
}

/// The typed column of a field-values table that holds a field's values, by value type.
pub fn value_column(value_type: &str) -> &'static str {
    match value_type {
        "number" | "formula-number" => "value_number",
        "datetime" => "value_datetime",
        "person-multi" | "company-multi" => "value_ids",
        "filterable-text-multi" | "dropdown-multi" => "value_texts",
        "number-multi" | "location-multi" => "value_json",
        _ => "value_text",
    }
}

/// DuckDB's `SELECT` of a wide view: the base row with `first(value) FILTER (WHERE field)`
/// per field, grouped by every base column.
pub fn duckdb_select(view: &WideView) -> String {
    let cols: Vec<String> = view
        .fields
        .iter()
        .map(|f| {
            format!(
                "first(v.{}) FILTER (WHERE v.field_id = {}) AS {}",
                value_column(&f.value_type),
                quote_str(&f.id),
                quote_ident(&f.column)
            )
        })
        .collect();
    let extra = if cols.is_empty() {
        String::new()
    } else {
        format!(", {}", cols.join(", "))
    };
    let select = format!(
        "SELECT b.*{extra} FROM {} b LEFT JOIN {} v ON v.{} = b.id  GROUP BY ALL",
        quote_ident(view.base),
        quote_ident(view.values),
        view.value_key
    );
    match view.list {
        Some(list) => format!("SELECT * FROM ({select}) WHERE list_id = {list}"),
        None => select,
    }
}

/// DuckDB's statement of a wide view.
pub fn duckdb_statement(view: &WideView) -> String {
    format!(
        "CREATE OR REPLACE VIEW {} AS {}",
        quote_ident(&view.name),
        duckdb_select(view)
    )
}

/// A warehouse's statement of a wide view, over the views `ddl --views` made (`refer` writes
/// a view's name as the other statements refer to it: BigQuery's carry the dataset).
///
/// The values are aggregated per record in a subquery grouped by the record's key alone
/// (warehouses cannot group by the base table's arrays, JSON or VARIANT columns), then joined
/// to the base rows. A record has one value per field, picked by an aggregate every type
/// takes: `MAX_BY(value, CASE WHEN field THEN 1 END)` (rows of other fields have a NULL key
/// and are skipped), or on Redshift `MAX`, which takes SUPER.
pub fn warehouse_statement(d: Dialect, view: &WideView, refer: &dyn Fn(&str) -> String) -> String {
    let columns = warehouse_columns(d, &view.fields);
    let key = "_affinity_key";
    let picks: Vec<String> = view
        .fields
        .iter()
        .zip(&columns)
        .map(|(f, column)| {
            let value = format!("v.\"{}\"", value_column(&f.value_type));
            let is_field = format!("v.\"field_id\" = {}", quote_str(&f.id));
            let pick = match d {
                Dialect::Redshift => format!("MAX(CASE WHEN {is_field} THEN {value} END)"),
                _ => format!("MAX_BY({value}, CASE WHEN {is_field} THEN 1 END)"),
            };
            format!("    {pick} AS {}", quote_ident(column))
        })
        .collect();
    let (values_where, base_where) = match view.list {
        Some(list) => (
            format!(" WHERE v.\"list_id\" = {list}"),
            format!("\nWHERE b.\"list_id\" = {list}"),
        ),
        None => (String::new(), String::new()),
    };
    let select = if picks.is_empty() {
        format!("SELECT b.*\nFROM {} b{base_where}", refer(view.base))
    } else {
        let shown: Vec<String> = columns
            .iter()
            .map(|c| format!("w.{}", quote_ident(c)))
            .collect();
        format!(
            "SELECT b.*, {}\nFROM {} b\nLEFT JOIN (\n  SELECT v.\"{}\" AS \"{key}\",\n{}\n  FROM {} v{values_where}\n  GROUP BY v.\"{}\"\n) w ON w.\"{key}\" = b.\"id\"{base_where}",
            shown.join(", "),
            refer(view.base),
            view.value_key,
            picks.join(",\n"),
            refer(view.values),
            view.value_key,
        )
    };
    quoted(
        &format!("CREATE OR REPLACE VIEW {} AS\n{select}", refer(&view.name)),
        d,
    )
}

/// The fields' column names as `d` can have them. BigQuery takes letters, digits, spaces,
/// `_`, `-` and a few signs in a column name, not parentheses or dots: the others become `_`.
/// Spark's backquoted names would end at a backquote: it becomes `_` too. A name that then
/// equals an earlier one (without case) gets its field id after it.
fn warehouse_columns(d: Dialect, fields: &[WideField]) -> Vec<String> {
    let allowed = |c: char| match d {
        Dialect::Bigquery => {
            c.is_alphanumeric() || matches!(c, '_' | ' ' | '-' | '&' | '%' | '+' | ':' | '#')
        }
        Dialect::Databricks => c != '`',
        _ => true,
    };
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .collect()
    };
    let mut seen: HashSet<String> = HashSet::new();
    fields
        .iter()
        .map(|f| {
            let mut column = clean(&f.column);
            if !seen.insert(column.to_lowercase()) {
                column = clean(&format!("{} {}", f.column, f.id));
                seen.insert(column.to_lowercase());
            }
            column
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_view() -> WideView {
        WideView {
            name: "list_7_wide".into(),
            base: "list_entries",
            values: "list_entries_field_values",
            value_key: "list_entry_id",
            list: Some(7),
            fields: WideField::named(vec![
                ("field-1".into(), "Amount (USD)".into(), "number".into()),
                (
                    "field-2".into(),
                    "amount (usd)".into(),
                    "dropdown-multi".into(),
                ),
                ("field-3".into(), "Owners".into(), "person-multi".into()),
                ("field-4".into(), "Offices".into(), "location-multi".into()),
                ("field-5".into(), "Close `Date`".into(), "datetime".into()),
                ("field-'6".into(), "Stage".into(), "ranked-dropdown".into()),
            ]),
        }
    }

    fn refer(d: Dialect) -> impl Fn(&str) -> String {
        move |name: &str| match d {
            Dialect::Bigquery => format!("affinity.\"{name}\""),
            _ => format!("\"{name}\""),
        }
    }

    #[test]
    fn a_name_two_fields_share_gets_the_field_id() {
        let columns: Vec<String> = list_view().fields.into_iter().map(|f| f.column).collect();
        assert_eq!(
            columns,
            [
                "Amount (USD)",
                "amount (usd) (field-2)",
                "Owners",
                "Offices",
                "Close `Date`",
                "Stage"
            ]
        );
    }

    #[test]
    fn duckdb_filters_each_field_and_groups_by_the_base_row() {
        let sql = duckdb_statement(&list_view());
        assert!(sql.starts_with("CREATE OR REPLACE VIEW \"list_7_wide\" AS SELECT * FROM (SELECT b.*, first(v.value_number) FILTER (WHERE v.field_id = 'field-1') AS \"Amount (USD)\", first(v.value_texts)"), "{sql}");
        assert!(
            sql.contains(
                "first(v.value_text) FILTER (WHERE v.field_id = 'field-''6') AS \"Stage\""
            ),
            "{sql}"
        );
        assert!(sql.ends_with("LEFT JOIN \"list_entries_field_values\" v ON v.list_entry_id = b.id  GROUP BY ALL) WHERE list_id = 7"), "{sql}");
    }

    #[test]
    fn each_warehouse_picks_a_typed_value_per_field_grouped_by_the_key_alone() {
        let view = list_view();
        for d in [
            Dialect::Snowflake,
            Dialect::Databricks,
            Dialect::Bigquery,
            Dialect::Redshift,
        ] {
            let sql = warehouse_statement(d, &view, &refer(d));
            let q = |name: &str| d.quote(name);
            let picks = sql.matches(" THEN 1 END) AS ").count() + sql.matches(" END) AS ").count();
            assert!(picks >= 6, "{d:?}: {sql}");
            // The values of the list alone, one row per entry, joined to the list's entries.
            assert!(
                sql.contains(&format!("WHERE v.{} = 7", q("list_id"))),
                "{d:?}: {sql}"
            );
            assert!(
                sql.contains(&format!("GROUP BY v.{}", q("list_entry_id"))),
                "{d:?}: {sql}"
            );
            assert!(
                sql.ends_with(&format!("WHERE b.{} = 7", q("list_id"))),
                "{d:?}: {sql}"
            );
            // Each field from its typed column, the literal quoted.
            for (column, field) in [
                ("value_number", "'field-1'"),
                ("value_texts", "'field-2'"),
                ("value_ids", "'field-3'"),
                ("value_json", "'field-4'"),
                ("value_datetime", "'field-5'"),
                ("value_text", "'field-''6'"),
            ] {
                let pick = match d {
                    Dialect::Redshift => format!(
                        "MAX(CASE WHEN v.{} = {field} THEN v.{} END)",
                        q("field_id"),
                        q(column)
                    ),
                    _ => format!(
                        "MAX_BY(v.{}, CASE WHEN v.{} = {field} THEN 1 END)",
                        q(column),
                        q("field_id")
                    ),
                };
                assert!(sql.contains(&pick), "{d:?}: {pick} in {sql}");
            }
        }
        let bigquery = warehouse_statement(Dialect::Bigquery, &view, &refer(Dialect::Bigquery));
        assert!(bigquery.starts_with("CREATE OR REPLACE VIEW affinity.`list_7_wide` AS\nSELECT b.*, w.`Amount _USD_`, w.`amount _usd_ _field-2_`, w.`Owners`, w.`Offices`, w.`Close _Date_`, w.`Stage`\nFROM affinity.`list_entries` b"), "{bigquery}");
        let spark = warehouse_statement(Dialect::Databricks, &view, &refer(Dialect::Databricks));
        assert!(
            spark.contains("AS `Amount (USD)`") && spark.contains("AS `Close _Date_`"),
            "{spark}"
        );
        let snowflake = warehouse_statement(Dialect::Snowflake, &view, &refer(Dialect::Snowflake));
        assert!(
            snowflake.starts_with(
                "CREATE OR REPLACE VIEW LIST_7_WIDE AS\nSELECT b.*, w.\"AMOUNT (USD)\""
            ),
            "{snowflake}"
        );
    }

    #[test]
    fn a_view_without_fields_is_the_base_rows() {
        let view = WideView {
            fields: vec![],
            ..list_view()
        };
        assert_eq!(
            warehouse_statement(Dialect::Redshift, &view, &refer(Dialect::Redshift)),
            "CREATE OR REPLACE VIEW \"list_7_wide\" AS\nSELECT b.*\nFROM \"list_entries\" b\nWHERE b.\"list_id\" = 7"
        );
    }
}
