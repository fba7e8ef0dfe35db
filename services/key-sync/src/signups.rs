//! Group commit for signups. Concurrent signup webhooks join one batch while the previous
//! batches run, and each batch costs a fixed number of statements however many signups it
//! holds: the owners' gateway rows (one statement), their default keys (one), new-api's
//! users and tokens (one, through [`Syncer::attempt_fresh`]) and the outcomes (one). Each
//! webhook still waits for its own batch, so its key works in new-api when it answers.
//! A lone signup is a batch of one, costing what it did before batching.
//!
//! A batch holds one signup per user (a repeated delivery waits for the next batch and then
//! finds the key); users are sorted so batches lock `gateway_users` rows in one order.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tollgate_db::{DbError, PgPool};
use uuid::Uuid;

use crate::keys::DefaultKey;
use crate::metrics::Metrics;
use crate::store::{self, NewKey};
use crate::sync::{Attempt, Syncer};
use crate::users_store::{self, GatewayUser};

/// Signups in one batch at most.
const MAX_BATCH: usize = 64;
/// Batches in flight at once: a slow new-api does not stop later signups from being stored.
const IN_FLIGHT: usize = 2;

/// One signup waiting for its batch.
struct Job {
    email: Option<String>,
    new: NewKey,
    source: String,
    reply: oneshot::Sender<Result<DefaultKey, DbError>>,
}

/// The batcher's inbox.
#[derive(Clone)]
pub struct Signups {
    tx: mpsc::UnboundedSender<Job>,
}

impl Signups {
    /// Start the batcher on the current Tokio runtime; it ends when every [`Signups`] is
    /// dropped.
    pub fn start(pool: PgPool, syncer: Arc<Syncer>, metrics: Metrics) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(
            rx,
            Arc::new(Batcher {
                pool,
                syncer,
                metrics,
            }),
        ));
        Signups { tx }
    }

    /// Store `new` as its owner's default key unless they have one, and push it to new-api,
    /// together with whatever signups arrive meanwhile.
    pub async fn submit(
        &self,
        new: NewKey,
        email: Option<&str>,
        source: &str,
    ) -> Result<DefaultKey, DbError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            email: email.map(str::to_owned),
            new,
            source: source.to_owned(),
            reply,
        };
        self.tx
            .send(job)
            .map_err(|_| DbError::Unavailable("the signup batcher has stopped".into()))?;
        answer
            .await
            .map_err(|_| DbError::Unavailable("the signup batcher dropped a signup".into()))?
    }
}

struct Batcher {
    pool: PgPool,
    syncer: Arc<Syncer>,
    metrics: Metrics,
}

async fn run(mut rx: mpsc::UnboundedReceiver<Job>, batcher: Arc<Batcher>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut later: VecDeque<Job> = VecDeque::new();
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let first = match later.pop_front() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut users = HashSet::from([first.new.user_id]);
        let mut batch = vec![first];
        let mut waiting = std::mem::take(&mut later);
        while batch.len() < MAX_BATCH {
            let Some(job) = waiting.pop_front().or_else(|| rx.try_recv().ok()) else {
                break;
            };
            if users.insert(job.new.user_id) {
                batch.push(job);
            } else {
                later.push_back(job);
            }
        }
        later.extend(waiting);
        let batcher = Arc::clone(&batcher);
        tokio::spawn(async move {
            batcher.process(batch).await;
            drop(slot);
        });
    }
}

impl Batcher {
    /// Settle a batch. A statement one signup's row fails (a Supabase user deleted before
    /// the webhook: the key's foreign key) fails it for the whole batch, so a batch refused
    /// by the database is settled again one signup at a time, each with its own answer.
    async fn process(&self, batch: Vec<Job>) {
        let Err((jobs, error)) = self.settle(batch).await else {
            return;
        };
        if jobs.len() > 1 && matches!(error, DbError::Query(_)) {
            for job in jobs {
                if let Err((jobs, error)) = self.settle(vec![job]).await {
                    reply_all(jobs, error);
                }
            }
        } else {
            reply_all(jobs, error);
        }
    }

    /// Store, push and answer `batch`; when storing fails, the batch and the error.
    async fn settle(&self, mut batch: Vec<Job>) -> Result<(), (Vec<Job>, DbError)> {
        batch.sort_by_key(|job| job.new.user_id);
        let (created, existing) = match self.store(&batch).await {
            Ok(stored) => stored,
            Err(e) => return Err((batch, e)),
        };
        let attempts = self.syncer.attempt_fresh(&created).await;
        let synced: Vec<(Uuid, bool)> = created
            .iter()
            .zip(&attempts)
            .map(|((row, _), a)| (row.user_id, matches!(a, Attempt::Synced(_))))
            .collect();
        for job in batch {
            let user = job.new.user_id;
            let answer = if let Some((_, ok)) = synced.iter().find(|(u, _)| *u == user) {
                self.metrics
                    .keys_created
                    .with_label_values(&[job.source.as_str()])
                    .inc();
                Ok(DefaultKey {
                    key_id: job.new.id,
                    synced: *ok,
                    created: true,
                })
            } else if let Some(row) = existing.iter().find(|r| r.user_id == user) {
                Ok(DefaultKey {
                    key_id: row.id,
                    synced: row.newapi_synced,
                    created: false,
                })
            } else {
                Err(DbError::Unavailable("default key vanished".into()))
            };
            let _ = job.reply.send(answer);
        }
        Ok(())
    }

    /// Note the owners and insert their keys: the keys created (with their owners' rows)
    /// and, for owners who had a default key already, that key.
    #[allow(clippy::type_complexity)]
    async fn store(
        &self,
        batch: &[Job],
    ) -> Result<(Vec<(store::KeyRow, GatewayUser)>, Vec<store::KeyRow>), DbError> {
        let users: Vec<Uuid> = batch.iter().map(|j| j.new.user_id).collect();
        let emails: Vec<Option<String>> = batch.iter().map(|j| j.email.clone()).collect();
        let news: Vec<NewKey> = batch.iter().map(|j| j.new.clone()).collect();
        let mut conn = self.pool.get().await?;
        // Two statements, not one transaction: recording an attempt locks the key, then
        // the user's gateway row; a transaction holding gateway rows while inserting keys
        // (which wait on keys being recorded) would deadlock with it.
        let owners = users_store::note_many(&mut conn, &users, &emails).await?;
        let inserted = store::insert_defaults(&mut conn, &news).await?;
        let existing = if inserted.len() < batch.len() {
            let missing: Vec<Uuid> = users
                .iter()
                .filter(|u| !inserted.iter().any(|r| r.user_id == **u))
                .copied()
                .collect();
            store::find_defaults(&mut conn, &missing).await?
        } else {
            Vec::new()
        };
        let created = inserted
            .into_iter()
            .filter_map(|row| {
                let owner = owners.iter().find(|o| o.user_id == row.user_id)?.clone();
                Some((row, owner))
            })
            .collect();
        Ok((created, existing))
    }
}

/// Answer every job of a batch that could not be stored: a lone signup gets the error itself
/// (a foreign-key refusal answers 404), several get it as unavailability.
fn reply_all(mut jobs: Vec<Job>, error: DbError) {
    if jobs.len() == 1 {
        let job = jobs.remove(0);
        let _ = job.reply.send(Err(error));
        return;
    }
    let message = error.to_string();
    for job in jobs {
        let _ = job.reply.send(Err(DbError::Unavailable(message.clone())));
    }
}
