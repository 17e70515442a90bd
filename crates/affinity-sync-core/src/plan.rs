//! What a sync will cost, before it runs.
//!
//! Affinity counts requests per minute (900 per user) and per month (the plan's quota), so a
//! data engineer wants the bill first. The estimate per stream comes from the best evidence
//! there is: the same stream's request count in the previous complete sync (a scheduled sync
//! costs about what it cost last time), or, for list entries, the exact list sizes that v1
//! `GET /lists` reports. Without either, a stream is counted at its floor of one request per
//! chain and flagged as a lower bound.

use crate::catalog::{Paging, Stream};
use crate::layout::SyncManifest;

/// One stream's expected requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub stream: &'static str,
    pub requests: u64,
    /// False when `requests` is only a lower bound.
    pub exact: bool,
    pub basis: String,
}

/// A list as v1 `GET /lists` reports it: id and number of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSize {
    pub id: i64,
    pub entries: u64,
}

fn pages(paging: Paging, page_size: u32, records: u64) -> u64 {
    match paging {
        Paging::Cursor => records.div_ceil(page_size as u64).max(1),
        // v1 ends a full last page with one more, empty page.
        Paging::Token => records / page_size as u64 + 1,
        Paging::None => 1,
    }
}

/// Estimates every stream of `streams`.
pub fn estimate(
    streams: &[&'static Stream],
    previous: Option<&SyncManifest>,
    lists: Option<&[ListSize]>,
) -> Vec<Estimate> {
    streams
        .iter()
        .map(|s| {
            if s.name == "list_entries"
                && let Some(lists) = lists
            {
                let requests = lists
                    .iter()
                    .map(|l| pages(s.paging, s.page_size, l.entries))
                    .sum();
                return Estimate {
                    stream: s.name,
                    requests,
                    exact: true,
                    basis: format!("sizes of {} lists", lists.len()),
                };
            }
            if let Some(prev) = previous.and_then(|m| m.streams.iter().find(|x| x.stream == s.name))
            {
                let id = previous.map(|m| m.sync_id.as_str()).unwrap_or_default();
                // An incremental sync read only what changed: a lower bound for the next.
                return Estimate {
                    stream: s.name,
                    requests: prev.pages.max(prev.chains),
                    exact: prev.since.is_none(),
                    basis: match prev.since {
                        None => format!("as in sync {id}"),
                        Some(_) => format!("as in incremental sync {id} (at least)"),
                    },
                };
            }
            if matches!(s.name, "list_fields" | "saved_views")
                && let Some(lists) = lists
            {
                let requests = lists.len() as u64;
                return Estimate {
                    stream: s.name,
                    requests,
                    exact: false,
                    basis: "one page per list (at least)".into(),
                };
            }
            let (requests, basis) = match s.parent {
                None => (1, "unknown before the first sync: at least one page"),
                Some(_) => (
                    0,
                    "unknown before the first sync: one or more pages per parent record",
                ),
            };
            Estimate {
                stream: s.name,
                requests,
                exact: false,
                basis: basis.into(),
            }
        })
        .collect()
}

/// Minutes the requests need at `per_minute` requests a minute.
pub fn minutes(requests: u64, per_minute: u64) -> f64 {
    if per_minute == 0 {
        f64::INFINITY
    } else {
        requests as f64 / per_minute as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use crate::layout::StreamSummary;

    fn streams(names: &[&str]) -> Vec<&'static Stream> {
        names.iter().map(|n| catalog::stream(n).unwrap()).collect()
    }

    #[test]
    fn list_entries_are_exact_from_list_sizes() {
        let lists = [
            ListSize { id: 1, entries: 0 },
            ListSize {
                id: 2,
                entries: 100,
            },
            ListSize {
                id: 3,
                entries: 101,
            },
        ];
        let e = estimate(&streams(&["list_entries"]), None, Some(&lists));
        assert_eq!(e[0].requests, 1 + 1 + 2);
        assert!(e[0].exact);
    }

    #[test]
    fn the_previous_sync_predicts_the_next() {
        let prev = SyncManifest {
            version: 1,
            sync_id: "s0".into(),
            format: "parquet".into(),
            started_at: String::new(),
            finished_at: String::new(),
            streams: vec![StreamSummary {
                stream: "persons".into(),
                chains: 1,
                pages: 13,
                records: 1208,
                tally: crate::job::Tally {
                    requests: 13,
                    ..Default::default()
                },
                tables: vec![],
                since: None,
            }],
            quota: None,
        };
        let e = estimate(&streams(&["persons", "notes"]), Some(&prev), None);
        assert_eq!((e[0].requests, e[0].exact), (13, true));
        assert_eq!(
            (e[1].requests, e[1].exact),
            (1, false),
            "no history: a lower bound"
        );
    }

    #[test]
    fn v1_paging_counts_the_empty_last_page() {
        assert_eq!(pages(Paging::Token, 500, 1000), 3);
        assert_eq!(pages(Paging::Token, 500, 0), 1);
        assert_eq!(pages(Paging::Cursor, 100, 0), 1);
        assert_eq!(minutes(900, 900), 1.0);
    }
}
