//! v2 pages (`{"data": [...], "pagination": {"nextUrl": ...}}`): a `nextUrl` off the
//! configured host is an error, never a job.
#![no_main]

#[path = "page.rs"]
mod page;

libfuzzer_sys::fuzz_target!(|data: &[u8]| page::run(affinity_sync_core::catalog::Api::V2, data));
