//! What key-sync does with keys: create (the signup default or another one), list for the
//! owner, re-sync on request, reconcile. Handlers call these; these call the store and the
//! syncer.

use std::sync::Arc;

use chrono::Utc;
use tollgate_db::{DbError, PgPool};
use tollgate_domain::api_key::ApiKey;
use tollgate_domain::ids::UserId;
use tollgate_domain::key_cipher::KeyCipher;
use tollgate_domain::page::Page;
use tollgate_domain::user_keys::{KeyStatus, UserKey, UserKeys};
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::signups::Signups;
use crate::store::{self, Change, Changed, KeyRow, LimitReached, NewKey, Rotated, SyncFilter};
use crate::sync::{Attempt, Syncer};
use crate::users_store::{self, Deleted};

/// Keys and their lifecycle.
pub struct Keys {
    pool: PgPool,
    cipher: KeyCipher,
    syncer: Arc<Syncer>,
    metrics: Metrics,
    max_per_user: i64,
    signups: Signups,
}

/// The answer to a signup: the default key and whether it is in new-api.
#[derive(Debug, Clone)]
pub struct DefaultKey {
    /// The key's id.
    pub key_id: Uuid,
    /// In new-api now.
    pub synced: bool,
    /// This call created it (not a repeated delivery).
    pub created: bool,
}

/// A key as its owner sees it, decrypted.
pub struct OwnedKey {
    /// The stored row.
    pub row: KeyRow,
    /// The full key, when it decrypts.
    pub key: Option<ApiKey>,
}

/// The result of a manual re-sync.
pub enum Resync {
    /// No key with that id.
    NotFound,
    /// Another attempt holds the key right now.
    InProgress,
    /// Attempted now.
    Done(Attempt),
}

/// What a reconcile pass did.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Reconciled {
    /// Default keys created for users who had none.
    pub created: usize,
    /// Unsynced keys and undisabled deleted users made due and attempted.
    pub retried: usize,
    /// Users no longer in `auth.users` whose keys were revoked and new-api user disabled.
    pub deleted: usize,
}

/// The result of renaming, revoking or rotating a key.
pub enum KeyChange<T> {
    /// No such key (of that owner).
    NotFound,
    /// The key is revoked: it cannot be renamed or rotated.
    Revoked,
    /// Done.
    Done(T),
}

/// A rotation: the new key (in full, once) and the revoked one.
pub struct Rotation {
    /// The replacement.
    pub new: OwnedKey,
    /// The revoked key.
    pub old: OwnedKey,
}

/// The result of a user's deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserDeletion {
    /// A replayed delivery: the user was already deleted.
    pub already: bool,
    /// Their new-api user and tokens are disabled now (else: kept and retried).
    pub disabled: bool,
    /// Keys still in Tollgate that were revoked.
    pub keys_revoked: usize,
}

impl Keys {
    /// The key service.
    pub fn new(
        pool: PgPool,
        cipher: KeyCipher,
        syncer: Arc<Syncer>,
        metrics: Metrics,
        max_per_user: i64,
    ) -> Self {
        let signups = Signups::start(pool.clone(), Arc::clone(&syncer), metrics.clone());
        Self {
            pool,
            cipher,
            syncer,
            metrics,
            max_per_user,
            signups,
        }
    }

    fn new_row(&self, user: UserId, name: &str, is_default: bool) -> NewKey {
        let key = ApiKey::generate();
        let now = Utc::now();
        let lease = chrono::Duration::from_std(self.syncer.lease()).unwrap_or_default();
        NewKey {
            id: Uuid::new_v4(),
            user_id: user.0,
            name: name.to_owned(),
            is_default,
            key_ciphertext: self.cipher.encrypt(&key, user),
            key_hash: key.hash().to_vec(),
            key_hint: key.hint(),
            sync_attempts: 1,
            // If the creator dies before recording the inline attempt, the worker takes over
            // once the lease ends.
            next_sync_at: now + lease,
            sync_claimed_until: now + lease,
            last_sync_at: now,
        }
    }

    /// Create `user`'s default key unless it exists, and push a new one to new-api at once
    /// (in a batch with concurrent signups, [`Signups`]). Repeated deliveries answer the
    /// existing key's state and push nothing. `email` (from the signup) becomes the new-api
    /// user's display name and email in database mode.
    pub async fn create_default(
        &self,
        user: UserId,
        email: Option<&str>,
        source: &str,
    ) -> Result<DefaultKey, DbError> {
        let new = self.new_row(user, "default", true);
        self.signups.submit(new, email, source).await
    }

    /// Another key for `user`, pushed at once; refused past the per-user cap.
    pub async fn create_named(
        &self,
        user: UserId,
        name: &str,
    ) -> Result<Result<OwnedKey, LimitReached>, DbError> {
        let new = self.new_row(user, name, false);
        let mut conn = self.pool.get().await?;
        let row = match store::insert_capped(&mut conn, new, self.max_per_user).await? {
            Ok(row) => row,
            Err(limit) => return Ok(Err(limit)),
        };
        drop(conn);
        self.metrics.keys_created.with_label_values(&["user"]).inc();
        self.syncer.attempt(&row).await;
        let mut conn = self.pool.get().await?;
        let row = store::find(&mut conn, row.id).await?.unwrap_or(row);
        Ok(Ok(self.owned(row)))
    }

    /// The user's keys with their full values.
    pub async fn list(&self, user: UserId) -> Result<Vec<OwnedKey>, DbError> {
        let mut conn = self.pool.get().await?;
        let rows = store::list_for_user(&mut conn, user.0).await?;
        Ok(rows.into_iter().map(|row| self.owned(row)).collect())
    }

    /// One page of every user's keys, newest first, and how many match `filter`.
    pub async fn admin_page(
        &self,
        filter: Option<SyncFilter>,
        page: Page,
    ) -> Result<(Vec<KeyRow>, i64), DbError> {
        let mut conn = self.pool.get().await?;
        Ok(store::admin_page(&mut conn, filter, page).await?)
    }

    /// What other services may know of the user's keys (no key material), every status.
    pub async fn directory(&self, user: UserId) -> Result<UserKeys, DbError> {
        let mut conn = self.pool.get().await?;
        let rows = store::list_for_user(&mut conn, user.0).await?;
        let keys = rows
            .into_iter()
            .map(|row| UserKey {
                key_id: row.id,
                name: row.name,
                key_hint: row.key_hint,
                newapi_token_id: row.newapi_token_id,
                status: if row.status == 1 {
                    KeyStatus::Active
                } else {
                    KeyStatus::Disabled
                },
                created_at: row.created_at.timestamp(),
            })
            .collect();
        Ok(UserKeys {
            user_id: user.0,
            keys,
        })
    }

    fn owned(&self, row: KeyRow) -> OwnedKey {
        let key = match self
            .cipher
            .decrypt(&row.key_ciphertext, UserId(row.user_id))
        {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::error!(key_id = %row.id, error = %e, "stored key does not decrypt");
                None
            }
        };
        OwnedKey { row, key }
    }

    /// Attempt a changed key now when this caller claimed it, and read it back.
    async fn settle(&self, row: KeyRow, claimed: bool) -> Result<OwnedKey, DbError> {
        if !claimed {
            return Ok(self.owned(row));
        }
        self.syncer.attempt(&row).await;
        let mut conn = self.pool.get().await?;
        let row = store::find(&mut conn, row.id).await?.unwrap_or(row);
        Ok(self.owned(row))
    }

    /// Rename key `id` (only `owner`'s, when given), here and in new-api.
    pub async fn rename(
        &self,
        id: Uuid,
        owner: Option<UserId>,
        name: &str,
    ) -> Result<KeyChange<OwnedKey>, DbError> {
        let mut conn = self.pool.get().await?;
        let changed = store::change(
            &mut conn,
            id,
            owner.map(|u| u.0),
            Change::Rename(name.to_owned()),
            self.syncer.lease(),
        )
        .await?;
        drop(conn);
        Ok(match changed {
            Changed::NotFound => KeyChange::NotFound,
            Changed::AlreadyRevoked(_) => KeyChange::Revoked,
            Changed::Done { row, claimed } => KeyChange::Done(self.settle(row, claimed).await?),
        })
    }

    /// Revoke key `id` (only `owner`'s, when given): disabled in new-api now, or kept and
    /// retried until it is. Revoking a revoked key changes nothing.
    pub async fn revoke(
        &self,
        id: Uuid,
        owner: Option<UserId>,
    ) -> Result<Option<OwnedKey>, DbError> {
        let mut conn = self.pool.get().await?;
        let changed = store::change(
            &mut conn,
            id,
            owner.map(|u| u.0),
            Change::Revoke,
            self.syncer.lease(),
        )
        .await?;
        drop(conn);
        Ok(match changed {
            Changed::NotFound => None,
            Changed::AlreadyRevoked(row) => Some(self.owned(row)),
            Changed::Done { row, claimed } => {
                self.metrics.keys_revoked.inc();
                Some(self.settle(row, claimed).await?)
            }
        })
    }

    /// Replace key `id` (only `owner`'s, when given) by a new key under the same name; the
    /// old one is revoked in the same transaction. Both reach new-api now or are retried.
    pub async fn rotate(
        &self,
        id: Uuid,
        owner: Option<UserId>,
    ) -> Result<KeyChange<Rotation>, DbError> {
        let mut conn = self.pool.get().await?;
        let user = match owner {
            Some(user) => user,
            None => match store::find(&mut conn, id).await? {
                Some(row) => UserId(row.user_id),
                None => return Ok(KeyChange::NotFound),
            },
        };
        let new = self.new_row(user, "rotated", false);
        let rotated = store::rotate(&mut conn, id, Some(user.0), new, self.syncer.lease()).await?;
        drop(conn);
        Ok(match rotated {
            Rotated::NotFound => KeyChange::NotFound,
            Rotated::Revoked => KeyChange::Revoked,
            Rotated::Done(done) => {
                let store::RotatedKeys {
                    old,
                    old_claimed,
                    new,
                } = *done;
                self.metrics
                    .keys_created
                    .with_label_values(&["rotation"])
                    .inc();
                self.metrics.keys_revoked.inc();
                // The new key first: the user's service must not go without a working key.
                let new = self.settle(new, true).await?;
                let old = self.settle(old, old_claimed).await?;
                KeyChange::Done(Rotation { new, old })
            }
        })
    }

    /// `user` was deleted from Supabase: revoke their keys still here and disable their
    /// new-api user and every token of theirs (now, or kept and retried). A replay changes
    /// nothing.
    pub async fn user_deleted(&self, user: UserId) -> Result<UserDeletion, DbError> {
        let mut conn = self.pool.get().await?;
        let keys_revoked = store::revoke_all_of_user(&mut conn, user.0).await?;
        let deleted = users_store::mark_deleted(&mut conn, user.0, self.syncer.lease()).await?;
        drop(conn);
        match deleted {
            Deleted::Already(row) => Ok(UserDeletion {
                already: true,
                disabled: row.disabled,
                keys_revoked,
            }),
            Deleted::Now { row, claimed } => {
                let disabled = claimed && self.syncer.disable_user(&row).await.is_ok();
                Ok(UserDeletion {
                    already: false,
                    disabled,
                    keys_revoked,
                })
            }
        }
    }

    /// Push key `id` now (admin), whatever its state, unless an attempt holds it.
    pub async fn resync(&self, id: Uuid) -> Result<Resync, DbError> {
        let mut conn = self.pool.get().await?;
        let Some(row) = store::claim_one(&mut conn, id, self.syncer.lease()).await? else {
            return Ok(match store::find(&mut conn, id).await? {
                Some(_) => Resync::InProgress,
                None => Resync::NotFound,
            });
        };
        drop(conn);
        Ok(Resync::Done(self.syncer.attempt(&row).await))
    }

    /// Give every `auth.users` user without a key one (up to `limit` per pass), then make
    /// every unsynced key due and run the syncer over them.
    pub async fn reconcile(&self, limit: i64, batch: i64) -> Result<Reconciled, DbError> {
        let users = {
            let mut conn = self.pool.get().await?;
            store::users_without_key(&mut conn, limit).await?
        };
        let mut report = Reconciled::default();
        for user in users {
            if self
                .create_default(UserId(user), None, "reconcile")
                .await?
                .created
            {
                report.created += 1;
            }
        }
        let vanished = {
            let mut conn = self.pool.get().await?;
            users_store::vanished(&mut conn, limit).await?
        };
        for user in vanished {
            self.user_deleted(UserId(user)).await?;
            report.deleted += 1;
        }
        {
            let mut conn = self.pool.get().await?;
            store::make_unsynced_due(&mut conn).await?;
            users_store::make_due(&mut conn).await?;
        }
        loop {
            let n = self.syncer.run_due(batch).await?;
            report.retried += n;
            if (n as i64) < batch {
                break;
            }
        }
        Ok(report)
    }
}
