//! Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per line that
//! CloudWatch Logs turns into metrics by itself, so a sync is measured with no call of its
//! own (no `PutMetricData`, no agent). Lambda prints them to its log; the component prints
//! the same lines for whatever ships its host's logs; the CLI prints them with
//! `--log-format json`. The figures come from what the driver already has in hand (the page's
//! batches, its requests, the rate-limit headers of its answer).
//!
//! Every line has namespace [`NAMESPACE`] and the function's name as dimension
//! `FunctionName`. A page line ([`Page`]) is published twice: per `Stream` (for the
//! dashboard's breakdown) and for the whole function (what the alarms watch, since an alarm
//! names one exact set of dimensions). A sync line ([`SyncDone`]) is per function only.
//!
//! The format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "AffinitySync";

/// What one request to Affinity for one page came to. Each line counts what it says
/// (requests, retries, 429s), so the sums of a sync's lines are the sync's totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub stream: String,
    pub sync_id: String,
    pub page: u32,
    /// Whether the page was written (the `Pages` metric: 1 or 0).
    pub written: bool,
    /// Records in the page (0 unless it was written).
    pub records: u64,
    /// Bytes of the batches written for it.
    pub bytes_written: u64,
    /// Requests this line accounts for.
    pub requests: u64,
    /// Of those, requests that repeated one that had failed (the CLI), or that failed and
    /// were sent again (the queue-carried homes: the retry is the next message).
    pub retries: u64,
    /// Of those, requests answered 429.
    pub throttled: u64,
    /// 1 when the page failed for good and was parked.
    pub parked: u64,
    /// `X-Ratelimit-Limit-User-Remaining` of the answer: requests left this minute.
    pub user_remaining: Option<u64>,
    /// `X-Ratelimit-Limit-Org-Remaining`: requests left in the month's plan quota.
    pub org_remaining: Option<u64>,
    /// From taking the job to writing its last object, in milliseconds.
    pub page_ms: u64,
}

/// A sync that completed (its `sync.json` was just written).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncDone {
    pub sync_id: String,
    /// From its start to its manifest, in seconds.
    pub duration_s: f64,
    pub records: u64,
    pub pages: u64,
    pub requests: u64,
}

/// The metric names and units a page line can carry, in the order they are written.
pub const PAGE_METRICS: &[(&str, &str)] = &[
    ("Pages", "Count"),
    ("Records", "Count"),
    ("BytesWritten", "Bytes"),
    ("Requests", "Count"),
    ("Retries", "Count"),
    ("Throttled", "Count"),
    ("Parked", "Count"),
    ("RateLimitUserRemaining", "Count"),
    ("RateLimitOrgRemaining", "Count"),
    ("PageTime", "Milliseconds"),
];

/// The metric names and units of a sync line.
pub const SYNC_METRICS: &[(&str, &str)] = &[
    ("SyncsCompleted", "Count"),
    ("SyncDuration", "Seconds"),
    ("SyncRecords", "Count"),
    ("SyncPages", "Count"),
    ("SyncRequests", "Count"),
];

fn line(
    timestamp_ms: i64,
    dimensions: Value,
    function_name: &str,
    metrics: Vec<(&'static str, &'static str, Value)>,
    mut properties: Map<String, Value>,
) -> String {
    let declared: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    properties.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": declared,
            }],
        }),
    );
    properties.insert("FunctionName".into(), function_name.into());
    for (name, _, value) in metrics {
        properties.insert(name.into(), value);
    }
    Value::Object(properties).to_string()
}

impl Page {
    /// The EMF line of this page at `timestamp_ms` (Unix milliseconds). A rate-limit figure
    /// the answer did not carry is left out rather than written as zero (an alarm on the
    /// quota must not fire on a missing header).
    pub fn emf(&self, function_name: &str, timestamp_ms: i64) -> String {
        let mut metrics = vec![
            ("Pages", "Count", json!(self.written as u64)),
            ("Records", "Count", json!(self.records)),
            ("BytesWritten", "Bytes", json!(self.bytes_written)),
            ("Requests", "Count", json!(self.requests)),
            ("Retries", "Count", json!(self.retries)),
            ("Throttled", "Count", json!(self.throttled)),
            ("Parked", "Count", json!(self.parked)),
        ];
        if let Some(n) = self.user_remaining {
            metrics.push(("RateLimitUserRemaining", "Count", json!(n)));
        }
        if let Some(n) = self.org_remaining {
            metrics.push(("RateLimitOrgRemaining", "Count", json!(n)));
        }
        metrics.push(("PageTime", "Milliseconds", json!(self.page_ms)));
        let mut properties = Map::new();
        properties.insert("Stream".into(), self.stream.clone().into());
        properties.insert("sync_id".into(), self.sync_id.clone().into());
        properties.insert("page".into(), self.page.into());
        line(
            timestamp_ms,
            json!([["FunctionName", "Stream"], ["FunctionName"]]),
            function_name,
            metrics,
            properties,
        )
    }
}

impl SyncDone {
    /// The EMF line of this completion at `timestamp_ms` (Unix milliseconds).
    pub fn emf(&self, function_name: &str, timestamp_ms: i64) -> String {
        let metrics = vec![
            ("SyncsCompleted", "Count", json!(1)),
            ("SyncDuration", "Seconds", json!(self.duration_s)),
            ("SyncRecords", "Count", json!(self.records)),
            ("SyncPages", "Count", json!(self.pages)),
            ("SyncRequests", "Count", json!(self.requests)),
        ];
        let mut properties = Map::new();
        properties.insert("sync_id".into(), self.sync_id.clone().into());
        line(
            timestamp_ms,
            json!([["FunctionName"]]),
            function_name,
            metrics,
            properties,
        )
    }

    /// The figures of a complete sync's manifest.
    pub fn from_manifest(m: &crate::layout::SyncManifest) -> SyncDone {
        let seconds = |t: &str| crate::table::parse_timestamp(t).map(|us| us as f64 / 1e6);
        let duration_s = match (seconds(&m.started_at), seconds(&m.finished_at)) {
            (Some(a), Some(b)) => (b - a).max(0.0),
            _ => 0.0,
        };
        SyncDone {
            sync_id: m.sync_id.clone(),
            duration_s,
            records: m.streams.iter().map(|s| s.records).sum(),
            pages: m.streams.iter().map(|s| s.pages).sum(),
            requests: m.streams.iter().map(|s| s.tally.requests).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of the format that CloudWatch enforces: an `_aws` object with a millisecond
    /// `Timestamp` and `CloudWatchMetrics` directives, whose dimensions and metrics name
    /// top-level members, units from CloudWatch's list, and numeric metric values.
    fn check_emf(line: &str) -> Value {
        let v: Value = serde_json::from_str(line).expect("one JSON object");
        let aws = &v["_aws"];
        assert!(aws["Timestamp"].as_i64().unwrap() > 1_000_000_000_000);
        for d in aws["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(d["Namespace"], NAMESPACE);
            for set in d["Dimensions"].as_array().unwrap() {
                for name in set.as_array().unwrap() {
                    assert!(v[name.as_str().unwrap()].is_string(), "{name} in {line}");
                }
            }
            for m in d["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap();
                assert!(v[name].is_number(), "{name} in {line}");
                assert!(
                    ["Count", "Bytes", "Milliseconds", "Seconds"]
                        .contains(&m["Unit"].as_str().unwrap())
                );
            }
        }
        v
    }

    #[test]
    fn a_page_line_is_valid_emf_and_leaves_out_missing_headers() {
        let page = Page {
            stream: "persons".into(),
            sync_id: "s1".into(),
            page: 3,
            written: true,
            records: 500,
            bytes_written: 12_345,
            requests: 2,
            retries: 1,
            throttled: 1,
            parked: 0,
            user_remaining: Some(880),
            org_remaining: None,
            page_ms: 420,
        };
        let v = check_emf(&page.emf("fn", 1_767_225_600_000));
        assert_eq!(
            (&v["Stream"], &v["Records"], &v["Throttled"], &v["Pages"]),
            (&json!("persons"), &json!(500), &json!(1), &json!(1))
        );
        assert!(v.get("RateLimitOrgRemaining").is_none());
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(!names.contains(&"RateLimitOrgRemaining"));
        assert!(
            names
                .iter()
                .all(|n| PAGE_METRICS.iter().any(|(m, _)| m == n))
        );
        // A try that failed is a request and a retry, not a page.
        let retry = Page {
            requests: 1,
            retries: 1,
            records: 0,
            written: false,
            ..page
        };
        assert_eq!(check_emf(&retry.emf("fn", 1_767_225_600_000))["Pages"], 0);
    }

    #[test]
    fn a_sync_line_is_valid_emf() {
        let m = crate::layout::SyncManifest {
            version: 1,
            sync_id: "s1".into(),
            format: "parquet".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:02:30Z".into(),
            streams: vec![],
            quota: None,
        };
        let v = check_emf(&SyncDone::from_manifest(&m).emf("fn", 1_767_225_750_000));
        assert_eq!(
            (&v["SyncsCompleted"], &v["SyncDuration"]),
            (&json!(1), &json!(150.0))
        );
    }
}
