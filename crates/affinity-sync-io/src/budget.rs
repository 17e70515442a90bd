//! The minute's request budget as Affinity's answers report it (`X-Ratelimit-Limit-User-
//! Remaining` and `-Reset`, a 429's `Retry-After`), and the one rule every home paces by: when
//! no more than a reserve of requests is left in the window, wait for the window's reset
//! rather than collect 429s. The reserve is what the requests already in flight may still
//! use.
//!
//! [`Budget`] is the rule with no clock of its own (times come in as milliseconds), so the
//! homes apply it each their own way:
//! - the CLI's `sync` and `serve` hold one behind a [`Governor`] that makes every request
//!   wait its turn (native);
//! - the queued homes (Lambda, the component) delay a page's next jobs by [`delay_after`] its
//!   answer, and share that wait with the other invocations through the pacing record
//!   (`queued::pacing`).

use crate::fetch;
use http::HeaderMap;

/// What is known of the minute's budget.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Requests left in the window, as last reported and counted down since; unknown before
    /// the first answer.
    remaining: Option<u64>,
    /// When the window resets (milliseconds on the caller's clock).
    reset_at_ms: i64,
    /// Requests kept back for the ones in flight.
    reserve: u64,
}

impl Budget {
    pub fn new(reserve: u64) -> Budget {
        Budget {
            remaining: None,
            reset_at_ms: 0,
            reserve,
        }
    }

    /// Whether a request may be sent at `now_ms`: `Ok` counts it; `Err` is how many
    /// milliseconds to wait before asking again.
    pub fn admit(&mut self, now_ms: i64) -> Result<(), u64> {
        if now_ms >= self.reset_at_ms {
            // A new window: what the last one said no longer holds once it is spent.
            if self.remaining == Some(0) {
                self.remaining = None;
            }
            return Ok(());
        }
        match self.remaining {
            Some(r) if r <= self.reserve => Err((self.reset_at_ms - now_ms) as u64),
            Some(r) => {
                self.remaining = Some(r - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Learns the budget from an answer's headers, received at `now_ms`.
    pub fn observe(&mut self, headers: &HeaderMap, now_ms: i64) {
        if let Some((remaining, reset)) = fetch::user_budget(headers) {
            self.remaining = Some(remaining);
            self.reset_at_ms = now_ms + reset as i64 * 1000;
        }
    }

    /// After a 429 at `now_ms`: nothing is left until its `Retry-After`, else the reset it
    /// names (1 s to 1 h).
    pub fn exhausted(&mut self, headers: &HeaderMap, now_ms: i64) {
        self.remaining = Some(0);
        self.reset_at_ms = now_ms + fetch::retry_after(headers) as i64 * 1000;
    }
}

/// The queued homes' use of the rule: the seconds a page's next jobs wait after its answer
/// `headers` (0: none), a second past the reset so they land in the new window.
pub fn delay_after(headers: &HeaderMap, reserve: u64) -> u64 {
    let mut budget = Budget::new(reserve);
    budget.observe(headers, 0);
    match budget.admit(0) {
        Ok(()) => 0,
        Err(ms) => ms.div_ceil(1000) + 1,
    }
}

#[cfg(feature = "native")]
pub use governor::{Governor, Paced};

#[cfg(feature = "native")]
mod governor {
    use super::Budget;
    use crate::fetch::{ApiKey, Response};
    use crate::queued::PageFetcher;
    use affinity_sync_core::Request;
    use http::HeaderMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    /// Milliseconds on a monotonic clock (a wall clock set back must not open the window).
    fn now_ms() -> i64 {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_millis() as i64
    }

    /// One [`Budget`] shared by the tasks of one process, which wait their turn.
    #[derive(Debug)]
    pub struct Governor(Mutex<Budget>);

    impl Governor {
        /// `reserve`: the requests that may be in flight at once.
        pub fn new(reserve: u64) -> Governor {
            Governor(Mutex::new(Budget::new(reserve)))
        }

        /// Waits until a request may be sent, and counts it.
        pub async fn admit(&self) {
            loop {
                let wait = self.0.lock().expect("budget").admit(now_ms());
                match wait {
                    Ok(()) => return,
                    // Checked again at least once a minute, as a window is one.
                    Err(ms) => tokio::time::sleep(Duration::from_millis(ms.min(61_000))).await,
                }
            }
        }

        pub fn observe(&self, headers: &HeaderMap) {
            self.0.lock().expect("budget").observe(headers, now_ms());
        }

        pub fn exhausted(&self, headers: &HeaderMap) {
            self.0.lock().expect("budget").exhausted(headers, now_ms());
        }
    }

    /// A fetcher whose every request waits for the governor, which learns from every answer.
    pub struct Paced<'a, F> {
        pub fetcher: &'a F,
        pub governor: &'a Governor,
    }

    impl<F: PageFetcher> PageFetcher for Paced<'_, F> {
        async fn get_page(&self, request: &Request, key: &ApiKey) -> Result<Response, String> {
            self.governor.admit().await;
            let response = self.fetcher.get_page(request, key).await?;
            if response.status == 429 {
                self.governor.exhausted(&response.headers);
            } else {
                self.governor.observe(&response.headers);
            }
            Ok(response)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_reserve_of_the_minute_is_kept_for_requests_in_flight() {
        let mut b = Budget::new(4);
        // Unknown before the first answer: requests go.
        assert_eq!(b.admit(0), Ok(()));
        b.observe(
            &headers(&[
                ("x-ratelimit-limit-user-remaining", "6"),
                ("x-ratelimit-limit-user-reset", "20"),
            ]),
            1_000,
        );
        // Two requests pass; the third would dip into the reserve and waits for the reset.
        assert_eq!(b.admit(1_000), Ok(()));
        assert_eq!(b.admit(2_000), Ok(()));
        assert_eq!(b.admit(3_000), Err(18_000));
        assert_eq!(b.remaining, Some(4));
        // The window reset: requests go again.
        assert_eq!(b.admit(21_000), Ok(()));
    }

    #[test]
    fn a_429_waits_for_retry_after_or_else_the_reset_header() {
        let mut b = Budget::new(4);
        b.exhausted(
            &headers(&[("retry-after", "7"), ("x-ratelimit-limit-user-reset", "30")]),
            0,
        );
        assert_eq!(b.admit(0), Err(7_000));
        // Once the wait is over, the spent count is forgotten.
        assert_eq!(b.admit(7_000), Ok(()));
        assert_eq!(b.remaining, None);
        b.exhausted(&headers(&[("x-ratelimit-limit-user-reset", "30")]), 0);
        assert_eq!(b.admit(0), Err(30_000));
        // Absurd or missing values: at least a second, at most an hour.
        b.exhausted(&headers(&[("retry-after", "0")]), 0);
        assert_eq!(b.admit(0), Err(1_000));
        b.exhausted(&headers(&[("retry-after", "99999999")]), 0);
        assert_eq!(b.admit(0), Err(3_600_000));
    }

    #[test]
    fn a_spent_month_is_read_from_the_org_headers() {
        let parsed = fetch::month_spent(&headers(&[
            ("x-ratelimit-limit-org-remaining", "0"),
            ("x-ratelimit-limit-org-reset", "86400"),
        ]));
        assert_eq!(parsed, Some(86_400));
        assert_eq!(
            fetch::month_spent(&headers(&[("x-ratelimit-limit-org-remaining", "5")])),
            None
        );
    }

    #[test]
    fn the_queued_homes_delay_the_next_jobs_past_a_nearly_spent_window() {
        let answer = |remaining: &str| {
            headers(&[
                ("x-ratelimit-limit-user-remaining", remaining),
                ("x-ratelimit-limit-user-reset", "37"),
            ])
        };
        assert_eq!(delay_after(&answer("11"), 10), 0);
        assert_eq!(delay_after(&answer("10"), 10), 38);
        assert_eq!(delay_after(&answer("0"), 10), 38);
        // No budget reported: no delay (a 429 says when, if it comes).
        assert_eq!(delay_after(&HeaderMap::new(), 10), 0);
        // Reset missing: the minute.
        let no_reset = headers(&[("x-ratelimit-limit-user-remaining", "3")]);
        assert_eq!(delay_after(&no_reset, 10), 61);
    }

    #[cfg(feature = "native")]
    #[tokio::test]
    async fn the_governor_holds_requests_past_the_reserve() {
        let g = Governor::new(4);
        g.observe(&headers(&[
            ("x-ratelimit-limit-user-remaining", "6"),
            ("x-ratelimit-limit-user-reset", "20"),
        ]));
        g.admit().await;
        g.admit().await;
        let third = tokio::time::timeout(std::time::Duration::from_millis(200), g.admit()).await;
        assert!(third.is_err(), "the third request waits for the reset");
    }
}
