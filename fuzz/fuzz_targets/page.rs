//! Shared by page_v1 and page_v2: one page of any stream of one API version, answered with
//! the fuzzer's bytes. The page step must return records and next jobs, or an error for the
//! job, and never panic.

use affinity_sync_core::catalog::{Api, STREAMS};
use affinity_sync_core::{Config, Format, Job, step};
use std::collections::BTreeMap;

pub fn run(api: Api, data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let streams: Vec<_> = STREAMS.iter().filter(|s| s.api == api).collect();
    let stream = streams[pick as usize % streams.len()];
    let parents: BTreeMap<String, i64> = stream
        .parent_keys()
        .into_iter()
        .map(|k| (k.to_string(), 7))
        .collect();
    let mut job = Job::first("20261125T000000Z-fuzz", stream.name, parents);
    if pick & 0x80 != 0 {
        job.cursor = Some("c2Vjb25kLXBhZ2U".into());
        job.page = 1;
    }
    for format in [Format::Parquet, Format::Ndjson] {
        let cfg = Config::new("https://api.affinity.co", "out", format).expect("a valid config");
        let _ = step::request(&cfg, &job);
        if let Ok(outcome) = step::handle(&cfg, &job, 200, body) {
            // Every next job is one the queue would accept back.
            for next in outcome.next.into_iter().chain(outcome.children) {
                let again = Job::decode(next.encode().as_bytes()).expect("a next job decodes");
                assert_eq!(again, next);
            }
        }
    }
}
