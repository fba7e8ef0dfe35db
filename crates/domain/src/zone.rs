//! Time zones for local days and hours: a fixed `±HH:MM` offset or an IANA zone from the
//! maintained tz database (`chrono-tz`), and the local calendar units of a range in it.
//!
//! A local unit is a maximal run of instants that share a local date (days) or a local date,
//! hour and UTC offset (hours). So a DST day has 23 or 25 hours, the repeated hour of a
//! fall-back is two units (told apart by their offsets), and a skipped hour is no unit.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Seconds in an hour.
const HOUR: i64 = 3_600;
/// Seconds in a day.
const DAY: i64 = 86_400;

/// A zone as asked for: a fixed offset or an IANA zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// `±HH:MM` (seconds east of UTC), or UTC itself (`Z`, `UTC`, nothing).
    Fixed(i32),
    /// An IANA zone such as `Asia/Kathmandu`.
    Named(Tz),
}

/// Why a `tz` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// Looks like an offset but is out of range or not in 15-minute steps.
    #[error("tz offsets run from -12:00 to +14:00 in steps of 15 minutes")]
    BadOffset,
    /// Neither an offset nor a zone of the tz database.
    #[error("tz must be an IANA zone such as Asia/Shanghai, or an offset such as +08:00")]
    Unknown,
}

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone::Fixed(0);

    /// Parse `tz`: empty, `Z` or `UTC` → UTC; `±HH:MM` (a leading space is a `+` lost to URL
    /// decoding) → that offset; otherwise an IANA name, spelled as in the tz database.
    pub fn parse(tz: &str) -> Result<Self, ZoneError> {
        if matches!(tz, "" | "Z" | "UTC" | "utc") {
            return Ok(Self::UTC);
        }
        match tz.as_bytes()[0] {
            b'+' | b' ' => parse_offset(&tz[1..], 1),
            b'-' => parse_offset(&tz[1..], -1),
            _ => Tz::from_str(tz)
                .map(Zone::Named)
                .map_err(|_| ZoneError::Unknown),
        }
    }

    /// Seconds east of UTC at unix second `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        match self {
            Zone::Fixed(s) => *s,
            Zone::Named(tz) => tz
                .offset_from_utc_datetime(&utc(t).naive_utc())
                .fix()
                .local_minus_utc(),
        }
    }

    /// The local wall time of `t`, with its offset.
    pub fn local(&self, t: i64) -> DateTime<FixedOffset> {
        let offset = FixedOffset::east_opt(self.offset_at(t))
            .unwrap_or(FixedOffset::east_opt(0).expect("0 is valid"));
        utc(t).with_timezone(&offset)
    }

    /// The local units of `unit` from the one holding `start` to the one holding `end`
    /// (inclusive), in order. The first may begin before `start`; each runs to the next.
    pub fn units(&self, unit: Unit, start: i64, end: i64) -> Vec<LocalUnit> {
        let mut at = self.unit_start(unit, start);
        let mut out = Vec::new();
        loop {
            let next = self.next_boundary(unit, at);
            out.push(LocalUnit {
                start: at,
                label: self.label(unit, at),
            });
            if next > end {
                return out;
            }
            at = next;
        }
    }

    /// The first instant of the unit holding `t`.
    pub fn unit_start(&self, unit: Unit, t: i64) -> i64 {
        // No unit is longer than 26 hours: walk forward from safely before it.
        let mut at = t - unit.seconds() - 2 * HOUR;
        loop {
            let next = self.next_boundary(unit, at);
            if next > t {
                return at;
            }
            at = next;
        }
    }

    /// The first instant after `t` whose unit differs from `t`'s.
    pub fn next_boundary(&self, unit: Unit, t: i64) -> i64 {
        let here = self.key(unit, t);
        let mut at = t;
        loop {
            let offset = self.offset_at(at);
            // The next local hour or midnight were the offset to stay.
            let size = unit.seconds();
            let natural = at + size - (at + i64::from(offset)).rem_euclid(size);
            // A transition before it ends the run of this offset first. (Offsets change at
            // most once within a day in the tz database since 1970.)
            let step = if self.offset_at(natural - 1) != offset {
                self.first_change(at, natural - 1, offset)
            } else {
                natural
            };
            if self.key(unit, step) != here {
                return step;
            }
            at = step;
        }
    }

    /// The smallest `x` in `(lo, hi]` whose offset is not `offset` (the one at `hi` is not).
    fn first_change(&self, mut lo: i64, mut hi: i64, offset: i32) -> i64 {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.offset_at(mid) == offset {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }

    fn key(&self, unit: Unit, t: i64) -> (NaiveDate, u32, i32) {
        let local = self.local(t);
        match unit {
            Unit::Day => (local.date_naive(), 0, 0),
            Unit::Hour => (
                local.date_naive(),
                local.hour(),
                local.offset().local_minus_utc(),
            ),
        }
    }

    /// `YYYY-MM-DD` for a day; the local start with its offset for an hour, such as
    /// `2026-11-01T01:00-04:00` (minutes are not `00` only where a transition starts the hour
    /// inside it).
    pub fn label(&self, unit: Unit, t: i64) -> String {
        let local = self.local(t);
        match unit {
            Unit::Day => format!(
                "{:04}-{:02}-{:02}",
                local.year(),
                local.month(),
                local.day()
            ),
            Unit::Hour => local.format("%Y-%m-%dT%H:%M%:z").to_string(),
        }
    }
}

impl fmt::Display for Zone {
    /// As given: `UTC`, `+05:45`, or the IANA name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Fixed(0) => f.write_str("UTC"),
            Zone::Fixed(s) => {
                let sign = if *s < 0 { '-' } else { '+' };
                let m = s.unsigned_abs() / 60;
                write!(f, "{sign}{:02}:{:02}", m / 60, m % 60)
            }
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

/// A local calendar unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Local hours.
    Hour,
    /// Local days.
    Day,
}

impl Unit {
    /// Its usual length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Unit::Hour => HOUR,
            Unit::Day => DAY,
        }
    }
}

/// One local unit of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUnit {
    /// Unix second of its first instant.
    pub start: i64,
    /// Its label (see [`Zone::label`]).
    pub label: String,
}

fn utc(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

fn parse_offset(rest: &str, sign: i32) -> Result<Zone, ZoneError> {
    let (h, m) = rest
        .split_once(':')
        .filter(|_| rest.len() == 5)
        .and_then(|(h, m)| Some((h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)))
        .ok_or(ZoneError::BadOffset)?;
    let minutes = sign * (h * 60 + m);
    if !(0..=14).contains(&h)
        || ![0, 15, 30, 45].contains(&m)
        || !(-12 * 60..=14 * 60).contains(&minutes)
    {
        return Err(ZoneError::BadOffset);
    }
    Ok(Zone::Fixed(minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(s: &str) -> Zone {
        Zone::parse(s).unwrap()
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn parses_offsets_and_names_and_echoes_them() {
        for (given, echoed) in [
            ("", "UTC"),
            ("Z", "UTC"),
            ("+08:00", "+08:00"),
            (" 05:45", "+05:45"),
            ("-03:30", "-03:30"),
            ("Asia/Kathmandu", "Asia/Kathmandu"),
            ("America/New_York", "America/New_York"),
        ] {
            assert_eq!(zone(given).to_string(), echoed, "{given}");
        }
        for bad in ["+8:00", "+08:10", "+15:00", "-13:00", "+08:00:00"] {
            assert_eq!(Zone::parse(bad), Err(ZoneError::BadOffset), "{bad}");
        }
        for bad in [
            "08:00",
            "nope",
            "Mars/Olympus",
            "asia/shanghai",
            "Asia/Shanghai ",
        ] {
            assert_eq!(Zone::parse(bad), Err(ZoneError::Unknown), "{bad}");
        }
    }

    #[test]
    fn a_spring_forward_day_has_23_hours_and_no_skipped_hour() {
        let ny = zone("America/New_York");
        let day = ny.units(
            Unit::Day,
            ts("2026-03-08T12:00:00Z"),
            ts("2026-03-08T12:00:00Z"),
        );
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].start, ts("2026-03-08T00:00:00-05:00"));
        assert_eq!(
            ny.next_boundary(Unit::Day, day[0].start) - day[0].start,
            23 * HOUR
        );
        let hours = ny.units(
            Unit::Hour,
            ts("2026-03-08T00:00:00-05:00"),
            ts("2026-03-08T23:59:59-04:00"),
        );
        let labels: Vec<&str> = hours.iter().map(|u| u.label.as_str()).collect();
        assert_eq!(hours.len(), 23);
        assert_eq!(
            &labels[1..3],
            ["2026-03-08T01:00-05:00", "2026-03-08T03:00-04:00"]
        );
    }

    #[test]
    fn a_fall_back_day_has_25_hours_and_the_repeated_hour_twice() {
        let london = zone("Europe/London");
        let start = ts("2026-10-25T00:00:00+01:00");
        let next = london.next_boundary(Unit::Day, start);
        assert_eq!(next - start, 25 * HOUR);
        let hours = london.units(Unit::Hour, start, next - 1);
        let labels: Vec<&str> = hours.iter().map(|u| u.label.as_str()).collect();
        assert_eq!(hours.len(), 25);
        assert_eq!(
            &labels[1..3],
            ["2026-10-25T01:00+01:00", "2026-10-25T01:00+00:00"]
        );
        assert_eq!(hours[2].start - hours[1].start, HOUR);
    }

    #[test]
    fn odd_offsets_start_their_hours_off_the_utc_hour() {
        let kathmandu = zone("Asia/Kathmandu");
        let t = ts("2026-01-01T10:20:00Z"); // 16:05 local
        assert_eq!(
            kathmandu.unit_start(Unit::Hour, t),
            ts("2026-01-01T16:00:00+05:45")
        );
        assert_eq!(
            kathmandu.unit_start(Unit::Day, t),
            ts("2026-01-01T00:00:00+05:45")
        );
        let fixed = zone("-03:30");
        let hour = fixed.unit_start(Unit::Hour, t);
        assert_eq!(fixed.label(Unit::Hour, hour), "2026-01-01T06:00-03:30");
    }

    #[test]
    fn lord_howe_half_hour_shift() {
        // Lord Howe moves its clocks by 30 minutes: 02:00 +10:30 → 02:30 +11:00 (spring).
        let lh = zone("Australia/Lord_Howe");
        let start = ts("2026-10-04T00:00:00+10:30");
        let hours = lh.units(Unit::Hour, start, ts("2026-10-04T03:59:59+11:00"));
        let labels: Vec<&str> = hours.iter().map(|u| u.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "2026-10-04T00:00+10:30",
                "2026-10-04T01:00+10:30",
                "2026-10-04T02:30+11:00",
                "2026-10-04T03:00+11:00"
            ]
        );
    }

    #[test]
    fn units_cover_a_year_contiguously_in_every_listed_zone() {
        let (start, end) = (ts("2026-01-01T00:00:00Z"), ts("2026-12-31T23:59:59Z"));
        for name in [
            "UTC",
            "Asia/Shanghai",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "+05:45",
        ] {
            let z = zone(name);
            for unit in [Unit::Day, Unit::Hour] {
                let units = z.units(unit, start, end);
                assert!(units[0].start <= start && units.last().unwrap().start <= end);
                for pair in units.windows(2) {
                    assert!(pair[0].start < pair[1].start, "{name}");
                    assert_ne!(pair[0].label, pair[1].label, "{name}");
                    // Every instant of a unit has its key; the one before the next does too.
                    assert_eq!(
                        z.key(unit, pair[0].start),
                        z.key(unit, pair[1].start - 1),
                        "{name}"
                    );
                    assert_ne!(
                        z.key(unit, pair[1].start),
                        z.key(unit, pair[1].start - 1),
                        "{name}"
                    );
                }
            }
        }
    }
}
