//! The affinity-sync core: everything that turns "fetch one page from Affinity" into "one
//! batch object plus the next continuation token", with no I/O.
//!
//! It builds for native targets and for `wasm32-wasip2`, and every runtime (the CLI, the
//! Lambda function, the WebAssembly component) is a driver around it:
//!
//! 1. [`job::Job`]: the continuation token a queue carries (versioned JSON, strictly decoded).
//! 2. [`step::request`]: the job → the one HTTP request to make (the driver adds the key).
//! 3. [`step::handle`]: status + body → [`step::Outcome`]: one batch per table with its object
//!    key ([`layout`]), the next job, child jobs, and the chain's manifest when it ends.
//! 4. The driver writes the batches, then enqueues the jobs, then acknowledges.
//!
//! What a stream is and which tables it writes is declared in [`catalog`] (columns in
//! [`table`], field values flattened by [`field_values`]); pages are read as [`record`]s
//! (JSON values borrowed from the body); [`batch`] encodes Parquet and
//! gzip NDJSON. Webhook events become upserts and tombstones in [`changes`].

pub mod batch;
pub mod batch_read;
pub mod catalog;
pub mod changes;
pub mod field_values;
pub mod interactions;
pub mod job;
pub mod layout;
pub mod metrics;
pub mod plan;
pub mod record;
pub mod step;
pub mod table;

pub use batch::Format;
pub use job::Job;
pub use step::{Config, Outcome, Request, StepError};
