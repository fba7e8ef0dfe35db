//! The typed bodies of `/detail`, `/chart` and `/logs`.

use serde::{Deserialize, Serialize};
use tollgate_domain::zone::Unit;
use utoipa::ToSchema;

use super::model::LogView;
use super::range::Range;
use super::sums::Totals;

/// `{"success": true, "data": …}`.
#[derive(Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Answer<T> {
    /// Always `true`.
    pub success: bool,
    /// The answer.
    pub data: T,
}

impl<T> Answer<T> {
    /// A successful answer.
    pub fn new(data: T) -> Self {
        Self {
            success: true,
            data,
        }
    }
}

/// The range an answer covers, with the zone it was read in, as given (`UTC` by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RangeView {
    /// First second (inclusive).
    pub start: i64,
    /// Last second (inclusive).
    pub end: i64,
    /// `UTC`, `±HH:MM` or an IANA name.
    pub tz: String,
}

impl From<&Range> for RangeView {
    fn from(r: &Range) -> Self {
        Self {
            start: r.start,
            end: r.end,
            tz: r.zone.to_string(),
        }
    }
}

/// Totals of a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    /// Quota.
    pub total_quota: i64,
    /// Quota in USD.
    pub total_quota_usd: f64,
    /// Consume logs.
    pub total_requests: i64,
    /// Prompt + completion tokens.
    pub total_tokens: i64,
    /// Mean `use_time`, milliseconds.
    pub avg_latency_ms: i64,
}

/// One model's share of a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelUsage {
    /// Model.
    pub model_name: String,
    /// Quota.
    pub quota: i64,
    /// Quota in USD.
    pub quota_usd: f64,
    /// Consume logs.
    pub requests: i64,
    /// Prompt + completion tokens.
    pub tokens: i64,
    /// Share of the range's quota, percent with two decimals.
    pub percentage: f64,
}

/// One local day of `/detail`'s `by_day`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DayUsage {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    /// Unix second of the local day's first instant.
    pub start: i64,
    /// Quota.
    pub quota: i64,
    /// Quota in USD.
    pub quota_usd: f64,
    /// Consume logs.
    pub requests: i64,
    /// Prompt + completion tokens.
    pub tokens: i64,
}

/// `/detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Detail {
    /// The range and zone.
    pub range: RangeView,
    /// Totals.
    pub summary: Summary,
    /// Per model, largest quota first.
    pub by_model: Vec<ModelUsage>,
    /// Every local day from `start`'s to `end`'s.
    pub by_day: Vec<DayUsage>,
    /// The 20 newest consume logs of the range.
    pub recent_logs: Vec<LogView>,
}

/// A chart's bucket size.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Local hours.
    Hour,
    /// Local days.
    Day,
}

impl From<Unit> for Granularity {
    fn from(u: Unit) -> Self {
        match u {
            Unit::Hour => Granularity::Hour,
            Unit::Day => Granularity::Day,
        }
    }
}

/// One local unit of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChartPoint {
    /// `YYYY-MM-DD` (days) or the local start with its offset, `YYYY-MM-DDTHH:MM±HH:MM`
    /// (hours).
    pub label: String,
    /// Unix second of the unit's first instant.
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

/// `/chart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Chart {
    /// The range and zone.
    pub range: RangeView,
    /// Hours or days.
    pub granularity: Granularity,
    /// Every local unit from `start`'s to `end`'s.
    pub points: Vec<ChartPoint>,
}

/// `/logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogsPage {
    /// The range and zone.
    pub range: RangeView,
    /// 1-based page.
    pub page: i64,
    /// Items per page.
    pub page_size: i64,
    /// Consume logs in the range (and model).
    pub total: i64,
    /// This page, newest first.
    pub items: Vec<LogView>,
}

/// Summary of `t`, with `usd` converting quota.
pub fn summary(t: &Totals, usd: impl Fn(i64) -> f64) -> Summary {
    Summary {
        total_quota: t.quota,
        total_quota_usd: usd(t.quota),
        total_requests: t.requests,
        total_tokens: t.tokens,
        avg_latency_ms: t.avg_latency_ms(),
    }
}

/// One of a user's keys in `/api/usage/user/detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeySummary {
    /// key-sync's id.
    pub key_id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// `sk-…last4`.
    pub key_hint: String,
    /// Its totals over the range.
    pub summary: Summary,
}

/// `/api/usage/user/detail`: `/detail` over all the user's keys, plus each key's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserDetail {
    /// Everything `/detail` has, over all keys.
    #[serde(flatten)]
    pub detail: Detail,
    /// Each key (oldest first), with its totals.
    pub keys: Vec<KeySummary>,
}
