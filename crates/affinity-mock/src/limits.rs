//! Rate-limit accounting: the six `X-Ratelimit-*` headers on every response, and 429s when
//! enforcement is on.
//!
//! Affinity counts requests per user per minute (900) and per account per month (plan quota);
//! `/rate-limit` and `/auth/whoami` do not count against the month. The double keeps the same
//! two counters. Its clock can run faster than real time (`clock_scale`), so tests can exercise
//! minute windows and resets in seconds. The numbers in the headers are always true; only
//! rejecting over-budget requests is optional.

use serde::Serialize;
use std::time::Instant;

/// Budgets and how strictly to apply them.
#[derive(Debug, Clone, Serialize)]
pub struct RateLimits {
    /// Requests per user per (double-clock) minute.
    pub per_minute: u64,
    /// Requests per account per month.
    pub monthly: u64,
    /// Answer 429 once a budget is spent (otherwise only count).
    pub enforce: bool,
    /// Double-clock seconds per real second: 60.0 makes a "minute" last one real second
    /// (reset headers stay in real seconds).
    pub clock_scale: f64,
    /// Concurrent requests allowed before 429 (Affinity's account-level concurrency cap).
    pub max_concurrent: Option<usize>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_minute: 900,
            monthly: 100_000,
            enforce: false,
            clock_scale: 1.0,
            max_concurrent: None,
        }
    }
}

const MONTH_SECS: f64 = 30.0 * 86_400.0;

/// What one request was granted, and the headers to send with the answer.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub allowed: bool,
    pub headers: Vec<(&'static str, String)>,
}

pub struct Limiter {
    cfg: RateLimits,
    started: Instant,
    window_start: f64,
    minute_used: u64,
    month_used: u64,
}

impl Limiter {
    pub fn new(cfg: RateLimits) -> Self {
        Limiter {
            cfg,
            started: Instant::now(),
            window_start: 0.0,
            minute_used: 0,
            month_used: 0,
        }
    }

    /// Seconds on the double's clock since start.
    fn clock(&self, now: Instant) -> f64 {
        now.duration_since(self.started).as_secs_f64() * self.cfg.clock_scale
    }

    fn roll(&mut self, t: f64) {
        if t - self.window_start >= 60.0 {
            self.window_start = t - (t - self.window_start) % 60.0;
            self.minute_used = 0;
        }
    }

    /// Accounts for one request at `now`. `monthly` is false for the endpoints exempt from
    /// the monthly quota.
    pub fn admit(&mut self, now: Instant, monthly: bool) -> Verdict {
        let t = self.clock(now);
        self.roll(t);
        let over_minute = self.minute_used >= self.cfg.per_minute;
        let over_month = monthly && self.month_used >= self.cfg.monthly;
        let allowed = !(self.cfg.enforce && (over_minute || over_month));
        if allowed {
            self.minute_used += 1;
            if monthly {
                self.month_used += 1;
            }
        }
        Verdict {
            allowed,
            headers: self.headers(t),
        }
    }

    /// The headers as they stand, without counting a request.
    pub fn peek(&mut self, now: Instant) -> Vec<(&'static str, String)> {
        let t = self.clock(now);
        self.roll(t);
        self.headers(t)
    }

    fn headers(&self, t: f64) -> Vec<(&'static str, String)> {
        let (user_reset, org_reset) = self.resets(t);
        vec![
            ("x-ratelimit-limit-user", self.cfg.per_minute.to_string()),
            (
                "x-ratelimit-limit-user-remaining",
                self.cfg
                    .per_minute
                    .saturating_sub(self.minute_used)
                    .to_string(),
            ),
            ("x-ratelimit-limit-user-reset", user_reset.to_string()),
            ("x-ratelimit-limit-org", self.cfg.monthly.to_string()),
            (
                "x-ratelimit-limit-org-remaining",
                self.cfg.monthly.saturating_sub(self.month_used).to_string(),
            ),
            ("x-ratelimit-limit-org-reset", org_reset.to_string()),
        ]
    }

    /// Whole real seconds until the minute and month windows reset. They are real seconds
    /// even on a scaled clock, so a client that waits what the header says waits just long
    /// enough.
    fn resets(&self, t: f64) -> (u64, u64) {
        let scale = self.cfg.clock_scale;
        let user = ((60.0 - (t - self.window_start)) / scale).ceil().max(0.0) as u64;
        let org = ((MONTH_SECS - t % MONTH_SECS) / scale).ceil() as u64;
        (user, org)
    }

    /// The body of v1 `GET /rate-limit`.
    pub fn body(&mut self, now: Instant) -> serde_json::Value {
        let t = self.clock(now);
        self.roll(t);
        let (user_reset, org_reset) = self.resets(t);
        serde_json::json!({
            "rate": {
                "org_monthly": {
                    "limit": self.cfg.monthly,
                    "remaining": self.cfg.monthly.saturating_sub(self.month_used),
                    "reset": org_reset,
                    "used": self.month_used,
                },
                "api_key_per_minute": {
                    "limit": self.cfg.per_minute,
                    "remaining": self.cfg.per_minute.saturating_sub(self.minute_used),
                    "reset": user_reset,
                    "used": self.minute_used,
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn header(v: &Verdict, name: &str) -> u64 {
        v.headers
            .iter()
            .find(|(k, _)| *k == name)
            .unwrap()
            .1
            .parse()
            .unwrap()
    }

    #[test]
    fn counts_honestly_and_enforces_when_asked() {
        let mut l = Limiter::new(RateLimits {
            per_minute: 3,
            monthly: 5,
            enforce: true,
            ..Default::default()
        });
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            let v = l.admit(t0, true);
            assert!(v.allowed);
            assert_eq!(header(&v, "x-ratelimit-limit-user-remaining"), left);
        }
        let v = l.admit(t0, true);
        assert!(!v.allowed, "fourth request in the minute is refused");
        assert!(header(&v, "x-ratelimit-limit-user-reset") <= 60);
        // A minute later the window resets; the month keeps counting.
        let v = l.admit(t0 + Duration::from_secs(61), true);
        assert!(v.allowed);
        assert_eq!(header(&v, "x-ratelimit-limit-org-remaining"), 1);
        l.admit(t0 + Duration::from_secs(61), true);
        let v = l.admit(t0 + Duration::from_secs(61), true);
        assert!(!v.allowed, "monthly quota spent");
    }

    #[test]
    fn exempt_endpoints_do_not_spend_the_month() {
        let mut l = Limiter::new(RateLimits {
            per_minute: 10,
            monthly: 1,
            enforce: true,
            ..Default::default()
        });
        let t0 = Instant::now();
        assert!(l.admit(t0, true).allowed);
        assert!(!l.admit(t0, true).allowed);
        assert!(
            l.admit(t0, false).allowed,
            "/rate-limit and whoami still answer"
        );
    }

    #[test]
    fn scaled_clock_shortens_the_minute() {
        let mut l = Limiter::new(RateLimits {
            per_minute: 1,
            enforce: true,
            clock_scale: 60.0,
            ..Default::default()
        });
        let t0 = Instant::now();
        assert!(l.admit(t0, true).allowed);
        assert!(!l.admit(t0, true).allowed);
        assert!(l.admit(t0 + Duration::from_millis(1100), true).allowed);
    }

    #[test]
    fn without_enforcement_over_budget_is_served_and_reported_as_zero() {
        let mut l = Limiter::new(RateLimits {
            per_minute: 1,
            ..Default::default()
        });
        let t0 = Instant::now();
        l.admit(t0, true);
        let v = l.admit(t0, true);
        assert!(v.allowed);
        assert_eq!(header(&v, "x-ratelimit-limit-user-remaining"), 0);
    }
}
