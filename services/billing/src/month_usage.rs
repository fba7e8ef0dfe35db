//! `GET /api/organizations/{id}/usage?month=YYYY-MM` (issue 14): the month's usage from the
//! quota backend's readings, the month's recharges, the credited total and the balance now.
//!
//! Usage readings are cumulative (see `store::usage`): the month's usage is the last reading
//! before the month ended (or now) minus the last reading before it began (none: 0).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tollgate_domain::money::Cents;
use tollgate_web::ApiError;

use crate::store::recharges::{self, RechargeRow, RechargeStatus};
use crate::store::usage;

/// A UTC calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    /// 00:00 UTC on its first day.
    pub start: DateTime<Utc>,
    /// 00:00 UTC on the next month's first day.
    pub end: DateTime<Utc>,
}

impl Month {
    /// `YYYY-MM` (400 otherwise), or the current UTC month when absent.
    pub fn parse(text: Option<&str>, now: DateTime<Utc>) -> Result<Month, ApiError> {
        let first = match text {
            None => NaiveDate::from_ymd_opt(now.year(), now.month(), 1).expect("a first day"),
            Some(text) => {
                let bad = || {
                    ApiError::bad_request("invalid_month", "month must be YYYY-MM, e.g. 2026-12")
                };
                let (y, m) = text.split_once('-').ok_or_else(bad)?;
                if y.len() != 4 || m.len() != 2 {
                    return Err(bad());
                }
                let (y, m) = (
                    y.parse::<i32>().map_err(|_| bad())?,
                    m.parse::<u32>().map_err(|_| bad())?,
                );
                NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?
            }
        };
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .expect("a month after any valid month");
        Ok(Month {
            start: first.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
            end: next.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
        })
    }

    /// `YYYY-MM`.
    pub fn label(&self) -> String {
        self.start.format("%Y-%m").to_string()
    }
}

/// One organisation's month.
#[derive(Debug, Clone)]
pub struct MonthUsage {
    /// The month.
    pub month: Month,
    /// Usage in it.
    pub usage: Cents,
    /// When the reading it ends with was taken (none: no reading yet).
    pub usage_read_at: Option<DateTime<Utc>>,
    /// The month's recharges, newest first.
    pub recharges: Vec<RechargeRow>,
    /// The credit of its succeeded recharges.
    pub recharged_total: Cents,
    /// Credited now.
    pub credited_total: Cents,
    /// Credited now minus the latest usage reading (none without a reading).
    pub balance: Option<Cents>,
}

/// The figures of organisation `org` for `month`, as of `now`.
pub async fn of(
    conn: &mut tollgate_db::AsyncPgConnection,
    org: i64,
    month: Month,
    now: DateTime<Utc>,
) -> Result<MonthUsage, ApiError> {
    let until = if month.end > now {
        now + chrono::Duration::seconds(1)
    } else {
        month.end
    };
    let last = usage::before(conn, org, until).await?;
    let before = usage::before(conn, org, month.start).await?;
    let at_start = before.map(|(u, _)| u).unwrap_or(Cents(0));
    let usage = match last {
        Some((u, _)) if month.start <= until => Cents(u.0.saturating_sub(at_start.0).max(0)),
        _ => Cents(0),
    };
    let recharges = recharges::created_between(conn, org, month.start, month.end).await?;
    let recharged_total = Cents(
        recharges
            .iter()
            .filter(|r| r.status() == RechargeStatus::Succeeded)
            .map(|r| r.amount_cents)
            .sum(),
    );
    let credited_total = recharges::credited_total(conn, org).await?;
    let latest = usage::before(conn, org, now + chrono::Duration::seconds(1)).await?;
    Ok(MonthUsage {
        month,
        usage,
        usage_read_at: last.map(|(_, at)| at),
        recharges,
        recharged_total,
        credited_total,
        balance: latest.map(|(u, _)| Cents(credited_total.0 - u.0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let now = "2026-12-07T05:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let m = Month::parse(None, now).unwrap();
        assert_eq!(m.label(), "2026-12");
        assert_eq!(m.end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        let feb = Month::parse(Some("2024-02"), now).unwrap();
        assert_eq!((feb.end - feb.start).num_days(), 29);
        for bad in [
            "2026-13",
            "2026-1",
            "26-01",
            "2026/01",
            "2026-00",
            "x",
            "2026-01-01",
            "",
        ] {
            assert!(Month::parse(Some(bad), now).is_err(), "{bad}");
        }
    }
}
