//! The commands, one module each (cargo's `src/bin/cargo/commands/`): each owns its
//! `#[derive(Args)]` struct and an async `run` that turns the arguments into options and
//! calls the engine in `crate::ops`. Groups of arguments several commands share (the
//! connection, the output store, the run, the test double's data set, limits and faults)
//! are declared once, in `args`.

pub mod args;
pub mod ddl;
pub mod demo;
pub mod load;
pub mod mock;
pub mod plan;
pub mod query;
pub mod resume;
pub mod schema;
pub mod serve;
pub mod sync;
pub mod webhooks;
pub mod worker;
