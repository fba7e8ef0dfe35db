//! Query parameters, parsed and validated at the edge: bad input is a 400 naming the problem.

use serde::Deserialize;
use tollgate_domain::zone::{Unit, Zone, ZoneError};
use tollgate_web::ApiError;

use super::range::Range;

/// Longest range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Longest hourly chart, in days.
pub const MAX_HOURLY_DAYS: i64 = 31;
/// Default range when `start` is not given.
pub const DEFAULT_DAYS: i64 = 30;
/// Latest accepted `start`/`end`: 9999-12-31T23:59:59Z. Calendar arithmetic is only
/// defined within chrono's range; a larger second once made the chart walk forever
/// (found by schemathesis).
pub const MAX_SECONDS: i64 = 253_402_300_799;

/// The raw query string (all text, so type errors are ours to report).
#[derive(Debug, Default, Deserialize)]
pub struct RawQuery {
    start: Option<String>,
    end: Option<String>,
    tz: Option<String>,
    granularity: Option<String>,
    model: Option<String>,
    key_id: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

fn seconds(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=MAX_SECONDS).contains(&n) => Ok(Some(n)),
            _ => Err(bad(format!(
                "{name} must be a whole number of unix seconds from 0 to {MAX_SECONDS}"
            ))),
        },
    }
}

/// Parse `tz`: an IANA zone (`Asia/Kathmandu`) or `±HH:MM`; none is UTC.
pub fn parse_zone(tz: Option<&str>) -> Result<Zone, ApiError> {
    Zone::parse(tz.unwrap_or("")).map_err(|e: ZoneError| bad(e.to_string()))
}

impl RawQuery {
    /// The range: `end` defaults to `now`, `start` to 30 days before `end`.
    pub fn range(&self, now: i64) -> Result<Range, ApiError> {
        let end = seconds("end", self.end.as_deref())?.unwrap_or(now);
        let start = seconds("start", self.start.as_deref())?
            .unwrap_or((end - DEFAULT_DAYS * 86_400).max(0));
        if start > end {
            return Err(bad("start must not be after end"));
        }
        if end - start > MAX_RANGE_DAYS * 86_400 {
            return Err(bad(format!(
                "the range may span at most {MAX_RANGE_DAYS} days"
            )));
        }
        Ok(Range {
            start,
            end,
            zone: parse_zone(self.tz.as_deref())?,
        })
    }

    /// `granularity=hour|day` (default day); hourly charts span at most 31 days.
    pub fn granularity(&self, range: &Range) -> Result<Unit, ApiError> {
        let g = match self.granularity.as_deref() {
            None | Some("") | Some("day") => Unit::Day,
            Some("hour") => Unit::Hour,
            Some(_) => return Err(bad("granularity must be hour or day")),
        };
        if g == Unit::Hour && range.end - range.start > MAX_HOURLY_DAYS * 86_400 {
            return Err(bad(format!(
                "hourly charts span at most {MAX_HOURLY_DAYS} days"
            )));
        }
        Ok(g)
    }

    /// `key_id` (one of the signed-in user's keys), if any.
    pub fn key_id(&self) -> Result<Option<uuid::Uuid>, ApiError> {
        match self.key_id.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| bad("key_id must be the id of one of your keys (a UUID)")),
        }
    }

    /// `model` filter (exact model name), if any.
    pub fn model(&self) -> Option<&str> {
        self.model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> RawQuery {
        let mut r = RawQuery::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "start" => r.start = v,
                "end" => r.end = v,
                "tz" => r.tz = v,
                "granularity" => r.granularity = v,
                _ => r.model = v,
            }
        }
        r
    }

    #[test]
    fn ranges() {
        let now = 1_000_000_000;
        assert_eq!(
            q(&[]).range(now).unwrap(),
            Range {
                start: now - 30 * 86_400,
                end: now,
                zone: Zone::UTC
            }
        );
        assert_eq!(
            q(&[("start", "5"), ("end", "5")]).range(now).unwrap().start,
            5
        );
        for bad in [
            vec![("start", "x")],
            vec![("start", "-1")],
            vec![("end", "1.5")],
            vec![("start", "10"), ("end", "9")],
            vec![("start", "0"), ("end", "31708801")],
            vec![("tz", "Mars/Olympus")],
            vec![("tz", "+08:10")],
            vec![("end", "253402300800")],
            vec![
                ("start", "9223372036854775807"),
                ("end", "9223372036854775807"),
            ],
        ] {
            assert!(q(&bad).range(now).is_err(), "{bad:?}");
        }
        let last = q(&[("start", "253402300799"), ("end", "253402300799")])
            .range(now)
            .unwrap();
        assert_eq!(last.start, MAX_SECONDS);
        assert!(q(&[("start", "0"), ("end", "31622400")]).range(now).is_ok());
        let kathmandu = q(&[("tz", "Asia/Kathmandu")]).range(now).unwrap();
        assert_eq!(kathmandu.zone.to_string(), "Asia/Kathmandu");
    }

    #[test]
    fn granularity() {
        let r = Range {
            start: 0,
            end: 40 * 86_400,
            zone: Zone::UTC,
        };
        assert_eq!(q(&[]).granularity(&r).unwrap(), Unit::Day);
        assert!(q(&[("granularity", "hour")]).granularity(&r).is_err());
        assert!(q(&[("granularity", "week")]).granularity(&r).is_err());
    }
}
