//! `/detail`'s figures: summary, by model, by local day (contiguous, zero-filled).

use std::collections::BTreeMap;

use serde::Serialize;

use super::pieces::Figures;

/// Totals over a set of figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Consume logs.
    pub requests: i64,
    /// Quota.
    pub quota: i64,
    /// Prompt + completion tokens.
    pub tokens: i64,
    /// Seconds of use.
    pub use_time: i64,
}

impl Totals {
    fn add(&mut self, f: &Figures) {
        self.requests += f.requests;
        self.quota += f.quota;
        self.tokens += f.prompt_tokens + f.completion_tokens;
        self.use_time += f.use_time;
    }

    /// Mean latency in whole milliseconds (new-api's `use_time` is whole seconds).
    pub fn avg_latency_ms(&self) -> i64 {
        if self.requests == 0 {
            0
        } else {
            (self.use_time * 1000 + self.requests / 2) / self.requests
        }
    }
}

/// Sum of everything.
pub fn total<'a>(rows: impl IntoIterator<Item = &'a Figures>) -> Totals {
    let mut t = Totals::default();
    rows.into_iter().for_each(|f| t.add(f));
    t
}

/// Per model, largest quota first (ties by name).
pub fn by_model<'a>(rows: impl IntoIterator<Item = &'a Figures>) -> Vec<(String, Totals)> {
    let mut map: BTreeMap<&str, Totals> = BTreeMap::new();
    for f in rows {
        map.entry(&f.model_name).or_default().add(f);
    }
    let mut v: Vec<(String, Totals)> = map.into_iter().map(|(m, t)| (m.to_owned(), t)).collect();
    v.sort_by(|a, b| b.1.quota.cmp(&a.1.quota).then_with(|| a.0.cmp(&b.0)));
    v
}

/// One local bucket of a chart.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// `YYYY-MM-DD` (days) or `YYYY-MM-DDTHH:00` (hours), local to the offset.
    pub label: String,
    /// Unix seconds of the bucket's local start.
    pub start: i64,
    /// Consume logs.
    pub requests: i64,
    /// Quota.
    pub quota: i64,
    /// Quota in USD.
    pub quota_usd: f64,
    /// Prompt + completion tokens.
    pub tokens: i64,
}

/// Contiguous local buckets of `size` seconds from the one holding `start` to the one
/// holding `end`, zero where nothing was consumed.
pub fn series<'a>(
    rows: impl IntoIterator<Item = &'a Figures>,
    start: i64,
    end: i64,
    offset: i64,
    size: i64,
    usd: impl Fn(i64) -> f64,
) -> Vec<Point> {
    let local = |t: i64| (t + offset).div_euclid(size);
    let mut sums: BTreeMap<i64, Totals> = BTreeMap::new();
    for f in rows {
        sums.entry(local(f.at)).or_default().add(f);
    }
    (local(start)..=local(end))
        .map(|b| {
            let t = sums.get(&b).copied().unwrap_or_default();
            let local_start = b * size;
            Point {
                label: label(local_start, size),
                start: local_start - offset,
                requests: t.requests,
                quota: t.quota,
                quota_usd: usd(t.quota),
                tokens: t.tokens,
            }
        })
        .collect()
}

fn label(local_start: i64, size: i64) -> String {
    let dt = chrono::DateTime::from_timestamp(local_start, 0).unwrap_or_default();
    if size >= 86_400 {
        dt.format("%Y-%m-%d").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:00").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(at: i64, model: &str, quota: i64) -> Figures {
        Figures {
            at,
            model_name: model.into(),
            requests: 1,
            quota,
            prompt_tokens: 2,
            completion_tokens: 3,
            use_time: 1,
        }
    }

    #[test]
    fn days_are_local_contiguous_and_zero_filled() {
        let midnight = 1_763_769_600; // 2025-11-22T00:00Z
        let rows = [
            f(midnight + 3_600, "a", 5),
            f(midnight + 20 * 3_600, "a", 7),
        ];
        // At +08:00, 20:00Z is already the next local day.
        let pts = series(
            &rows,
            midnight,
            midnight + 2 * 86_400,
            8 * 3_600,
            86_400,
            |q| q as f64,
        );
        let labels: Vec<_> = pts.iter().map(|p| (p.label.as_str(), p.quota)).collect();
        assert_eq!(
            labels,
            vec![("2025-11-22", 5), ("2025-11-23", 7), ("2025-11-24", 0)]
        );
        assert_eq!(pts[0].start, midnight - 8 * 3_600);
    }

    #[test]
    fn models_sorted_by_quota_and_latency_rounded() {
        let rows = [f(0, "b", 5), f(0, "a", 9), f(0, "b", 5)];
        let m = by_model(&rows);
        assert_eq!((m[0].0.as_str(), m[0].1.quota), ("b", 10));
        let mut t = total(&rows);
        assert_eq!((t.requests, t.tokens, t.avg_latency_ms()), (3, 15, 1000));
        t.requests = 0;
        assert_eq!(t.avg_latency_ms(), 0);
    }
}
