//! Getting keys into new-api: one attempt for a claimed key, and the worker that retries
//! unsynced keys with capped exponential backoff and jitter. Every failure is recorded on
//! the key (`sync_error`, `sync_attempts`); HTTP 200 with `success:false` is a failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tollgate_db::{DbError, PgPool};
use tollgate_domain::backoff::Backoff;
use tollgate_domain::ids::UserId;
use tollgate_domain::key_cipher::KeyCipher;

use crate::metrics::Metrics;
use crate::newapi::{ImportRequest, TokenImporter};
use crate::store::{self, KeyRow};

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// In new-api as this token id.
    Synced(i64),
    /// Not yet; the error is recorded and a retry scheduled.
    Failed(String),
}

/// Pushes claimed keys and records the outcome.
pub struct Syncer {
    pool: PgPool,
    importer: Arc<dyn TokenImporter>,
    cipher: KeyCipher,
    metrics: Metrics,
    backoff: Backoff,
    lease: Duration,
}

/// Keys pushed at once by one worker pass.
const PARALLEL_PUSHES: usize = 16;

impl Syncer {
    /// A syncer; `import_timeout` sizes the lease an attempt holds on its key.
    pub fn new(
        pool: PgPool,
        importer: Arc<dyn TokenImporter>,
        cipher: KeyCipher,
        metrics: Metrics,
        backoff: Backoff,
        import_timeout: Duration,
    ) -> Self {
        Self {
            pool,
            importer,
            cipher,
            metrics,
            backoff,
            // Long enough that an attempt always ends (timeout) before its lease does.
            lease: import_timeout * 2 + Duration::from_secs(5),
        }
    }

    /// How long an attempt holds its key.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// One attempt for a key this process has claimed: import, then record.
    pub async fn attempt(&self, row: &KeyRow) -> Attempt {
        let user = UserId(row.user_id);
        let outcome = match self.cipher.decrypt(&row.key_ciphertext, user) {
            Ok(key) => {
                let started = Instant::now();
                let result = self
                    .importer
                    .import(ImportRequest {
                        key: &key,
                        user,
                        name: &row.name,
                    })
                    .await;
                let label = result.as_ref().map_or_else(|e| e.kind(), |_| "success");
                self.metrics.sync_attempts.with_label_values(&[label]).inc();
                self.metrics
                    .sync_latency
                    .with_label_values(&[label])
                    .observe(started.elapsed().as_secs_f64());
                result.map_err(|e| e.to_string())
            }
            Err(e) => {
                self.metrics
                    .sync_attempts
                    .with_label_values(&["undecryptable"])
                    .inc();
                Err(format!("stored key {e} (KEY_ENCRYPTION_KEY changed?)"))
            }
        };
        match self.record(row, &outcome).await {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(key_id = %row.id, error = %e, "could not record sync outcome; the lease will expire and the key be retried")
            }
        }
        match outcome {
            Ok(token_id) => {
                tracing::info!(key_id = %row.id, hint = %row.key_hint, token_id, "key synced to new-api");
                Attempt::Synced(token_id)
            }
            Err(error) => {
                tracing::warn!(key_id = %row.id, hint = %row.key_hint, attempts = row.sync_attempts, %error, "key sync failed");
                Attempt::Failed(error)
            }
        }
    }

    async fn record(&self, row: &KeyRow, outcome: &Result<i64, String>) -> Result<(), DbError> {
        let mut conn = self.pool.get().await?;
        match outcome {
            Ok(token_id) => store::record_success(&mut conn, row.id, *token_id).await?,
            Err(error) => {
                let attempt = u32::try_from(row.sync_attempts.max(1)).unwrap_or(u32::MAX);
                let wait = self.backoff.delay(attempt, rand::random::<f64>());
                let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                store::record_failure(&mut conn, row.id, error, next).await?;
            }
        }
        Ok(())
    }

    /// Claim up to `batch` due keys and push them; returns how many were claimed.
    pub async fn run_due(&self, batch: i64) -> Result<usize, DbError> {
        let rows = {
            let mut conn = self.pool.get().await?;
            store::claim_due(&mut conn, batch, self.lease).await?
        };
        let claimed = rows.len();
        futures_util::stream::iter(rows)
            .for_each_concurrent(PARALLEL_PUSHES, |row| async move {
                self.attempt(&row).await;
            })
            .await;
        Ok(claimed)
    }

    /// Refresh the pending gauge.
    pub async fn refresh_pending(&self) -> Result<(), DbError> {
        let mut conn = self.pool.get().await?;
        let n = store::count_unsynced(&mut conn).await?;
        self.metrics.pending.set(n);
        Ok(())
    }
}

/// The worker loop: every `interval`, push due keys (draining full batches at once) until
/// `stop` is cancelled. Safe with any number of replicas.
pub async fn worker(syncer: Arc<Syncer>, interval: Duration, batch: i64, stop: CancellationToken) {
    tracing::info!(?interval, batch, "sync worker started");
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        loop {
            match syncer.run_due(batch).await {
                Ok(n) if n as i64 >= batch && !stop.is_cancelled() => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "sync pass failed");
                    break;
                }
            }
        }
        if let Err(e) = syncer.refresh_pending().await {
            tracing::warn!(error = %e, "could not count pending keys");
        }
    }
    tracing::info!("sync worker stopped");
}
