//! HTTP handlers: extract → parse → call [`Keys`](crate::keys::Keys) → map.

pub mod admin;
pub mod internal;
pub mod lifecycle;
pub mod user;
pub mod views;
pub mod webhook;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tollgate_db::DbError;
use tollgate_web::ApiError;

/// Map store failures: on Supabase, `api_keys.user_id` references `auth.users`, so a key for
/// a user that does not exist (or was deleted) is the caller's error, not a retryable fault.
pub fn key_error(e: DbError) -> ApiError {
    match e {
        DbError::Query(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            ApiError::NotFound("no such user in auth.users".into())
        }
        other => other.into(),
    }
}
