//! `POST /api/token/import`: create (or find) the token of an external user.
//!
//! Contract (docs/contracts.md#new-api-import-api): admin bearer token; body
//! `{"key","external_user_id","name","unlimited_quota"}`; answers
//! `{"success":true,"message":"","data":{"token_id":N}}`, idempotent per (key, user);
//! every refusal except a bad admin token is HTTP 200 with `success:false`. Importing a key
//! again for its user under another name renames the token (docs/newapi-import.md).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::json;
use tollgate_newapi_schema::schema::{tokens, users};
use tollgate_newapi_schema::{
    with_conn, NewToken, NewUser, NewapiDbError, NewapiPooledConn, Token,
};

use crate::auth::is_admin;
use crate::respond::newapi_failure;
use crate::state::AppState;

/// Quota of a user the import API creates ($1000 at 500 000 units per dollar): a patched
/// new-api gives imported users what its operator configures; relay needs it above 0.
const IMPORTED_USER_QUOTA: i32 = 500_000_000;

/// Length of a key without `sk-`.
const KEY_LEN: usize = 48;
/// Longest accepted `external_user_id` (the column is `varchar(64)`).
const MAX_EXTERNAL_ID: usize = 64;
/// Longest token name new-api accepts.
const MAX_NAME: usize = 50;

#[derive(Debug, Deserialize)]
struct ImportRequest {
    key: String,
    external_user_id: String,
    name: String,
    unlimited_quota: bool,
}

enum Outcome {
    Created(i64),
    Existing(i64),
    Refused(&'static str),
}

/// The handler.
pub(crate) async fn import_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    state.counters.import_call();
    if !is_admin(&req, &state.admin_token) {
        return newapi_failure(
            StatusCode::UNAUTHORIZED,
            "unauthorized: a valid admin access token is required",
        );
    }
    let request: ImportRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(&format!("invalid request body: {e}")),
    };
    if let Err(message) = validate(&request) {
        return refuse(message);
    }
    let outcome = async {
        let mut conn = state.pool.get().await?;
        import(&mut conn, &request).await
    }
    .await;
    match outcome {
        Ok(Outcome::Created(id)) => {
            state.counters.token_created();
            tracing::info!(token_id = id, "token imported");
            success(id)
        }
        Ok(Outcome::Existing(id)) => success(id),
        Ok(Outcome::Refused(message)) => refuse(message),
        Err(e) => {
            tracing::error!(error = %e, "import failed");
            newapi_failure(StatusCode::OK, "database error")
        }
    }
}

fn success(token_id: i64) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "success": true,
        "message": "",
        "data": { "token_id": token_id },
    }))
}

pub(crate) fn refuse(message: &str) -> HttpResponse {
    newapi_failure(StatusCode::OK, message)
}

fn validate(request: &ImportRequest) -> Result<(), &'static str> {
    let key = &request.key;
    if key.starts_with("sk-") {
        return Err("the key must be given without the sk- prefix");
    }
    if key.contains('-') {
        return Err("the key must not contain '-'");
    }
    if key.len() != KEY_LEN {
        return Err("the key must be 48 characters long");
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("the key may contain only 0-9, a-z and A-Z");
    }
    let external = request.external_user_id.trim();
    if external.is_empty() {
        return Err("external_user_id is empty");
    }
    if request.external_user_id.chars().count() > MAX_EXTERNAL_ID {
        return Err("external_user_id is longer than 64 characters");
    }
    if request.name.chars().count() > MAX_NAME {
        return Err("the token name is too long");
    }
    Ok(())
}

pub(crate) fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Find the token of `key` (soft-deleted ones too: the key stays taken).
pub(crate) async fn token_by_key(
    conn: &mut NewapiPooledConn,
    key: &str,
) -> Result<Option<Token>, DieselError> {
    with_conn!(conn, |c| {
        tokens::table
            .filter(tokens::key.eq(key))
            .select(Token::as_select())
            .first(c)
            .await
            .optional()
    })
}

pub(crate) async fn user_by_external_id(
    conn: &mut NewapiPooledConn,
    external: &str,
) -> Result<Option<i64>, DieselError> {
    with_conn!(conn, |c| {
        users::table
            .filter(users::external_user_id.eq(external))
            .select(users::id)
            .first(c)
            .await
            .optional()
    })
}

/// The user of `external`, created if missing (a concurrent creator wins the unique index;
/// then the row is read again).
async fn find_or_create_user(
    conn: &mut NewapiPooledConn,
    external: &str,
) -> Result<i64, NewapiDbError> {
    if let Some(user) = user_by_external_id(conn, external).await? {
        return Ok(user);
    }
    let new_user = NewUser {
        external_user_id: Some(external.to_owned()),
        ..NewUser::enabled(
            external,
            IMPORTED_USER_QUOTA,
            chrono::Utc::now().timestamp(),
        )
    };
    let inserted = with_conn!(conn, |c| {
        diesel::insert_into(users::table)
            .values(&new_user)
            .execute(c)
            .await
    });
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    user_by_external_id(conn, external)
        .await?
        .ok_or_else(|| NewapiDbError::Unavailable(format!("user {external} vanished")))
}

/// What an existing token of the key means for this request.
async fn judge_existing(
    conn: &mut NewapiPooledConn,
    token: &Token,
    external: &str,
) -> Result<Outcome, NewapiDbError> {
    let same_user = match &token.external_user_id {
        Some(owner) => owner == external,
        None => user_by_external_id(conn, external)
            .await?
            .is_some_and(|id| id == token.user_id),
    };
    Ok(if !same_user {
        Outcome::Refused("the key is already in use by another user")
    } else if token.deleted_at.is_some() {
        Outcome::Refused("the key belonged to a deleted token")
    } else {
        Outcome::Existing(token.id)
    })
}

async fn rename(conn: &mut NewapiPooledConn, id: i64, name: &str) -> Result<(), DieselError> {
    with_conn!(conn, |c| {
        diesel::update(tokens::table.find(id))
            .set(tokens::name.eq(name))
            .execute(c)
            .await
    })
    .map(drop)
}

async fn import(
    conn: &mut NewapiPooledConn,
    request: &ImportRequest,
) -> Result<Outcome, NewapiDbError> {
    let external = request.external_user_id.as_str();
    if let Some(token) = token_by_key(conn, &request.key).await? {
        let outcome = judge_existing(conn, &token, external).await?;
        if matches!(outcome, Outcome::Existing(_)) && token.name != request.name {
            rename(conn, token.id, &request.name).await?;
        }
        return Ok(outcome);
    }
    let user = find_or_create_user(conn, external).await?;
    let mut new_token = NewToken::enabled(
        user,
        &request.key,
        &request.name,
        chrono::Utc::now().timestamp(),
    );
    new_token.unlimited_quota = request.unlimited_quota;
    new_token.external_user_id = Some(external.to_owned());
    let inserted = with_conn!(conn, |c| {
        diesel::insert_into(tokens::table)
            .values(&new_token)
            .execute(c)
            .await
    });
    let created = match inserted {
        Ok(_) => true,
        Err(e) if is_unique_violation(&e) => false,
        Err(e) => return Err(e.into()),
    };
    let token = token_by_key(conn, &request.key)
        .await?
        .ok_or_else(|| NewapiDbError::Unavailable("imported token vanished".into()))?;
    if created {
        Ok(Outcome::Created(token.id))
    } else {
        // Another request inserted the same key first.
        judge_existing(conn, &token, external).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str) -> ImportRequest {
        ImportRequest {
            key: key.to_owned(),
            external_user_id: "user-1".to_owned(),
            name: "default".to_owned(),
            unlimited_quota: true,
        }
    }

    #[test]
    fn key_validation() {
        let good = "aB3".repeat(16);
        assert!(validate(&request(&good)).is_ok());
        assert!(validate(&request(&format!("sk-{}", &good[3..]))).is_err());
        assert!(validate(&request(&good[1..])).is_err());
        assert!(validate(&request(&format!("{}-", &good[1..]))).is_err());
        assert!(validate(&request(&format!("{}_", &good[1..]))).is_err());
        assert!(validate(&request(&format!("{}é", &good[2..]))).is_err());
        let mut no_user = request(&good);
        no_user.external_user_id = " ".into();
        assert!(validate(&no_user).is_err());
        let mut long_user = request(&good);
        long_user.external_user_id = "x".repeat(65);
        assert!(validate(&long_user).is_err());
    }
}
