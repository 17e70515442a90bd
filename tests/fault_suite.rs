//! The reliability suite: many seeded fault schedules, each a full sync that must end equal to
//! the ground truth, with zero lost and zero duplicated records.
//!
//! A schedule mixes what the network and the API do (the double's faults: 429 bursts, 500,
//! 503, slow answers, connections dropped mid-body, truncated and malformed bodies) with what
//! the queue and the machine do (`--inject`: finished jobs delivered again, and a crash right
//! after an object write). A sync that crashes or parks pages is finished with
//! `affinity-sync resume`, as a user would. The totals are printed at the end
//! (`cargo test --test fault_suite -- --nocapture`).

mod support;

use affinity_mock::{Fault, FaultPlan, MockConfig, RateLimits, Sizes};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::e2e::*;
use support::*;

const SCHEDULES: u64 = 56;
/// The exit code of an injected crash (`cli::sync::CRASH_EXIT_CODE`).
const CRASHED: i32 = 86;

/// A small deterministic generator, so a schedule number always means the same schedule.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) ^ self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
}

struct Schedule {
    number: u64,
    data_seed: u64,
    faults: FaultPlan,
    /// `--inject` of the first run.
    inject: String,
    max_retries: u32,
    concurrency: u32,
}

fn schedule(number: u64) -> Schedule {
    let mut d = Draw(number.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xabcdef);
    d.next();
    let mut kinds: Vec<Fault> = Fault::ALL
        .iter()
        .copied()
        .filter(|_| d.chance(0.6))
        .collect();
    if kinds.is_empty() {
        kinds.push(Fault::ALL[d.below(7) as usize]);
    }
    // Some schedules start with a burst of 429s, as a busy account would.
    let mut script = BTreeMap::new();
    if d.chance(0.3) {
        let from = 2 + d.below(10);
        for n in from..from + 2 + d.below(4) {
            script.insert(n, Fault::RateLimited);
        }
    }
    // Some schedules fail hard enough that pages are parked and need `resume`.
    let harsh = d.chance(0.2);
    let mut inject = vec![format!("seed={number}")];
    if d.chance(0.6) {
        inject.push(format!(
            "redeliver={}",
            [0.05, 0.15, 0.3][d.below(3) as usize]
        ));
    }
    if d.chance(0.5) {
        inject.push(format!("crash-after-writes={}", 3 + d.below(120)));
    }
    Schedule {
        number,
        data_seed: 100 + d.below(50),
        faults: FaultPlan {
            probability: if harsh {
                0.25
            } else {
                [0.03, 0.06, 0.1][d.below(3) as usize]
            },
            kinds,
            script,
            seed: number,
            slow_ms: 150,
        },
        inject: inject.join(","),
        max_retries: if harsh { 1 } else { 6 },
        concurrency: 1 + d.below(4) as u32,
    }
}

#[derive(Default)]
struct Totals {
    schedules: u64,
    runs: u64,
    crashes: u64,
    parked_runs: u64,
    redelivered: u64,
    faults: BTreeMap<String, u64>,
    requests: u64,
    records_checked: u64,
}

/// The number in `... (N retries, M redelivered jobs)` of a summary table.
fn redelivered(stdout: &str) -> u64 {
    stdout
        .lines()
        .flat_map(|line| line.split(", "))
        .find_map(|part| part.strip_suffix(" redelivered jobs)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn run_schedule(s: Schedule, totals: Arc<Mutex<Totals>>) {
    let began = std::time::Instant::now();
    // A scaled clock keeps each 429's wait to about a second.
    let d = double(MockConfig {
        seed: s.data_seed,
        sizes: Sizes::small(),
        faults: s.faults.clone(),
        limits: RateLimits {
            clock_scale: 60.0,
            ..RateLimits::default()
        },
        ..MockConfig::default()
    })
    .await;
    let dir = temp_dir(&format!("faults-{}", s.number));
    let out = dir.join("out");
    let what = format!(
        "schedule {} (data seed {}, faults {:?}, inject {})",
        s.number, s.data_seed, s.faults, s.inject
    );
    let retries = s.max_retries.to_string();
    let concurrency = s.concurrency.to_string();
    let mut inject = s.inject.clone();
    let (mut runs, mut crashes, mut parked, mut redelivered_jobs) = (0, 0, 0, 0);
    let mut started = false;
    loop {
        runs += 1;
        assert!(runs <= 12, "{what}: still not complete after 11 runs");
        let args = [
            "--max-retries",
            &retries,
            "--concurrency",
            &concurrency,
            "--inject",
            &inject,
        ];
        let output = if started {
            resume(&d.base_url(), &out, &args, Some("test-key")).await
        } else {
            sync(&d.base_url(), &out, &args, Some("test-key")).await
        };
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        redelivered_jobs += redelivered(&stdout);
        started = started || out.join("_jobs").exists() || !complete_syncs(&out).is_empty();
        match output.status.code() {
            Some(0) => break,
            Some(CRASHED) => crashes += 1,
            Some(1) if stderr.contains("parked") => parked += 1,
            // The very first request (the quota check) can fail before anything started.
            Some(1) if !started => {}
            other => panic!("{what}: run {runs} ended with {other:?}:\n{stdout}\n{stderr}"),
        }
        // The next run crashes later, and after two crashes not at all: it must terminate.
        inject = inject
            .split(',')
            .filter(|p| !p.starts_with("crash-after-writes") || crashes < 2)
            .map(|p| match p.strip_prefix("crash-after-writes=") {
                Some(n) => format!("crash-after-writes={}", n.parse::<u64>().unwrap() * 2),
                None => p.to_string(),
            })
            .collect::<Vec<_>>()
            .join(",");
    }

    let syncs = complete_syncs(&out);
    assert_eq!(syncs.len(), 1, "{what}: one complete sync");
    // The truth check panics on the first difference; say which schedule it was.
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_against_truth(&d.dataset(), &out, &syncs[0])
    }));
    if let Err(e) = checked {
        eprintln!(
            "{what} differs from the truth; its output is in {}",
            out.display()
        );
        std::panic::resume_unwind(e);
    }
    assert!(
        !out.join("_jobs").exists(),
        "{what}: a complete sync leaves no job journal"
    );
    let mut rows = 0;
    for table in affinity_sync_core::catalog::STREAMS
        .iter()
        .filter(|s| s.default)
        .flat_map(|s| s.tables)
    {
        rows += read_table(&out, table.name, &syncs[0]).len() as u64;
    }
    let stats = d.stats();
    let mut t = totals.lock().unwrap();
    t.schedules += 1;
    t.runs += runs;
    t.crashes += crashes;
    t.parked_runs += parked;
    t.redelivered += redelivered_jobs;
    t.requests += stats.requests;
    t.records_checked += rows;
    for (kind, n) in stats.faults {
        *t.faults.entry(kind).or_default() += n;
    }
    drop(t);
    eprintln!(
        "schedule {}: {runs} runs, {:.1} s",
        s.number,
        began.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_schedule_ends_in_exactly_the_ground_truth() {
    let totals = Arc::new(Mutex::new(Totals::default()));
    let slots = Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    // FAULT_SCHEDULE=n runs schedule n alone (to replay a failure).
    let only: Option<u64> = std::env::var("FAULT_SCHEDULE")
        .ok()
        .map(|v| v.parse().expect("FAULT_SCHEDULE is a number"));
    for n in (0..SCHEDULES).filter(|n| only.is_none_or(|o| o == *n)) {
        let (totals, slots) = (totals.clone(), slots.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            run_schedule(schedule(n), totals).await;
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let t = totals.lock().unwrap();
    println!(
        "fault suite: {} schedules, {} runs ({} crashed after a write, {} ended with parked pages), \
         {} jobs delivered twice, {} requests, faults injected by kind {:?} (total {}), \
         {} records checked against the ground truth: 0 lost, 0 duplicated",
        t.schedules,
        t.runs,
        t.crashes,
        t.parked_runs,
        t.redelivered,
        t.requests,
        t.faults,
        t.faults.values().sum::<u64>(),
        t.records_checked
    );
    if only.is_some() {
        return;
    }
    assert_eq!(t.schedules, SCHEDULES);
    // The suite exercises what it claims: every fault kind, crashes, parks and redeliveries.
    for kind in Fault::ALL {
        assert!(
            t.faults.get(kind.name()).copied().unwrap_or(0) > 0,
            "no {} fault was injected",
            kind.name()
        );
    }
    assert!(t.crashes > 0 && t.parked_runs > 0 && t.redelivered > 0);
}
