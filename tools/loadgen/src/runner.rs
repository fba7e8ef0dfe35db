//! The closed loop: `concurrency` workers sharing an atomic iteration budget and a deadline.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Client;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::report::{Failure, Limits, Recorder, Report, StepLog};

/// A benchmark scenario: what one iteration does.
pub trait Scenario: Send + Sync + 'static {
    /// Per-iteration input, built before the iteration's clock starts (random ids, signed
    /// tokens, request bodies), so that building it is not measured.
    type Input: Send + 'static;

    /// The scenario's name in reports.
    fn name(&self) -> &'static str;

    /// The names of the steps of one iteration, in order (one entry for single-request
    /// scenarios).
    fn steps(&self) -> &'static [&'static str];

    /// Build the input of iteration number `seq` (0-based, per phase).
    fn prepare(&self, seq: u64) -> Self::Input;

    /// Run one iteration; push each completed step's duration to `log`.
    fn iterate<'a>(
        &'a self,
        client: &'a Client,
        input: Self::Input,
        log: &'a mut StepLog,
    ) -> impl Future<Output = Result<(), Failure>> + Send + 'a;
}

/// How much load, for how long.
#[derive(Debug, Clone)]
pub struct RunLimits {
    /// Workers, each running one iteration at a time.
    pub concurrency: usize,
    /// Iterations of the measured phase.
    pub requests: u64,
    /// Time limit of each phase (warm-up and measured): no iteration starts after it.
    pub duration: Duration,
    /// Warm-up iterations (not recorded).
    pub warmup: u64,
    /// Per-request timeout (reported only; the client enforces it).
    pub timeout: Duration,
}

/// Run the warm-up phase and then the measured phase, and report.
pub async fn run<S: Scenario>(scenario: S, client: Client, limits: &RunLimits) -> Report {
    let scenario = Arc::new(scenario);
    let (warmup, _) = phase(&scenario, &client, limits, limits.warmup, false).await;
    let (measured, elapsed) = phase(&scenario, &client, limits, limits.requests, true).await;
    Report::new(
        scenario.name(),
        limits.concurrency,
        Limits {
            requests: limits.requests,
            duration_s: limits.duration.as_secs_f64(),
            timeout_s: limits.timeout.as_secs_f64(),
        },
        limits.warmup,
        warmup,
        measured,
        elapsed,
    )
}

/// One phase: at most `budget` iterations, none started after `limits.duration`.
async fn phase<S: Scenario>(
    scenario: &Arc<S>,
    client: &Client,
    limits: &RunLimits,
    budget: u64,
    record_latencies: bool,
) -> (Recorder, Duration) {
    let recorder = Arc::new(Mutex::new(Recorder::new(
        scenario.steps(),
        record_latencies,
    )));
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + limits.duration;
    let workers = u64::try_from(limits.concurrency)
        .unwrap_or(u64::MAX)
        .min(budget);
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let scenario = scenario.clone();
        let client = client.clone();
        let recorder = recorder.clone();
        let issued = issued.clone();
        set.spawn(async move {
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let seq = issued.fetch_add(1, Ordering::Relaxed);
                if seq >= budget {
                    break;
                }
                let input = scenario.prepare(seq);
                let mut log = StepLog::default();
                let started = Instant::now();
                let result = scenario.iterate(&client, input, &mut log).await;
                let took = started.elapsed();
                recorder
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .record(took, &log, result);
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        if let Err(e) = joined {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    let elapsed = start.elapsed();
    let recorder = Arc::try_unwrap(recorder)
        .ok()
        .expect("every worker has ended")
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    (recorder, elapsed)
}
