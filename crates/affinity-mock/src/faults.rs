//! Faults on demand, for reliability tests: a seeded probability of faults of chosen kinds,
//! and/or a script that names the fault for specific request numbers.
//!
//! Request numbers count the authenticated Affinity requests the double has received
//! (1-based), so a test can say "requests 3 to 5 get 429, request 9 is cut mid-body".

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One way a response can go wrong.
/// Serialized by the names the CLI takes (`429`, `500`, `503`, `slow`, `drop`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Fault {
    /// 429 with the rate-limit headers showing nothing left until the reset.
    #[serde(rename = "429")]
    RateLimited,
    /// 500 with a `server` error body.
    #[serde(rename = "500")]
    ServerError,
    /// 503 with a `server` error body.
    #[serde(rename = "503")]
    Unavailable,
    /// The right answer, after `slow_ms`.
    #[serde(rename = "slow")]
    Slow,
    /// 200 and a Content-Length, then the connection closes halfway through the body.
    #[serde(rename = "drop")]
    Drop,
    /// 200 with a well-formed HTTP body that is only the first half of the JSON.
    #[serde(rename = "truncated")]
    Truncated,
    /// 200 with a body that is not JSON at all (an HTML error page).
    #[serde(rename = "malformed")]
    Malformed,
    /// 403 with an `authorization` error body: the key may not read this (a list whose
    /// permissions were revoked). Never retried, so a page given it is parked at once. Not
    /// in [`Fault::ALL`], the kinds a random schedule draws from: scripted only.
    #[serde(rename = "403")]
    Forbidden,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::RateLimited,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::Slow,
        Fault::Drop,
        Fault::Truncated,
        Fault::Malformed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::RateLimited => "429",
            Fault::ServerError => "500",
            Fault::Unavailable => "503",
            Fault::Slow => "slow",
            Fault::Drop => "drop",
            Fault::Truncated => "truncated",
            Fault::Malformed => "malformed",
            Fault::Forbidden => "403",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .into_iter()
            .chain([Fault::Forbidden])
            .find(|f| f.name() == s.trim())
            .ok_or_else(|| format!("unknown fault {s:?}: expected one of 429, 500, 503, slow, drop, truncated, malformed, 403"))
    }
}

/// What faults to inject.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultPlan {
    /// Chance that any request gets a fault drawn from `kinds`.
    pub probability: f64,
    pub kinds: Vec<Fault>,
    /// Request number -> fault, applied before the probability.
    pub script: BTreeMap<u64, Fault>,
    /// Seed of the draw, so a probabilistic schedule repeats exactly.
    pub seed: u64,
    /// Delay of `slow` responses, in milliseconds.
    pub slow_ms: u64,
}

impl FaultPlan {
    /// Parses a script like `3=429,4-6=500,9=drop`.
    pub fn parse_script(s: &str) -> Result<BTreeMap<u64, Fault>, String> {
        let mut out = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (range, fault) = part.split_once('=').ok_or_else(|| {
                format!("fault script entry {part:?} should look like 3=429 or 4-6=500")
            })?;
            let fault: Fault = fault.parse()?;
            let bad =
                || format!("fault script entry {part:?}: request numbers are positive integers");
            let (a, b) = match range.split_once('-') {
                Some((a, b)) => (
                    a.trim().parse::<u64>().map_err(|_| bad())?,
                    b.trim().parse::<u64>().map_err(|_| bad())?,
                ),
                None => {
                    let n = range.trim().parse::<u64>().map_err(|_| bad())?;
                    (n, n)
                }
            };
            if a == 0 || b < a {
                return Err(bad());
            }
            for n in a..=b {
                out.insert(n, fault);
            }
        }
        Ok(out)
    }

    /// Parses a comma-separated list of fault kinds (`429,500,drop`).
    pub fn parse_kinds(s: &str) -> Result<Vec<Fault>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect()
    }
}

/// The plan in force plus the state of its draw.
pub struct Faults {
    plan: FaultPlan,
    rng: ChaCha8Rng,
    requests: u64,
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(plan.seed);
        Faults {
            plan,
            rng,
            requests: 0,
        }
    }

    /// Replaces the plan; request numbering starts again at 1.
    pub fn set(&mut self, plan: FaultPlan) {
        *self = Faults::new(plan);
    }

    pub fn slow_ms(&self) -> u64 {
        self.plan.slow_ms
    }

    /// Numbers the next request and decides its fault, if any.
    pub fn next_fault(&mut self) -> Option<Fault> {
        self.requests += 1;
        if let Some(f) = self.plan.script.get(&self.requests) {
            return Some(*f);
        }
        if self.plan.probability > 0.0
            && !self.plan.kinds.is_empty()
            && self.rng.random_bool(self.plan.probability.min(1.0))
        {
            let i = self.rng.random_range(0..self.plan.kinds.len());
            return Some(self.plan.kinds[i]);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_ranges_and_reject_nonsense() {
        let s = FaultPlan::parse_script("3=429, 5-7=500,9=drop").unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[&6], Fault::ServerError);
        assert_eq!(s[&9], Fault::Drop);
        assert!(FaultPlan::parse_script("0=429").is_err());
        assert!(FaultPlan::parse_script("4-2=429").is_err());
        assert!(FaultPlan::parse_script("3=teapot").is_err());
        assert!(FaultPlan::parse_script("3").is_err());
    }

    #[test]
    fn fault_names_are_the_same_in_json_and_on_the_command_line() {
        for f in Fault::ALL {
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.name())
            );
            assert_eq!(f.name().parse::<Fault>().unwrap(), f);
        }
    }

    #[test]
    fn scripted_faults_hit_exactly_their_requests() {
        let mut f = Faults::new(FaultPlan {
            script: FaultPlan::parse_script("2=503").unwrap(),
            ..Default::default()
        });
        assert_eq!(f.next_fault(), None);
        assert_eq!(f.next_fault(), Some(Fault::Unavailable));
        assert_eq!(f.next_fault(), None);
    }

    #[test]
    fn probabilistic_faults_repeat_for_a_seed() {
        let plan = FaultPlan {
            probability: 0.3,
            kinds: Fault::ALL.to_vec(),
            seed: 9,
            ..Default::default()
        };
        let a: Vec<_> = {
            let mut f = Faults::new(plan.clone());
            (0..200).map(|_| f.next_fault()).collect()
        };
        let b: Vec<_> = {
            let mut f = Faults::new(plan);
            (0..200).map(|_| f.next_fault()).collect()
        };
        assert_eq!(a, b);
        let hits = a.iter().filter(|x| x.is_some()).count();
        assert!((30..90).contains(&hits), "about 30% of 200, got {hits}");
    }
}
