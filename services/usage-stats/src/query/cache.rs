//! Every cache of usage-stats' answers, and the keys they are kept under: all of them under a
//! token's ingest version.
//!
//! Ingest bumps `usage_token_version` for every token it adds to, in the same transaction as
//! the rollups and the log index. A request reads the version first; what it then computes
//! (from the rollups and the log index, and rows read from new-api after that) holds every
//! log of version `v` and maybe newer ones, so any later request that still reads `v` may be
//! given it. A log
//! committed since is at most one ingest pass away from changing the version, and so the key:
//! a cached answer is never staler than the ingest lag, whatever the clocks of new-api and
//! Tollgate say and however late a row commits.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use moka::future::Cache;
use tollgate_db::PreparedExt;

use super::image::Image;
use super::model::LogView;
use tollgate_domain::zone::Unit;

use super::range::{Page, Range};

/// A planned piece of a range: `(size, first, last)`, whole buckets of `size` seconds
/// starting `first..=last`, or (size 0) the raw seconds `first..=last`.
pub type Span = (i64, i64, i64);

/// Tokens and the version each was read at, ascending by token.
pub type Versions = Vec<(i64, i64)>;

/// A page of logs: `(versions, [start, end], page, model or "")`.
pub type PageKey = (Versions, [i64; 2], Page, String);

/// A whole serialized answer: `(versions, request, key labels)` (labels: the per-user views'
/// key names, which key-sync may change without any new log).
pub type AnswerKey = (Versions, Request, Vec<KeyLabel>);

/// How a per-user answer names one of the user's keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyLabel {
    /// key-sync's id.
    pub key_id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// `sk-…last4`.
    pub key_hint: String,
    /// new-api's token, once synced.
    pub token: Option<i64>,
}

/// What a whole cached answer was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// `/detail`.
    Detail(Range),
    /// `/chart`.
    Chart(Range, Unit),
    /// `/logs`.
    Logs(Range, Page, String),
}

/// The caches under each token's version, bounded by an approximate size in bytes.
pub struct ResultCache {
    /// Serialized answers.
    pub answers: Cache<AnswerKey, Bytes>,
    /// Each token's quarter-hour image, under `(token, version)`.
    pub images: Cache<(i64, i64), Arc<Image>>,
    /// Pages of logs (ids from the log index, rows from new-api).
    pub pages: Cache<PageKey, Arc<Vec<LogView>>>,
}

/// Old versions are never asked for again; let them go after this long unused.
const IDLE: Duration = Duration::from_secs(300);

impl ResultCache {
    /// Caches holding about `megabytes` MiB in all; `None` when 0 (caching off).
    pub fn new(megabytes: u64) -> Option<Self> {
        if megabytes == 0 {
            return None;
        }
        // Images are the biggest and the costliest to load again: half; answers and pages a
        // quarter each.
        let half = megabytes * 1024 * 1024 / 2;
        let quarter = half / 2;
        Some(Self {
            answers: Cache::builder()
                .max_capacity(quarter)
                .weigher(|_: &AnswerKey, v: &Bytes| weight(64, std::iter::once(v.len())))
                .time_to_idle(IDLE)
                .build(),
            images: Cache::builder()
                .max_capacity(half)
                .weigher(|_: &(i64, i64), v: &Arc<Image>| {
                    u32::try_from(v.bytes()).unwrap_or(u32::MAX)
                })
                .time_to_idle(IDLE)
                .build(),
            pages: Cache::builder()
                .max_capacity(quarter)
                .weigher(|k: &PageKey, v: &Arc<Vec<LogView>>| {
                    weight(
                        k.0.len() * 16 + k.3.len(),
                        v.iter().map(|l| 96 + l.model_name.len() + l.content.len()),
                    )
                })
                .time_to_idle(IDLE)
                .build(),
        })
    }
}

fn weight(key_bytes: usize, values: impl Iterator<Item = usize>) -> u32 {
    let total = values.fold(64 + key_bytes, usize::saturating_add);
    u32::try_from(total).unwrap_or(u32::MAX)
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = BigInt)]
    token_id: i64,
    #[diesel(sql_type = BigInt)]
    version: i64,
}

/// The ingest version of each of `tokens` (ascending, distinct), in their order: 0 until
/// ingest first adds a log of it.
pub async fn token_versions(
    conn: &mut AsyncPgConnection,
    tokens: &[i64],
) -> Result<Versions, diesel::result::Error> {
    let found: Vec<Version> = diesel::sql_query(
        "SELECT token_id, version FROM usage_token_version WHERE token_id = ANY($1)",
    )
    .bind::<Array<BigInt>, _>(tokens)
    .prepared()
    .load(conn)
    .await?;
    let found: std::collections::HashMap<i64, i64> =
        found.into_iter().map(|v| (v.token_id, v.version)).collect();
    Ok(tokens
        .iter()
        .map(|t| (*t, found.get(t).copied().unwrap_or(0)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_megabytes_turns_caching_off() {
        assert!(ResultCache::new(0).is_none());
        assert!(ResultCache::new(1).is_some());
    }

    #[test]
    fn weights_grow_with_the_answer() {
        let small = weight(8, std::iter::once(10));
        let big = weight(8, std::iter::repeat_n(100, 1000));
        assert!(big > small);
        assert_eq!(weight(0, std::iter::repeat_n(usize::MAX / 2, 4)), u32::MAX);
    }
}
