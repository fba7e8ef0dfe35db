//! Which unit a log belongs to, computed by ClickHouse: the instant every row is counted at
//! (the start of its local day or hour, or the range's start in the first unit), as one
//! `multiIf` over `created_at`, so ClickHouse sums per unit and model and sends only those.
//!
//! The units' starts come from the zone database in Rust (chrono-tz), never from the
//! server's time zone. Between two zone transitions they are evenly spaced, so a run of
//! starts `first, first + step, …` is one arithmetic branch; a unit longer than the step (a
//! 25-hour day) ends its run with a constant branch. A range with no transition is one or
//! two branches; ClickHouse 18.16 has every function used (`multiIf`, `intDiv`).

/// One arm of the expression: it applies to the rows with `created_at < below` that no
/// earlier arm took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arm {
    /// Every such row counts at `at`.
    Fixed { below: i64, at: i64 },
    /// A row counts at the last of `first + k × step` at or before it.
    Every { below: i64, first: i64, step: i64 },
}

/// The instant each row counts at, for rows in `[start, end]` grouped by the units whose
/// starts after `start` are `cuts` (ascending), `step` seconds apart when regular.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedAt {
    arms: Vec<Arm>,
    /// For rows past every arm: the last cut, or `start`.
    rest: i64,
}

impl CountedAt {
    /// Plan the arms for a range starting at `start`.
    pub fn new(start: i64, cuts: &[i64], step: i64) -> Self {
        let Some(&first_cut) = cuts.first() else {
            return Self {
                arms: Vec::new(),
                rest: start,
            };
        };
        let mut arms = vec![Arm::Fixed {
            below: first_cut,
            at: start,
        }];
        let mut i = 0;
        while i < cuts.len() {
            let first = cuts[i];
            let mut j = i;
            while j + 1 < cuts.len() && cuts[j + 1] - cuts[j] == step {
                j += 1;
            }
            let last = cuts[j];
            let next = cuts.get(j + 1).copied().unwrap_or(i64::MAX);
            let regular_end = last.saturating_add(step).min(next);
            arms.push(Arm::Every {
                below: regular_end,
                first,
                step,
            });
            // After the last cut, `rest` holds the rows a longer last unit keeps.
            if next > regular_end && next != i64::MAX {
                arms.push(Arm::Fixed {
                    below: next,
                    at: last,
                });
            }
            i = j + 1;
        }
        Self {
            arms,
            rest: *cuts.last().unwrap_or(&start),
        }
    }

    /// The instant a row at `t` counts at (what the SQL computes).
    pub fn of(&self, t: i64) -> i64 {
        for arm in &self.arms {
            match *arm {
                Arm::Fixed { below, at } if t < below => return at,
                Arm::Every { below, first, step } if t < below => {
                    return first + (t - first).div_euclid(step) * step
                }
                _ => {}
            }
        }
        self.rest
    }

    /// The same as a ClickHouse expression over the column `created_at` (integers only).
    pub fn sql(&self) -> String {
        if self.arms.is_empty() {
            return self.rest.to_string();
        }
        let mut out = String::from("multiIf(");
        for arm in &self.arms {
            match *arm {
                Arm::Fixed { below, at } => {
                    out.push_str(&format!("created_at < {below}, {at}, "));
                }
                Arm::Every { below, first, step } => out.push_str(&format!(
                    "created_at < {below}, {first} + intDiv(created_at - {first}, {step}) * {step}, "
                )),
            }
        }
        out.push_str(&format!("{})", self.rest));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tollgate_domain::zone::{Unit, Zone};

    /// What the rows must count at: the last cut at or before `t`, else `start`.
    fn last_cut(start: i64, cuts: &[i64], t: i64) -> i64 {
        cuts.iter()
            .rev()
            .find(|&&c| c <= t)
            .copied()
            .unwrap_or(start)
    }

    /// The starts of the units after the one holding `start`.
    fn cuts(zone: &Zone, unit: Unit, start: i64, end: i64) -> Vec<i64> {
        zone.units(unit, start, end)
            .iter()
            .skip(1)
            .map(|u| u.start)
            .collect()
    }

    const ZONES: [&str; 8] = [
        "UTC",
        "America/New_York",
        "Europe/London",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Africa/Monrovia",
        "+05:30",
    ];

    proptest! {
        #[test]
        fn every_row_counts_at_its_units_start(
            zone in prop::sample::select(&ZONES[..]),
            hourly in any::<bool>(),
            start in 0i64..2_000_000_000,
            span in 0i64..(40 * 86_400),
            probes in prop::collection::vec(0i64..(40 * 86_400), 1..60),
        ) {
            let zone = Zone::parse(zone).unwrap();
            let unit = if hourly { Unit::Hour } else { Unit::Day };
            let end = start + span;
            let cuts = cuts(&zone, unit, start, end);
            let at = CountedAt::new(start, &cuts, unit.seconds());
            for p in probes {
                let t = start + p % (span + 1);
                prop_assert_eq!(at.of(t), last_cut(start, &cuts, t), "t={}", t);
            }
            for &c in &cuts {
                prop_assert_eq!(at.of(c), c);
                prop_assert_eq!(at.of(c - 1), last_cut(start, &cuts, c - 1));
            }
        }
    }

    #[test]
    fn a_range_without_transitions_is_two_arms() {
        let zone = Zone::parse("Asia/Shanghai").unwrap();
        let (start, end) = (1_764_000_123, 1_764_000_123 + 30 * 86_400);
        let cuts = cuts(&zone, Unit::Day, start, end);
        let at = CountedAt::new(start, &cuts, 86_400);
        assert_eq!(at.arms.len(), 2, "{at:?}");
        assert_eq!(
            at.sql(),
            format!(
                "multiIf(created_at < {c}, {start}, created_at < {e}, {c} + intDiv(created_at - {c}, 86400) * 86400, {l})",
                c = cuts[0],
                e = cuts.last().unwrap() + 86_400,
                l = cuts.last().unwrap()
            )
        );
        assert_eq!(CountedAt::new(5, &[], 3_600).sql(), "5");
    }

    #[test]
    fn a_25_hour_day_ends_its_run() {
        let ny = Zone::parse("America/New_York").unwrap();
        // 2026-10-30 .. 2026-11-03: the 1st of November has 25 hours.
        let (start, end) = (1_793_332_800, 1_793_700_000);
        let cuts = cuts(&ny, Unit::Day, start, end);
        let at = CountedAt::new(start, &cuts, 86_400);
        assert!(
            at.arms
                .iter()
                .any(|a| matches!(a, Arm::Fixed { at, .. } if *at != start)),
            "{at:?}"
        );
        let nov1 = 1_793_505_600; // 2026-11-01T00:00-04:00
        assert_eq!(
            at.of(nov1 + 86_400 + 1_800),
            nov1,
            "the 25th hour is still the 1st"
        );
    }
}
