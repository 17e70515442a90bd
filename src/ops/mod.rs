//! What the commands do: the engines `src/cli/` calls, and the I/O the core leaves to its
//! drivers (the store, the HTTP client, the databases).

pub mod api_key;
pub mod change_sql;
pub mod ddl;
pub mod demo;
#[cfg(feature = "duckdb")]
pub mod duckdb_changes;
#[cfg(feature = "duckdb")]
pub mod duckdb_load;
pub mod duckdb_sql;
#[cfg(feature = "duckdb")]
pub mod duckdb_stage;
pub mod location;
pub mod plan;
pub mod postgres_load;
pub mod serve;
#[cfg(feature = "duckdb")]
pub mod show;
pub mod status;
pub mod status_doc;
pub mod store;
pub mod sync;
pub mod views;
pub mod webhooks;
// The wide views' columns are the fields of a store, which DuckDB reads.
#[cfg(feature = "duckdb")]
pub mod wide;
pub mod worker;
