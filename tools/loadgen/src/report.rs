//! Recording iterations (HdrHistogram, microseconds) and the run's report: a human table
//! and one JSON line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Largest latency a histogram holds (larger values are clamped): one hour, in µs.
const MAX_MICROS: u64 = 3_600_000_000;
/// Significant digits: values up to 32.768 ms are exact to the microsecond, larger ones
/// within 0.05 %.
const SIGFIG: u8 = 4;
/// Longest error sample kept per kind.
const SAMPLE_LEN: usize = 300;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, SIGFIG).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// One failed iteration: which step failed, a stable kind (`status_500`, `timeout`,
/// `connect`, `success_false`, …) and a human detail (the start of the response body or
/// the client error).
#[derive(Debug, Clone)]
pub struct Failure {
    /// Index into the scenario's steps.
    pub step: usize,
    /// Machine-readable kind.
    pub kind: String,
    /// Human detail.
    pub detail: String,
}

/// What one iteration measured besides its end-to-end time: the duration of each step that
/// completed, in order, and notes (counted, reported under `notes`).
#[derive(Debug, Default)]
pub struct StepLog {
    /// Durations of the completed steps, in step order.
    pub durations: Vec<Duration>,
    /// Things worth counting that are not failures (e.g. `webhook_synced_false`).
    pub notes: Vec<&'static str>,
}

/// The record of one phase (warm-up or measured).
pub struct Recorder {
    steps: &'static [&'static str],
    end_to_end: Histogram<u64>,
    per_step: Vec<Histogram<u64>>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    samples: BTreeMap<String, String>,
    notes: BTreeMap<String, u64>,
    keep_latencies: bool,
}

impl Recorder {
    /// A recorder for a scenario with these steps; without `keep_latencies` (warm-up) only
    /// counts are kept.
    pub fn new(steps: &'static [&'static str], keep_latencies: bool) -> Self {
        let n = if keep_latencies { steps.len() } else { 0 };
        Recorder {
            steps,
            end_to_end: if keep_latencies {
                histogram()
            } else {
                Histogram::new(1).expect("histogram")
            },
            per_step: (0..n).map(|_| histogram()).collect(),
            ok: 0,
            errors: BTreeMap::new(),
            samples: BTreeMap::new(),
            notes: BTreeMap::new(),
            keep_latencies,
        }
    }

    /// Record one iteration. Latencies are recorded for successful iterations (end to end)
    /// and for every step that completed.
    pub fn record(&mut self, total: Duration, log: &StepLog, result: Result<(), Failure>) {
        if self.keep_latencies {
            for (hist, d) in self.per_step.iter_mut().zip(&log.durations) {
                hist.saturating_record(micros(*d));
            }
        }
        for note in &log.notes {
            *self.notes.entry((*note).to_owned()).or_default() += 1;
        }
        match result {
            Ok(()) => {
                self.ok += 1;
                if self.keep_latencies {
                    self.end_to_end.saturating_record(micros(total));
                }
            }
            Err(failure) => {
                let kind = if self.steps.len() > 1 {
                    let step = self.steps.get(failure.step).copied().unwrap_or("?");
                    format!("{step}.{}", failure.kind)
                } else {
                    failure.kind
                };
                *self.errors.entry(kind.clone()).or_default() += 1;
                self.samples.entry(kind).or_insert_with(|| {
                    let mut detail: String = failure.detail.chars().take(SAMPLE_LEN).collect();
                    if detail.len() < failure.detail.len() {
                        detail.push('…');
                    }
                    detail
                });
            }
        }
    }

    /// Iterations recorded.
    pub fn total(&self) -> u64 {
        self.ok + self.error_count()
    }

    /// Failed iterations.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Latency summary of one histogram, in milliseconds (µs precision); `None` when empty.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let count = h.len();
        let some = |v: f64| (count > 0).then_some(v);
        Latency {
            count,
            min: some(ms(h.min())),
            mean: some(round3(h.mean() / 1000.0)),
            p50: some(ms(h.value_at_quantile(0.50))),
            p90: some(ms(h.value_at_quantile(0.90))),
            p95: some(ms(h.value_at_quantile(0.95))),
            p99: some(ms(h.value_at_quantile(0.99))),
            max: some(ms(h.max())),
        }
    }
}

/// The warm-up phase, as counts only.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Warmup {
    /// Warm-up iterations asked for.
    pub requested: u64,
    /// Warm-up iterations run.
    pub done: u64,
    /// Of which failed (by kind).
    pub errors: BTreeMap<String, u64>,
}

/// The run's bounds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Limits {
    /// Request (iteration) budget of the measured phase.
    pub requests: u64,
    /// Time limit of each phase, seconds.
    pub duration_s: f64,
    /// Per-request timeout, seconds.
    pub timeout_s: f64,
}

/// Per-step latencies, serialised as a JSON object in step order.
#[derive(Debug, Clone, PartialEq)]
pub struct Steps(pub Vec<(String, Latency)>);

impl Serialize for Steps {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, latency) in &self.0 {
            map.serialize_entry(name, latency)?;
        }
        map.end()
    }
}

/// Everything a run measured. Serialised as the `--json` line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// `signup`, `import`, `get` or `post`.
    pub scenario: String,
    /// Workers.
    pub concurrency: usize,
    /// Measured iterations (ok + errors).
    pub total: u64,
    /// Successful iterations.
    pub ok: u64,
    /// Failed iterations by kind (`<step>.<kind>` for multi-step scenarios).
    pub errors: BTreeMap<String, u64>,
    /// Failed iterations.
    pub error_count: u64,
    /// Wall time of the measured phase, seconds.
    pub duration_s: f64,
    /// Iterations completed per second (ok and failed).
    pub throughput_per_s: f64,
    /// Successful iterations per second.
    pub ok_per_s: f64,
    /// End-to-end latency of the successful iterations.
    pub latency_ms: Latency,
    /// Latency of each step (every completed step, also of failed iterations); empty for
    /// single-step scenarios.
    pub steps: Steps,
    /// Why the measured phase ended: `count` (budget spent) or `time` (time limit).
    pub stopped_by: &'static str,
    /// The bounds of the run.
    pub limits: Limits,
    /// The warm-up phase.
    pub warmup: Warmup,
    /// Counted observations that are not failures.
    pub notes: BTreeMap<String, u64>,
    /// First detail seen per error kind (measured and warm-up).
    pub error_samples: BTreeMap<String, String>,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl Report {
    /// Assemble the report of a run.
    pub fn new(
        scenario: &str,
        concurrency: usize,
        limits: Limits,
        warmup_requested: u64,
        warmup: Recorder,
        measured: Recorder,
        elapsed: Duration,
    ) -> Self {
        let total = measured.total();
        let secs = elapsed.as_secs_f64();
        let per_s = |n: u64| {
            if secs > 0.0 {
                round3(n as f64 / secs)
            } else {
                0.0
            }
        };
        let steps = if measured.steps.len() > 1 {
            measured
                .steps
                .iter()
                .zip(&measured.per_step)
                .map(|(name, h)| ((*name).to_owned(), Latency::of(h)))
                .collect()
        } else {
            Vec::new()
        };
        let mut error_samples = warmup
            .samples
            .iter()
            .map(|(k, v)| (format!("warmup:{k}"), v.clone()))
            .collect::<BTreeMap<_, _>>();
        error_samples.extend(measured.samples.clone());
        let mut notes = measured.notes.clone();
        for (k, v) in &warmup.notes {
            notes.insert(format!("warmup:{k}"), *v);
        }
        Report {
            scenario: scenario.to_owned(),
            concurrency,
            total,
            ok: measured.ok,
            error_count: measured.error_count(),
            errors: measured.errors.clone(),
            // Microseconds: a tiny run must not report a zero duration.
            duration_s: (secs * 1e6).round() / 1e6,
            throughput_per_s: per_s(total),
            ok_per_s: per_s(measured.ok),
            latency_ms: Latency::of(&measured.end_to_end),
            steps: Steps(steps),
            stopped_by: if total >= limits.requests {
                "count"
            } else {
                "time"
            },
            limits,
            warmup: Warmup {
                requested: warmup_requested,
                done: warmup.total(),
                errors: warmup.errors.clone(),
            },
            notes,
            error_samples,
        }
    }

    /// Failed iterations, warm-up included.
    pub fn all_errors(&self) -> u64 {
        self.error_count + self.warmup.errors.values().sum::<u64>()
    }

    /// The `--json` line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a report serialises")
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "loadgen {}: concurrency {}, {} requests ({} ok, {} failed) in {:.3} s, stopped by {} \
             (limits: {} requests, {} s)",
            self.scenario,
            self.concurrency,
            self.total,
            self.ok,
            self.error_count,
            self.duration_s,
            self.stopped_by,
            self.limits.requests,
            self.limits.duration_s,
        );
        let _ = writeln!(
            s,
            "throughput: {:.1} requests/s ({:.1} ok/s)",
            self.throughput_per_s, self.ok_per_s
        );
        let _ = writeln!(
            s,
            "{:<14} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "latency (ms)", "count", "min", "p50", "p90", "p95", "p99", "max"
        );
        let mut row = |name: &str, l: &Latency| {
            let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            let _ = writeln!(
                s,
                "{:<14} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                name,
                l.count,
                f(l.min),
                f(l.p50),
                f(l.p90),
                f(l.p95),
                f(l.p99),
                f(l.max)
            );
        };
        row("end-to-end", &self.latency_ms);
        for (name, l) in &self.steps.0 {
            row(&format!("  {name}"), l);
        }
        if !self.errors.is_empty() {
            let _ = writeln!(s, "errors:");
            for (kind, n) in &self.errors {
                let sample = self.error_samples.get(kind).map_or("", String::as_str);
                let _ = writeln!(s, "  {kind:<28} {n:>7}  e.g. {sample}");
            }
        }
        if !self.notes.is_empty() {
            let notes: Vec<String> = self.notes.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(s, "notes: {}", notes.join(", "));
        }
        if self.warmup.requested > 0 {
            let failed: u64 = self.warmup.errors.values().sum();
            let _ = writeln!(
                s,
                "warm-up: {} of {} requests run, {} failed (not recorded)",
                self.warmup.done, self.warmup.requested, failed
            );
            for (kind, n) in &self.warmup.errors {
                let sample = self
                    .error_samples
                    .get(&format!("warmup:{kind}"))
                    .map_or("", String::as_str);
                let _ = writeln!(s, "  {kind:<28} {n:>7}  e.g. {sample}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &["a", "b"];

    fn limits(requests: u64) -> Limits {
        Limits {
            requests,
            duration_s: 5.0,
            timeout_s: 10.0,
        }
    }

    #[test]
    fn percentiles_are_microsecond_exact_for_small_values() {
        let mut rec = Recorder::new(STEPS, true);
        for i in 1..=100u64 {
            let log = StepLog {
                durations: vec![Duration::from_micros(i), Duration::from_micros(2 * i)],
                notes: vec![],
            };
            rec.record(Duration::from_micros(1000 + i), &log, Ok(()));
        }
        let report = Report::new(
            "t",
            2,
            limits(100),
            0,
            Recorder::new(STEPS, false),
            rec,
            Duration::from_secs(2),
        );
        assert_eq!(report.total, 100);
        assert_eq!(report.latency_ms.p50, Some(1.050));
        assert_eq!(report.latency_ms.p99, Some(1.099));
        assert_eq!(report.latency_ms.max, Some(1.100));
        assert_eq!(report.latency_ms.min, Some(1.001));
        assert_eq!(report.steps.0[1].1.p90, Some(0.180));
        assert_eq!(report.throughput_per_s, 50.0);
        assert_eq!(report.stopped_by, "count");
    }

    #[test]
    fn failures_are_counted_by_step_and_kind() {
        let mut rec = Recorder::new(STEPS, true);
        let log = StepLog {
            durations: vec![Duration::from_millis(3)],
            notes: vec!["n"],
        };
        let failure = Failure {
            step: 1,
            kind: "status_500".into(),
            detail: "x".repeat(1000),
        };
        rec.record(Duration::from_millis(5), &log, Err(failure.clone()));
        rec.record(Duration::from_millis(5), &log, Err(failure));
        let report = Report::new(
            "t",
            1,
            limits(10),
            0,
            Recorder::new(STEPS, false),
            rec,
            Duration::from_secs(1),
        );
        assert_eq!(report.errors.get("b.status_500"), Some(&2));
        assert_eq!(report.error_count, 2);
        assert_eq!(report.ok, 0);
        assert_eq!(report.latency_ms.count, 0);
        assert_eq!(report.latency_ms.p50, None);
        assert_eq!(report.steps.0[0].1.count, 2);
        assert_eq!(report.notes.get("n"), Some(&2));
        assert_eq!(report.stopped_by, "time");
        assert!(report.error_samples["b.status_500"].chars().count() <= SAMPLE_LEN + 1);
        let json: serde_json::Value = serde_json::from_str(&report.to_json_line()).unwrap();
        assert_eq!(json["errors"]["b.status_500"], 2);
        assert!(json["latency_ms"]["p99"].is_null());
        assert!(report.table().contains("b.status_500"));
    }
}
