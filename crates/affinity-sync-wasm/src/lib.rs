//! affinity-sync as a WebAssembly component (`wasm32-wasip2`, `wasi:http@0.2`): every request
//! to `POST /jobs` runs one page of a sync with the queued driver the Lambda function uses
//! ([`affinity_sync_io::queued`]), and `POST /start` seeds a sync. It runs on Spin
//! (`spin.toml`), under `wasmtime serve`, or in any host of the `wasi:http/proxy` world:
//! it imports nothing but standard WASI.
//!
//! The I/O is its own, over outgoing `wasi:http` requests: S3 (any S3-compatible store)
//! and an SQS-compatible queue, both signed with `aws-sigv4`, and the page GET to Affinity.
//! The same step is exported as the typed `affinity:sync/step` interface (`wit/sync.wit`)
//! for hosts that carry the jobs themselves.
//!
//! Each request is handled from scratch (settings from the environment, no connection kept),
//! as Spin gives every request a fresh instance.
#![cfg(target_arch = "wasm32")]

mod aws;
mod deployment;
mod fetch;
mod outbound;
mod routes;
mod s3;
mod sqs;
mod step;
