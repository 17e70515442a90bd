//! v1 pages (`{"persons": [...], "next_page_token": ...}` and bare arrays).
#![no_main]

#[path = "page.rs"]
mod page;

libfuzzer_sys::fuzz_target!(|data: &[u8]| page::run(affinity_sync_core::catalog::Api::V1, data));
