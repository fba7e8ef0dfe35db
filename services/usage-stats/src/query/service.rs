//! The service layer: answers over a set of new-api tokens (one key, or all of a signed-in
//! user's keys) for a range, computed from the rollups and the log index, and cached under
//! each token's ingest version.

use std::future::Future;
use std::sync::Arc;

use actix_web::web::Bytes;
use serde::Serialize;
use tokio::sync::Mutex;
use tollgate_db::{DbError, PooledConn};
use tollgate_domain::ids::UserId;
use tollgate_domain::zone::{LocalUnit, Unit};
use tollgate_web::ApiError;
use uuid::Uuid;

use super::cache::{token_versions, AnswerKey, KeyLabel, Request, Versions};
use super::export::Export;
use super::model::{LogView, QueryError};
use super::pieces::{self, FigureSet};
use super::range::{Page, Range};
use super::recent;
use super::sums::{by_model, per_unit, total};
use super::views::{
    summary, Answer, Chart, ChartPoint, DayUsage, Detail, KeySummary, LogsPage, ModelUsage,
    RangeView, UserDetail,
};
use crate::clickhouse::Selection;
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

/// The usage of a set of tokens, as of the ingest versions read when it was opened.
pub struct Usage<'a> {
    state: &'a AppState,
    /// One Tollgate connection for the whole request (one pool checkout and its test query,
    /// not one per step); its steps take turns. None with the logs in ClickHouse, where
    /// nothing is read from Tollgate's database.
    conn: Option<Mutex<PooledConn<'a>>>,
    /// Ascending, distinct.
    tokens: Vec<i64>,
    /// Each token's version, when the result cache is on.
    versions: Option<Versions>,
    /// How a per-user answer names the keys (empty for a key's own answers).
    labels: Vec<KeyLabel>,
}

impl<'a> Usage<'a> {
    /// One key's usage.
    pub async fn of_key(state: &'a AppState, token: i64) -> Result<Self, ApiError> {
        Self::open(state, vec![token], Vec::new()).await
    }

    /// The usage of `user`'s keys as key-sync lists them (every status): all of them, or only
    /// `key_id`, which must be one of them (else 404).
    pub async fn of_user(
        state: &'a AppState,
        user: UserId,
        key_id: Option<Uuid>,
    ) -> Result<Self, ApiError> {
        let directory = state.directory.as_ref().ok_or_else(|| {
            ApiError::Unavailable("the per-user view is off (KEY_SYNC_URL is not set)".into())
        })?;
        let keys = directory.keys_of(user).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot list a user's keys");
            ApiError::Unavailable("your keys cannot be listed right now".into())
        })?;
        let labels: Vec<KeyLabel> = keys
            .keys
            .iter()
            .filter(|k| key_id.is_none_or(|id| k.key_id == id))
            .map(|k| KeyLabel {
                key_id: k.key_id,
                name: k.name.clone(),
                key_hint: k.key_hint.clone(),
                token: k.newapi_token_id,
            })
            .collect();
        if key_id.is_some() && labels.is_empty() {
            return Err(ApiError::NotFound("no such key among yours".into()));
        }
        Self::of_keys(state, labels).await
    }

    /// The usage of the keys in `labels` (a user's), named by them.
    pub async fn of_keys(state: &'a AppState, labels: Vec<KeyLabel>) -> Result<Self, ApiError> {
        let tokens = labels.iter().filter_map(|l| l.token).collect();
        Self::open(state, tokens, labels).await
    }

    /// Read the versions first (when the result cache is on), so an answer cached under them
    /// is never older than what this request could have read.
    async fn open(
        state: &'a AppState,
        mut tokens: Vec<i64>,
        labels: Vec<KeyLabel>,
    ) -> Result<Self, ApiError> {
        tokens.sort_unstable();
        tokens.dedup();
        if state.clickhouse.is_some() {
            return Ok(Self {
                state,
                conn: None,
                tokens,
                versions: None,
                labels,
            });
        }
        let mut conn = state
            .pool
            .get()
            .await
            .map_err(|e| unavailable(DbError::from(e).into()))?;
        let versions = match state.results {
            None => None,
            Some(_) => Some(
                token_versions(&mut conn, &tokens)
                    .await
                    .map_err(|e| unavailable(e.into()))?,
            ),
        };
        Ok(Self {
            state,
            conn: Some(Mutex::new(conn)),
            tokens,
            versions,
            labels,
        })
    }

    /// `/detail`'s body: totals, per model, per local day, the 20 newest logs; per key too
    /// when the keys are named.
    pub async fn detail(&self, range: Range) -> Result<Bytes, ApiError> {
        self.answer(Request::Detail(range), async {
            let (detail, per_token) = self.detail_data(&range).await?;
            if self.labels.is_empty() {
                return Ok(Body::Key(detail));
            }
            let keys = self
                .labels
                .iter()
                .map(|l| {
                    let figures = l
                        .token
                        .and_then(|t| self.tokens.iter().position(|x| *x == t))
                        .map(|i| total(per_token[i].iter()))
                        .unwrap_or_default();
                    KeySummary {
                        key_id: l.key_id,
                        name: l.name.clone(),
                        key_hint: l.key_hint.clone(),
                        summary: summary(&figures, |q| self.state.usd(q)),
                    }
                })
                .collect();
            Ok(Body::User(UserDetail { detail, keys }))
        })
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

    /// Every consume log of the range as CSV (a `key_name` column when the keys are named).
    pub fn export(&self, range: Range, model: Option<&str>) -> Export {
        Export {
            pool: self.state.pool.clone(),
            clickhouse: self.state.clickhouse.clone(),
            tokens: self.tokens.clone(),
            labels: self.labels.clone(),
            range,
            model: model.map(str::to_owned),
            quota_per_unit: self.state.quota_per_unit,
        }
    }

    /// Serialize `make`'s answer, kept whole under the versions.
    async fn answer<T: Serialize>(
        &self,
        request: Request,
        make: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<Bytes, ApiError> {
        let (Some(cache), Some(versions)) = (&self.state.results, &self.versions) else {
            return make.await.map(|data| body(&data));
        };
        let key: AnswerKey = (versions.clone(), request, self.labels.clone());
        cache
            .answers
            .try_get_with(key, async { make.await.map(|data| body(&data)) })
            .await
            .map_err(|_: Arc<ApiError>| unavailable_now())
    }

    async fn detail_data(&self, range: &Range) -> Result<(Detail, Vec<FigureSet>), ApiError> {
        let days = range.units(Unit::Day);
        // Figures and the latest logs are independent: load them at once.
        let (per_token, recent) = tokio::try_join!(
            self.figures(range, &days, Unit::Day.seconds(), None),
            self.logs_page(range, None, Page::first(20)),
        )?;
        let rows = || per_token.iter().flat_map(FigureSet::iter);
        let usd = |q| self.state.usd(q);
        let totals = total(rows());
        let by_model = by_model(rows())
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
            .zip(per_unit(rows(), &days))
            .map(|(u, t)| DayUsage {
                date: u.label.clone(),
                start: u.start,
                quota: t.quota,
                quota_usd: usd(t.quota),
                requests: t.requests,
                tokens: t.tokens,
            })
            .collect();
        let detail = Detail {
            range: range.into(),
            summary: summary(&totals, usd),
            by_model,
            by_day,
            recent_logs: recent,
        };
        Ok((detail, per_token))
    }

    async fn chart_data(&self, range: &Range, unit: Unit) -> Result<Chart, ApiError> {
        let units = range.units(unit);
        let per_token = self.figures(range, &units, unit.seconds(), None).await?;
        let points = units
            .iter()
            .zip(per_unit(per_token.iter().flat_map(FigureSet::iter), &units))
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
        let (per_token, items) = tokio::try_join!(
            self.figures(range, &[], 0, model),
            self.logs_page(range, model, page),
        )?;
        Ok(LogsPage {
            range: range.into(),
            page: page.number,
            page_size: page.size,
            total: total(per_token.iter().flat_map(FigureSet::iter)).requests,
            items,
        })
    }

    /// Each token's figures over the range (in `tokens` order), in pieces that never straddle
    /// the start of one of `units` (`step` seconds apart outside zone transitions).
    async fn figures(
        &self,
        range: &Range,
        units: &[LocalUnit],
        step: i64,
        model: Option<&str>,
    ) -> Result<Vec<FigureSet>, ApiError> {
        if let Some(ch) = &self.state.clickhouse {
            let sel = self.selection(range, model);
            return ch
                .figures(&sel, units, step)
                .await
                .map_err(|e| unavailable(e.into()));
        }
        let cuts: Vec<i64> = units.iter().skip(1).map(|u| u.start).collect();
        let cuts = &cuts;
        let loads = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, &token)| async move {
                let mut conn = self.tollgate()?.lock().await;
                let cached = self
                    .state
                    .results
                    .as_ref()
                    .zip(self.versions.as_ref().map(|v| v[i].1));
                pieces::load(&mut conn, cached, token, range, cuts, model).await
            });
        futures_util::future::try_join_all(loads)
            .await
            .map_err(unavailable)
    }

    /// One page of the tokens' logs in `range`, newest first, full rows from new-api, named
    /// by key in a per-user answer.
    async fn logs_page(
        &self,
        range: &Range,
        model: Option<&str>,
        page: Page,
    ) -> Result<Vec<LogView>, ApiError> {
        if self.tokens.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(ch) = &self.state.clickhouse {
            let logs = ch
                .page(&self.selection(range, model), page, |q| self.state.usd(q))
                .await
                .map_err(|e| unavailable(e.into()))?;
            return Ok(logs.into_iter().map(|l| self.named(l)).collect());
        }
        let load = async {
            let ids = {
                let mut conn = self.tollgate()?.lock().await;
                recent::page_ids(&mut conn, &self.tokens, range, model, page).await?
            };
            recent::fetch(&self.state.logs, &ids, |q| self.state.usd(q))
                .await
                .map(Arc::new)
        };
        let logs = match (&self.state.results, &self.versions) {
            (Some(cache), Some(versions)) => {
                let key = (
                    versions.clone(),
                    [range.start, range.end],
                    page,
                    model.unwrap_or("").to_owned(),
                );
                cache
                    .pages
                    .try_get_with(key, async { load.await.map_err(unavailable) })
                    .await
                    .map_err(|_: Arc<ApiError>| unavailable_now())?
            }
            _ => load.await.map_err(unavailable)?,
        };
        Ok(logs.iter().map(|l| self.named(l.clone())).collect())
    }

    /// This request's Tollgate connection (the SQL path's).
    fn tollgate(&self) -> Result<&Mutex<PooledConn<'a>>, QueryError> {
        self.conn
            .as_ref()
            .ok_or_else(|| QueryError::Shared("no Tollgate connection on ClickHouse".into()))
    }

    /// The rows of this request in ClickHouse.
    fn selection<'s>(&'s self, range: &'s Range, model: Option<&'s str>) -> Selection<'s> {
        Selection {
            tokens: &self.tokens,
            range,
            model,
        }
    }

    /// `log` with its key's id and name, in a per-user answer.
    fn named(&self, mut log: LogView) -> LogView {
        if let Some(label) = self.labels.iter().find(|l| l.token == Some(log.token_id)) {
            log.key_id = Some(label.key_id);
            log.key_name = Some(label.name.clone());
        }
        log
    }
}

/// A key's `/detail`, or a user's.
#[derive(Serialize)]
#[serde(untagged)]
enum Body {
    Key(Detail),
    User(UserDetail),
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
