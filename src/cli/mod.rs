//! The command line's I/O: the pieces the core leaves to its drivers.

pub mod api_key;
pub mod change_sql;
pub mod ddl;
#[cfg(feature = "duckdb")]
pub mod duckdb_changes;
#[cfg(feature = "duckdb")]
pub mod duckdb_load;
pub mod duckdb_sql;
pub mod plan;
pub mod postgres_load;
pub mod serve;
pub mod sync;
pub mod webhooks;
pub mod worker;
