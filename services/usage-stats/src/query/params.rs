//! Query parameters, parsed and validated at the edge: bad input is a 400 naming the problem.

use serde::Deserialize;
use tollgate_web::ApiError;

/// Longest range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Longest hourly chart, in days.
pub const MAX_HOURLY_DAYS: i64 = 31;
/// Default range when `start` is not given.
pub const DEFAULT_DAYS: i64 = 30;

/// The raw query string (all text, so type errors are ours to report).
#[derive(Debug, Default, Deserialize)]
pub struct RawQuery {
    start: Option<String>,
    end: Option<String>,
    tz: Option<String>,
    granularity: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
    model: Option<String>,
}

/// A validated inclusive range and UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First second (inclusive).
    pub start: i64,
    /// Last second (inclusive).
    pub end: i64,
    /// Offset of `tz` from UTC, seconds.
    pub offset: i64,
}

/// Chart bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Local hours.
    Hour,
    /// Local days.
    Day,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

fn seconds(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(bad(format!(
                "{name} must be a non-negative whole number of unix seconds"
            ))),
        },
    }
}

/// Parse `±HH:MM` (also `Z`/`UTC`; a leading space is a `+` lost to URL decoding).
pub fn parse_offset(tz: Option<&str>) -> Result<i64, ApiError> {
    let Some(tz) = tz.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    if matches!(tz, "Z" | "UTC" | "utc") {
        return Ok(0);
    }
    let (sign, rest) = match tz.as_bytes()[0] {
        b'+' | b' ' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return Err(bad("tz must look like +08:00 or -05:30")),
    };
    let parsed = rest
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i64>().ok()?, m.parse::<i64>().ok()?)))
        .filter(|(h, m)| rest.len() == 5 && (0..=14).contains(h) && [0, 15, 30, 45].contains(m));
    match parsed {
        Some((h, m)) if sign * (h * 60 + m) >= -12 * 60 && sign * (h * 60 + m) <= 14 * 60 => {
            Ok(sign * (h * 3600 + m * 60))
        }
        _ => Err(bad(
            "tz must be an offset from -12:00 to +14:00 in steps of 15 minutes",
        )),
    }
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
            offset: parse_offset(self.tz.as_deref())?,
        })
    }

    /// `granularity=hour|day` (default day); hourly charts span at most 31 days.
    pub fn granularity(&self, range: &Range) -> Result<Granularity, ApiError> {
        let g = match self.granularity.as_deref() {
            None | Some("") | Some("day") => Granularity::Day,
            Some("hour") => Granularity::Hour,
            Some(_) => return Err(bad("granularity must be hour or day")),
        };
        if g == Granularity::Hour && range.end - range.start > MAX_HOURLY_DAYS * 86_400 {
            return Err(bad(format!(
                "hourly charts span at most {MAX_HOURLY_DAYS} days"
            )));
        }
        Ok(g)
    }

    /// `page` (≥ 1, default 1) and `page_size` (1–100, default 20).
    pub fn page(&self) -> Result<(i64, i64), ApiError> {
        let number = |name: &str, v: Option<&str>, default: i64| match v.map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| bad(format!("{name} must be a whole number"))),
        };
        let page = number("page", self.page.as_deref(), 1)?;
        let size = number("page_size", self.page_size.as_deref(), 20)?;
        if page < 1 {
            return Err(bad("page must be at least 1"));
        }
        if !(1..=100).contains(&size) {
            return Err(bad("page_size must be 1 to 100"));
        }
        Ok((page, size))
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
                "page" => r.page = v,
                "page_size" => r.page_size = v,
                _ => r.model = v,
            }
        }
        r
    }

    #[test]
    fn ranges() {
        let now = 1_800_000_000;
        assert_eq!(
            q(&[]).range(now).unwrap(),
            Range {
                start: now - 30 * 86_400,
                end: now,
                offset: 0
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
        ] {
            assert!(q(&bad).range(now).is_err(), "{bad:?}");
        }
        assert!(q(&[("start", "0"), ("end", "31622400")]).range(now).is_ok());
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset(Some("+08:00")).unwrap(), 8 * 3600);
        assert_eq!(parse_offset(Some(" 05:45")).unwrap(), 5 * 3600 + 45 * 60);
        assert_eq!(parse_offset(Some("-03:30")).unwrap(), -(3 * 3600 + 1800));
        assert_eq!(parse_offset(Some("Z")).unwrap(), 0);
        for bad in [
            "08:00",
            "+8:00",
            "+08:10",
            "+15:00",
            "-13:00",
            "+08:00:00",
            "nope",
        ] {
            assert!(parse_offset(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn granularity_and_pages() {
        let r = Range {
            start: 0,
            end: 40 * 86_400,
            offset: 0,
        };
        assert_eq!(q(&[]).granularity(&r).unwrap(), Granularity::Day);
        assert!(q(&[("granularity", "hour")]).granularity(&r).is_err());
        assert!(q(&[("granularity", "week")]).granularity(&r).is_err());
        assert_eq!(q(&[]).page().unwrap(), (1, 20));
        assert!(q(&[("page", "0")]).page().is_err());
        assert!(q(&[("page_size", "101")]).page().is_err());
        assert!(q(&[("page_size", "abc")]).page().is_err());
    }
}
