//! The minute's budget, shared by every invocation of a deployment. Each invocation sees only
//! its own answers' `X-Ratelimit-Limit-User-Remaining`; when one sees the budget nearly spent
//! (or a 429), it delays its own next jobs to the window's reset, but the other messages
//! already on the queue would still run and be refused. So it also writes, in the store, the
//! time before which no request should be made, and every invocation reads it before its
//! request: a page or a webhook refresh that would run into a spent window is sent again,
//! delayed to the reset, without a request to Affinity and without counting as a failed try.
//!
//! One small object (`_jobs/pacing.json`): one GET per page, one PUT per window in which the
//! budget ran low. A lost or stale record only costs what the headers alone would: a few
//! 429s, which are retried.

use crate::ObjectSink;
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// Where the record is kept (beside the syncs' journals, which it outlives).
pub const KEY: &str = "_jobs/pacing.json";

#[derive(Serialize, Deserialize)]
struct Record {
    /// Unix seconds before which no request to Affinity should be made.
    wait_until: i64,
}

/// Seconds to wait before the next request to Affinity, at `now` (Unix seconds): 0 when the
/// record says nothing or is past. An unreadable record is as good as none.
pub async fn wait<S: ObjectSink>(sink: &S, now: i64) -> Result<u64> {
    let Some(bytes) = sink.get(KEY).await? else {
        return Ok(0);
    };
    Ok(serde_json::from_slice::<Record>(&bytes)
        .map(|r| (r.wait_until - now).max(0) as u64)
        .unwrap_or(0))
}

/// Records that no request should be made before `wait_until` (Unix seconds).
pub async fn pause<S: ObjectSink>(sink: &S, wait_until: i64) -> Result<()> {
    let bytes = serde_json::to_vec(&Record { wait_until }).expect("pacing json");
    sink.put(KEY, &bytes).await
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::sink::LocalDir;

    #[tokio::test]
    async fn a_pause_holds_until_its_time() {
        let root = std::env::temp_dir().join(format!("affinity-pacing-{}", std::process::id()));
        let d = LocalDir::open(&root).unwrap();
        assert_eq!(wait(&d, 1000).await.unwrap(), 0);
        pause(&d, 1030).await.unwrap();
        assert_eq!(wait(&d, 1000).await.unwrap(), 30);
        assert_eq!(wait(&d, 1031).await.unwrap(), 0);
        d.put(KEY, b"not json").await.unwrap();
        assert_eq!(wait(&d, 1000).await.unwrap(), 0);
        std::fs::remove_dir_all(root).unwrap();
    }
}
