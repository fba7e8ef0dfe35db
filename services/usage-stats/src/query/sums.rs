//! Arithmetic over figures: totals, per model, per local unit (contiguous, zero-filled).

use std::collections::BTreeMap;

use tollgate_domain::zone::LocalUnit;

use super::model::Figures;

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

    /// Mean latency in whole milliseconds, rounded half up (new-api's `use_time` is whole
    /// seconds).
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

/// Totals per unit of `units` (ascending starts), one entry per unit, zero where nothing was
/// consumed. A figure counts in the last unit starting at or before its `at`.
pub fn per_unit<'a>(
    rows: impl IntoIterator<Item = &'a Figures>,
    units: &[LocalUnit],
) -> Vec<Totals> {
    let mut sums = vec![Totals::default(); units.len()];
    for f in rows {
        let i = units.partition_point(|u| u.start <= f.at);
        if let Some(t) = i.checked_sub(1).and_then(|i| sums.get_mut(i)) {
            t.add(f);
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_domain::zone::{Unit, Zone};

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
        let zone = Zone::parse("+08:00").unwrap();
        let units = zone.units(Unit::Day, midnight, midnight + 2 * 86_400);
        let quotas: Vec<(&str, i64)> = units
            .iter()
            .zip(per_unit(&rows, &units))
            .map(|(u, t)| (u.label.as_str(), t.quota))
            .collect();
        assert_eq!(
            quotas,
            vec![("2025-11-22", 5), ("2025-11-23", 7), ("2025-11-24", 0)]
        );
        assert_eq!(units[0].start, midnight - 8 * 3_600);
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
