//! The service layer of the key endpoints: one key's answers over a range, each computed
//! from the rollups and the raw edges, and cached under the key's ingest version.

use std::future::Future;
use std::sync::Arc;

use actix_web::web::Bytes;
use serde::Serialize;
use tollgate_db::DbError;
use tollgate_domain::zone::{LocalUnit, Unit};
use tollgate_web::ApiError;

use super::cache::{token_version, AnswerKey, Request};
use super::model::{LogView, QueryError};
use super::pieces::{self, FigureSet, Sources};
use super::range::{Page, Range};
use super::recent;
use super::sums::{by_model, per_unit, total};
use super::views::{
    summary, Answer, Chart, ChartPoint, DayUsage, Detail, LogsPage, ModelUsage, RangeView,
};
use crate::state::AppState;

/// Log a failed query; the caller answers 503.
fn unavailable(e: QueryError) -> ApiError {
    tracing::warn!(error = %e, "usage query failed");
    unavailable_now()
}

/// The answer to every waiter of a shared load that failed (the load logged its error).
fn unavailable_now() -> ApiError {
    ApiError::Unavailable("usage data is unavailable right now".into())
}

/// One key's usage, as of the ingest version read when it was opened.
pub struct KeyUsage<'a> {
    state: &'a AppState,
    token: i64,
    version: Option<i64>,
}

impl<'a> KeyUsage<'a> {
    /// Read `token`'s ingest version first (when the result cache is on), so an answer
    /// cached under it is never older than what this request could have read.
    pub async fn open(state: &'a AppState, token: i64) -> Result<Self, ApiError> {
        let version = match state.results {
            None => None,
            Some(_) => {
                let mut conn = state
                    .pool
                    .get()
                    .await
                    .map_err(|e| unavailable(DbError::from(e).into()))?;
                Some(
                    token_version(&mut conn, token)
                        .await
                        .map_err(|e| unavailable(e.into()))?,
                )
            }
        };
        Ok(Self {
            state,
            token,
            version,
        })
    }

    /// `/detail`'s body: totals, per model, per local day, the 20 newest logs.
    pub async fn detail(&self, range: Range) -> Result<Bytes, ApiError> {
        self.answer(Request::Detail(range), self.detail_data(&range))
            .await
    }

    /// `/chart`'s body: every local hour or day of the range.
    pub async fn chart(&self, range: Range, unit: Unit) -> Result<Bytes, ApiError> {
        self.answer(Request::Chart(range, unit), self.chart_data(&range, unit))
            .await
    }

    /// `/logs`'s body: one page, newest first, with the total.
    pub async fn logs(
        &self,
        range: Range,
        page: Page,
        model: Option<&str>,
    ) -> Result<Bytes, ApiError> {
        let request = Request::Logs(range, page, model.unwrap_or("").to_owned());
        self.answer(request, self.logs_data(&range, page, model))
            .await
    }

    /// Serialize `make`'s answer, kept whole under the version.
    async fn answer<T: Serialize>(
        &self,
        request: Request,
        make: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<Bytes, ApiError> {
        let Some((cache, version)) = self.state.results.as_ref().zip(self.version) else {
            return make.await.map(|data| body(&data));
        };
        let key: AnswerKey = (self.token, version, request);
        cache
            .answers
            .try_get_with(key, async { make.await.map(|data| body(&data)) })
            .await
            .map_err(|_: Arc<ApiError>| unavailable_now())
    }

    async fn detail_data(&self, range: &Range) -> Result<Detail, ApiError> {
        let days = range.units(Unit::Day);
        // Figures and the latest logs are independent: load them at once.
        let (rows, recent) = tokio::try_join!(
            self.figures(range, &days, None),
            self.logs_page(range, None, Page::first(20)),
        )?;
        let usd = |q| self.state.usd(q);
        let totals = total(rows.iter());
        let by_model = by_model(rows.iter())
            .into_iter()
            .map(|(model_name, t)| ModelUsage {
                model_name,
                quota: t.quota,
                quota_usd: usd(t.quota),
                requests: t.requests,
                tokens: t.tokens,
                percentage: percentage(t.quota, totals.quota),
            })
            .collect();
        let by_day = days
            .iter()
            .zip(per_unit(rows.iter(), &days))
            .map(|(u, t)| DayUsage {
                date: u.label.clone(),
                start: u.start,
                quota: t.quota,
                quota_usd: usd(t.quota),
                requests: t.requests,
                tokens: t.tokens,
            })
            .collect();
        Ok(Detail {
            range: range.into(),
            summary: summary(&totals, usd),
            by_model,
            by_day,
            recent_logs: recent.to_vec(),
        })
    }

    async fn chart_data(&self, range: &Range, unit: Unit) -> Result<Chart, ApiError> {
        let units = range.units(unit);
        let rows = self.figures(range, &units, None).await?;
        let points = units
            .iter()
            .zip(per_unit(rows.iter(), &units))
            .map(|(u, t)| ChartPoint {
                label: u.label.clone(),
                start: u.start,
                requests: t.requests,
                quota: t.quota,
                quota_usd: self.state.usd(t.quota),
                tokens: t.tokens,
            })
            .collect();
        Ok(Chart {
            range: RangeView::from(range),
            granularity: unit.into(),
            points,
        })
    }

    async fn logs_data(
        &self,
        range: &Range,
        page: Page,
        model: Option<&str>,
    ) -> Result<LogsPage, ApiError> {
        let (rows, items) = tokio::try_join!(
            self.figures(range, &[], model),
            self.logs_page(range, model, page),
        )?;
        Ok(LogsPage {
            range: range.into(),
            page: page.number,
            page_size: page.size,
            total: total(rows.iter()).requests,
            items: items.to_vec(),
        })
    }

    /// The range's figures, in pieces that never straddle the start of one of `units`.
    async fn figures(
        &self,
        range: &Range,
        units: &[LocalUnit],
        model: Option<&str>,
    ) -> Result<FigureSet, ApiError> {
        let cuts: Vec<i64> = units.iter().skip(1).map(|u| u.start).collect();
        let mut conn = self
            .state
            .pool
            .get()
            .await
            .map_err(|e| unavailable(DbError::from(e).into()))?;
        let sources = Sources {
            pool: &self.state.logs,
            cached: self.state.results.as_ref().zip(self.version),
        };
        pieces::load(&mut conn, &sources, self.token, range, &cuts, model)
            .await
            .map_err(unavailable)
    }

    /// One page of the key's logs in `range`, newest first, full rows from new-api.
    async fn logs_page(
        &self,
        range: &Range,
        model: Option<&str>,
        page: Page,
    ) -> Result<Arc<Vec<LogView>>, ApiError> {
        let load = async {
            let ids = {
                let mut conn = self.state.pool.get().await.map_err(DbError::from)?;
                recent::page_ids(&mut conn, self.token, range, model, page).await?
            };
            recent::fetch(&self.state.logs, &ids, |q| self.state.usd(q))
                .await
                .map(Arc::new)
        };
        match (&self.state.results, self.version) {
            (Some(cache), Some(version)) => {
                let key = (
                    self.token,
                    version,
                    [range.start, range.end],
                    page,
                    model.unwrap_or("").to_owned(),
                );
                cache
                    .pages
                    .try_get_with(key, async { load.await.map_err(unavailable) })
                    .await
                    .map_err(|_: Arc<ApiError>| unavailable_now())
            }
            _ => load.await.map_err(unavailable),
        }
    }
}

/// `part` of `whole` in percent, two decimals.
fn percentage(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    }
}

fn body<T: Serialize>(data: &T) -> Bytes {
    // Our own plain structs: serializing cannot fail.
    Bytes::from(serde_json::to_vec(&Answer::new(data)).unwrap_or_default())
}
