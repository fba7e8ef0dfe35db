//! Making new-api hold what Tollgate holds: one attempt for a claimed key (present and
//! enabled under its name, or revoked) or a claimed deleted user (disabled with all their
//! tokens), and the worker that retries what did not land, with capped exponential backoff
//! and jitter. Every failure is recorded (`sync_error`, `disable_error`); HTTP 200 with
//! `success:false` is a failure. Each attempt applies one version of its key: a change made
//! meanwhile leaves the key due again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tollgate_db::{DbError, PgPool};
use tollgate_domain::api_key::ApiKey;
use tollgate_domain::backoff::Backoff;
use tollgate_domain::ids::UserId;
use tollgate_domain::key_cipher::KeyCipher;

use crate::gateway::token_cache::TokenCacheInvalidator;
use crate::gateway::{Gateway, GatewayError, KeyState, Landed, Owner};
use crate::metrics::Metrics;
use crate::store::{self, KeyRow};
use crate::users_store::{self, GatewayUser};

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The gateway holds the key as Tollgate does; its token id (`None`: a revoked key the
    /// gateway never had).
    Synced(Option<i64>),
    /// Not yet; the error is recorded and a retry scheduled.
    Failed(String),
}

/// Applies claimed keys and deleted users to the gateway and records the outcome.
pub struct Syncer {
    pool: PgPool,
    gateway: Arc<dyn Gateway>,
    cache: Option<TokenCacheInvalidator>,
    cipher: KeyCipher,
    metrics: Metrics,
    backoff: Backoff,
    lease: Duration,
}

/// Keys pushed at once by one worker pass.
const PARALLEL_PUSHES: usize = 16;

impl Syncer {
    /// A syncer; `call_timeout` (one gateway call) sizes the lease an attempt holds.
    pub fn new(
        pool: PgPool,
        gateway: Arc<dyn Gateway>,
        cache: Option<TokenCacheInvalidator>,
        cipher: KeyCipher,
        metrics: Metrics,
        backoff: Backoff,
        call_timeout: Duration,
    ) -> Self {
        Self {
            pool,
            gateway,
            cache,
            cipher,
            metrics,
            backoff,
            // Long enough that an attempt always ends (timeouts) before its lease does.
            lease: call_timeout * 3 + Duration::from_secs(5),
        }
    }

    /// How long an attempt holds its key.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Whether revocations take effect at once (new-api's token cache is invalidated).
    pub fn invalidates_cache(&self) -> bool {
        self.cache.is_some()
    }

    /// One attempt for a key this process has claimed: apply, then record.
    pub async fn attempt(&self, row: &KeyRow) -> Attempt {
        self.attempt_as(row, None).await
    }

    /// [`Syncer::attempt`] with the owner's `gateway_users` row when the caller has it
    /// (read otherwise).
    pub async fn attempt_as(&self, row: &KeyRow, known: Option<GatewayUser>) -> Attempt {
        let outcome = self.apply(row, known).await;
        let label = outcome
            .as_ref()
            .map_or_else(|(kind, _)| *kind, |_| "success");
        self.metrics.sync_attempts.with_label_values(&[label]).inc();
        let outcome = outcome.map_err(|(_, message)| message);
        if let Err(e) = self.record(row, &outcome).await {
            tracing::error!(key_id = %row.id, error = %e, "could not record sync outcome; the lease will expire and the key be retried");
        }
        match outcome {
            Ok(landed) => {
                tracing::info!(key_id = %row.id, hint = %row.key_hint, token_id = ?landed.token_id, active = row.is_active(), "key synced to new-api");
                Attempt::Synced(landed.token_id)
            }
            Err(error) => {
                tracing::warn!(key_id = %row.id, hint = %row.key_hint, attempts = row.sync_attempts, %error, "key sync failed");
                Attempt::Failed(error)
            }
        }
    }

    /// Attempts for keys a signup batch just created, each with its owner's row, answered
    /// in input order. Owners new to the gateway (no new-api user, not deleted) go in
    /// together through the gateway's batch path when it has one: one statement, recorded in
    /// one statement. The rest, and a batch the gateway refused (a user or key that exists,
    /// a foreign username), go one by one as [`Syncer::attempt_as`]; a batch that failed
    /// otherwise (new-api unreachable, stalled or erring) is recorded as failed for each key
    /// and retried by the worker.
    pub async fn attempt_fresh(&self, items: &[(KeyRow, GatewayUser)]) -> Vec<Attempt> {
        let mut outcomes: Vec<Option<Attempt>> = vec![None; items.len()];
        let fresh: Vec<usize> = (0..items.len())
            .filter(|&i| {
                let (row, user) = &items[i];
                row.is_active() && user.newapi_user_id.is_none() && user.deleted_at.is_none()
            })
            .collect();
        if fresh.len() > 1 {
            if let Some(done) = self.apply_fresh(items, &fresh).await {
                for (i, attempt) in fresh.iter().zip(done) {
                    outcomes[*i] = Some(attempt);
                }
            }
        }
        let rest: Vec<usize> = (0..items.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        // All at once, as the webhooks would have pushed them (a batch is bounded).
        let singles: Vec<Attempt> = futures_util::future::join_all(
            rest.iter()
                .map(|&i| self.attempt_as(&items[i].0, Some(items[i].1.clone()))),
        )
        .await;
        for (i, attempt) in rest.into_iter().zip(singles) {
            outcomes[i] = Some(attempt);
        }
        outcomes.into_iter().flatten().collect()
    }

    /// The batch path of [`Syncer::attempt_fresh`] for `items[at]`: `None` when the gateway
    /// has none or refused the batch (the caller goes one by one).
    async fn apply_fresh(
        &self,
        items: &[(KeyRow, GatewayUser)],
        at: &[usize],
    ) -> Option<Vec<Attempt>> {
        let keys: Vec<ApiKey> = at
            .iter()
            .map(|&i| {
                let row = &items[i].0;
                self.cipher
                    .decrypt(&row.key_ciphertext, UserId(row.user_id))
                    .ok()
            })
            .collect::<Option<_>>()?;
        let pairs: Vec<(Owner<'_>, KeyState<'_>)> = at
            .iter()
            .zip(&keys)
            .map(|(&i, key)| {
                let (row, user) = &items[i];
                let owner = Owner {
                    user: UserId(row.user_id),
                    email: user.email.as_deref(),
                    newapi_user_id: None,
                };
                let state = KeyState {
                    key,
                    name: &row.name,
                    active: true,
                };
                (owner, state)
            })
            .collect();
        let started = Instant::now();
        let result = self.gateway.create_fresh(&pairs)?.await;
        let label = result
            .as_ref()
            .map_or_else(GatewayError::kind, |_| "success");
        let elapsed = started.elapsed().as_secs_f64();
        for _ in at {
            self.metrics.sync_attempts.with_label_values(&[label]).inc();
            self.metrics
                .sync_latency
                .with_label_values(&[label])
                .observe(elapsed);
        }
        let rows = || at.iter().map(|&i| &items[i].0);
        match result {
            Ok(landed) => {
                let usernames: Vec<String> = rows()
                    .map(|row| crate::gateway::database::username_for(UserId(row.user_id)))
                    .collect();
                let successes: Vec<store::Success<'_>> = rows()
                    .zip(&landed)
                    .zip(&usernames)
                    .map(|((row, landed), username)| store::Success {
                        id: row.id,
                        version: row.sync_version,
                        token_id: landed.token_id,
                        newapi_user: landed.newapi_user_id.map(|id| (id, username.as_str())),
                    })
                    .collect();
                let recorded = async {
                    let mut conn = self.pool.get().await?;
                    store::record_successes(&mut conn, &successes).await?;
                    Ok::<_, DbError>(())
                }
                .await;
                if let Err(e) = recorded {
                    tracing::error!(keys = at.len(), error = %e, "could not record a batch of synced keys; their leases will expire and they be retried");
                }
                for (row, landed) in rows().zip(&landed) {
                    tracing::info!(key_id = %row.id, hint = %row.key_hint, token_id = ?landed.token_id, "key synced to new-api");
                }
                Some(landed.iter().map(|l| Attempt::Synced(l.token_id)).collect())
            }
            Err(GatewayError::Refused(why)) => {
                tracing::debug!(%why, keys = at.len(), "new-api refused a signup batch; one by one");
                None
            }
            Err(e) => {
                let error = e.to_string();
                let mut attempts = Vec::with_capacity(at.len());
                for row in rows() {
                    if let Err(e) = self.record(row, &Err(error.clone())).await {
                        tracing::error!(key_id = %row.id, error = %e, "could not record sync outcome; the lease will expire and the key be retried");
                    }
                    tracing::warn!(key_id = %row.id, hint = %row.key_hint, %error, "key sync failed");
                    attempts.push(Attempt::Failed(error.clone()));
                }
                Some(attempts)
            }
        }
    }

    /// The gateway call for `row`; an error is (metric label, message).
    async fn apply(
        &self,
        row: &KeyRow,
        known: Option<GatewayUser>,
    ) -> Result<Landed, (&'static str, String)> {
        let user = UserId(row.user_id);
        let known = match known {
            Some(known) => Some(known),
            None => {
                let mut conn = self
                    .pool
                    .get()
                    .await
                    .map_err(|e| ("database", e.to_string()))?;
                users_store::find(&mut conn, row.user_id)
                    .await
                    .map_err(|e| ("database", e.to_string()))?
            }
        };
        let key = self
            .cipher
            .decrypt(&row.key_ciphertext, user)
            .map_err(|e| {
                (
                    "undecryptable",
                    format!("stored key {e} (KEY_ENCRYPTION_KEY changed?)"),
                )
            })?;
        // A deleted user's keys are only ever revoked.
        let active = row.is_active() && known.as_ref().is_none_or(|u| u.deleted_at.is_none());
        let owner = Owner {
            user,
            email: known.as_ref().and_then(|u| u.email.as_deref()),
            newapi_user_id: known.as_ref().and_then(|u| u.newapi_user_id),
        };
        let started = Instant::now();
        let result = self
            .gateway
            .apply(
                owner,
                KeyState {
                    key: &key,
                    name: &row.name,
                    active,
                },
            )
            .await;
        let label = result
            .as_ref()
            .map_or_else(GatewayError::kind, |_| "success");
        self.metrics
            .sync_latency
            .with_label_values(&[label])
            .observe(started.elapsed().as_secs_f64());
        let landed = result.map_err(|e| (e.kind(), e.to_string()))?;
        if !active {
            self.invalidate(&[key.expose()], &[]).await?;
        }
        Ok(landed)
    }

    async fn invalidate(&self, keys: &[&str], users: &[i64]) -> Result<(), (&'static str, String)> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        cache.invalidate(keys, users).await.map_err(|e| {
            (
                "cache",
                format!("disabled in new-api, but its token cache could not be cleared: {e}"),
            )
        })
    }

    async fn record(&self, row: &KeyRow, outcome: &Result<Landed, String>) -> Result<(), DbError> {
        let mut conn = self.pool.get().await?;
        match outcome {
            Ok(landed) => {
                let username = crate::gateway::database::username_for(UserId(row.user_id));
                store::record_success(
                    &mut conn,
                    store::Success {
                        id: row.id,
                        version: row.sync_version,
                        token_id: landed.token_id,
                        newapi_user: landed.newapi_user_id.map(|id| (id, username.as_str())),
                    },
                )
                .await?;
            }
            Err(error) => {
                let next = self.next_attempt(row.sync_attempts);
                store::record_failure(&mut conn, row.id, error, next).await?;
            }
        }
        Ok(())
    }

    fn next_attempt(&self, attempts: i32) -> chrono::DateTime<Utc> {
        let attempt = u32::try_from(attempts.max(1)).unwrap_or(u32::MAX);
        let wait = self.backoff.delay(attempt, rand::random::<f64>());
        Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default()
    }

    /// One attempt to disable a deleted user this process has claimed.
    pub async fn disable_user(&self, row: &GatewayUser) -> Result<(), String> {
        let owner = Owner {
            user: UserId(row.user_id),
            email: row.email.as_deref(),
            newapi_user_id: row.newapi_user_id,
        };
        let outcome = match self.gateway.disable_user(owner).await {
            Ok(done) => {
                let keys: Vec<&str> = done.token_keys.iter().map(String::as_str).collect();
                let users: Vec<i64> = done.newapi_user_id.into_iter().collect();
                self.invalidate(&keys, &users)
                    .await
                    .map(|()| done.newapi_user_id)
            }
            Err(e) => Err((e.kind(), e.to_string())),
        };
        let label = outcome
            .as_ref()
            .map_or_else(|(kind, _)| *kind, |_| "success");
        self.metrics.user_disables.with_label_values(&[label]).inc();
        let recorded = async {
            let mut conn = self.pool.get().await?;
            match &outcome {
                Ok(newapi_user_id) => {
                    users_store::record_disabled(&mut conn, row.user_id, *newapi_user_id).await?
                }
                Err((_, error)) => {
                    let next = self.next_attempt(row.disable_attempts);
                    users_store::record_disable_failure(&mut conn, row.user_id, error, next).await?
                }
            }
            Ok::<_, DbError>(())
        }
        .await;
        if let Err(e) = recorded {
            tracing::error!(user_id = %row.user_id, error = %e, "could not record the outcome of disabling a deleted user");
        }
        match outcome {
            Ok(newapi_user_id) => {
                tracing::info!(user_id = %row.user_id, ?newapi_user_id, "deleted user disabled in new-api");
                Ok(())
            }
            Err((_, error)) => {
                tracing::warn!(user_id = %row.user_id, attempts = row.disable_attempts, %error, "disabling a deleted user failed");
                Err(error)
            }
        }
    }

    /// Claim up to `batch` due keys and deleted users and apply them; returns how many were
    /// claimed.
    pub async fn run_due(&self, batch: i64) -> Result<usize, DbError> {
        let (keys, users) = {
            let mut conn = self.pool.get().await?;
            let keys = store::claim_due(&mut conn, batch, self.lease).await?;
            let users = users_store::claim_due(&mut conn, batch, self.lease).await?;
            (keys, users)
        };
        let claimed = keys.len().max(users.len());
        futures_util::stream::iter(keys)
            .for_each_concurrent(PARALLEL_PUSHES, |row| async move {
                self.attempt(&row).await;
            })
            .await;
        futures_util::stream::iter(users)
            .for_each_concurrent(PARALLEL_PUSHES, |row| async move {
                let _ = self.disable_user(&row).await;
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

/// The worker loop: every `interval`, apply due keys and users (draining full batches at
/// once) until `stop` is cancelled. Safe with any number of replicas.
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
