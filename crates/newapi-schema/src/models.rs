//! Row types for the tables in [`crate::schema`].
//!
//! The `Token`, `Log` and `User` structs hold plain values: a NULL column reads as Go's zero
//! value (0, "", false), as GORM does, except `deleted_at` and `tokens.external_user_id`,
//! whose absence means something. The `New*` structs insert every column explicitly, as
//! GORM's `Create` does.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromStaticSqlRow, Queryable};
use diesel::expression::Selectable;
use diesel::prelude::Insertable;
use diesel::Table;
use serde::{Deserialize, Serialize};

use crate::schema::{logs, tokens, users};

/// Values of `tokens.status`.
pub mod token_status {
    /// Usable.
    pub const ENABLED: i64 = 1;
    /// Switched off by its owner or an admin.
    pub const DISABLED: i64 = 2;
    /// `expired_time` has passed.
    pub const EXPIRED: i64 = 3;
    /// `remain_quota` ran out.
    pub const EXHAUSTED: i64 = 4;
}

/// Values of `logs.type`.
pub mod log_type {
    /// Unknown / any.
    pub const UNKNOWN: i64 = 0;
    /// Quota top-up.
    pub const TOPUP: i64 = 1;
    /// A billed relay request — the only type usage statistics count.
    pub const CONSUME: i64 = 2;
    /// Admin action.
    pub const MANAGE: i64 = 3;
    /// System event.
    pub const SYSTEM: i64 = 4;
    /// Failed relay request.
    pub const ERROR: i64 = 5;
    /// Refund.
    pub const REFUND: i64 = 6;
}

/// `tokens.expired_time` of a key that never expires.
pub const NEVER_EXPIRES: i64 = -1;

/// One row of `tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Primary key.
    pub id: i64,
    /// Owner (`users.id`).
    pub user_id: i64,
    /// The key without `sk-`.
    pub key: String,
    /// See [`token_status`].
    pub status: i64,
    /// Display name.
    pub name: String,
    /// Unix seconds.
    pub created_time: i64,
    /// Unix seconds.
    pub accessed_time: i64,
    /// Unix seconds, or [`NEVER_EXPIRES`].
    pub expired_time: i64,
    /// Quota left.
    pub remain_quota: i64,
    /// No quota limit.
    pub unlimited_quota: bool,
    /// Restricted to `model_limits`.
    pub model_limits_enabled: bool,
    /// Comma-separated model names.
    pub model_limits: String,
    /// Allowed IPs, newline-separated.
    pub allow_ips: String,
    /// Quota consumed.
    pub used_quota: i64,
    /// Billing group.
    pub group: String,
    /// Retry in other groups.
    pub cross_group_retry: bool,
    /// Billing preference.
    pub billing_type: i64,
    /// Soft-delete time (UTC); `Some` means deleted.
    pub deleted_at: Option<NaiveDateTime>,
    /// The external user the import API created the key for.
    pub external_user_id: Option<String>,
}

/// The row shape of `tokens` as the database returns it.
type TokenRow = (
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<bool>,
    Option<i64>,
    Option<NaiveDateTime>,
    Option<String>,
);

impl<DB: Backend> Queryable<tokens::SqlType, DB> for Token
where
    TokenRow: FromStaticSqlRow<tokens::SqlType, DB>,
{
    type Row = TokenRow;

    fn build(row: TokenRow) -> deserialize::Result<Self> {
        Ok(Token {
            id: row.0,
            user_id: row.1.unwrap_or_default(),
            key: row.2.unwrap_or_default(),
            status: row.3.unwrap_or_default(),
            name: row.4.unwrap_or_default(),
            created_time: row.5.unwrap_or_default(),
            accessed_time: row.6.unwrap_or_default(),
            expired_time: row.7.unwrap_or_default(),
            remain_quota: row.8.unwrap_or_default(),
            unlimited_quota: row.9.unwrap_or_default(),
            model_limits_enabled: row.10.unwrap_or_default(),
            model_limits: row.11.unwrap_or_default(),
            allow_ips: row.12.unwrap_or_default(),
            used_quota: row.13.unwrap_or_default(),
            group: row.14.unwrap_or_default(),
            cross_group_retry: row.15.unwrap_or_default(),
            billing_type: row.16.unwrap_or_default(),
            deleted_at: row.17,
            external_user_id: row.18,
        })
    }
}

impl<DB: Backend> Selectable<DB> for Token {
    type SelectExpression = <tokens::table as Table>::AllColumns;

    fn construct_selection() -> Self::SelectExpression {
        tokens::all_columns
    }
}

/// A `tokens` row to insert; the database assigns `id`.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewToken {
    /// Owner (`users.id`).
    pub user_id: i64,
    /// The key without `sk-`.
    pub key: String,
    /// See [`token_status`].
    pub status: i64,
    /// Display name.
    pub name: String,
    /// Unix seconds.
    pub created_time: i64,
    /// Unix seconds.
    pub accessed_time: i64,
    /// Unix seconds, or [`NEVER_EXPIRES`].
    pub expired_time: i64,
    /// Quota left.
    pub remain_quota: i64,
    /// No quota limit.
    pub unlimited_quota: bool,
    /// Restricted to `model_limits`.
    pub model_limits_enabled: bool,
    /// Comma-separated model names.
    pub model_limits: String,
    /// Allowed IPs, newline-separated.
    pub allow_ips: String,
    /// Quota consumed.
    pub used_quota: i64,
    /// Billing group.
    pub group: String,
    /// Retry in other groups.
    pub cross_group_retry: bool,
    /// Billing preference.
    pub billing_type: i64,
    /// The external user the import API created the key for.
    pub external_user_id: Option<String>,
}

impl NewToken {
    /// An enabled, never-expiring key of `user_id` with new-api's defaults, created `now`
    /// (unix seconds): group `default`, no quota, no model or IP limits.
    pub fn enabled(user_id: i64, key: &str, name: &str, now: i64) -> Self {
        NewToken {
            user_id,
            key: key.to_owned(),
            status: token_status::ENABLED,
            name: name.to_owned(),
            created_time: now,
            accessed_time: now,
            expired_time: NEVER_EXPIRES,
            remain_quota: 0,
            unlimited_quota: false,
            model_limits_enabled: false,
            model_limits: String::new(),
            allow_ips: String::new(),
            used_quota: 0,
            group: "default".to_owned(),
            cross_group_retry: false,
            billing_type: 0,
            external_user_id: None,
        }
    }
}

/// One row of `logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// Primary key (auto-increment).
    pub id: i64,
    /// `users.id`.
    pub user_id: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// See [`log_type`].
    #[serde(rename = "type")]
    pub log_type: i64,
    /// Human-readable description.
    pub content: String,
    /// Owner's username.
    pub username: String,
    /// `tokens.name` at the time.
    pub token_name: String,
    /// Requested model.
    pub model_name: String,
    /// Quota charged.
    pub quota: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Duration in seconds.
    pub use_time: i64,
    /// Streamed answer.
    pub is_stream: bool,
    /// Upstream channel.
    pub channel_id: i64,
    /// `tokens.id`.
    pub token_id: i64,
    /// Billing group.
    pub group: String,
    /// Client IP ('' unless IP logging is on).
    pub ip: String,
    /// new-api's request id.
    pub request_id: String,
    /// JSON object with pricing details.
    pub other: String,
}

/// The row shape of `logs` as the database returns it.
type LogRow = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl<DB: Backend> Queryable<logs::SqlType, DB> for Log
where
    LogRow: FromStaticSqlRow<logs::SqlType, DB>,
{
    type Row = LogRow;

    fn build(row: LogRow) -> deserialize::Result<Self> {
        Ok(Log {
            id: row.0,
            user_id: row.1.unwrap_or_default(),
            created_at: row.2.unwrap_or_default(),
            log_type: row.3.unwrap_or_default(),
            content: row.4.unwrap_or_default(),
            username: row.5.unwrap_or_default(),
            token_name: row.6.unwrap_or_default(),
            model_name: row.7.unwrap_or_default(),
            quota: row.8.unwrap_or_default(),
            prompt_tokens: row.9.unwrap_or_default(),
            completion_tokens: row.10.unwrap_or_default(),
            use_time: row.11.unwrap_or_default(),
            is_stream: row.12.unwrap_or_default(),
            channel_id: row.13.unwrap_or_default(),
            token_id: row.14.unwrap_or_default(),
            group: row.15.unwrap_or_default(),
            ip: row.16.unwrap_or_default(),
            request_id: row.17.unwrap_or_default(),
            other: row.18.unwrap_or_default(),
        })
    }
}

impl<DB: Backend> Selectable<DB> for Log {
    type SelectExpression = <logs::table as Table>::AllColumns;

    fn construct_selection() -> Self::SelectExpression {
        logs::all_columns
    }
}

/// A `logs` row to insert; the database assigns `id`.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = logs)]
pub struct NewLog {
    /// `users.id`.
    pub user_id: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// See [`log_type`].
    #[diesel(column_name = type_)]
    pub log_type: i64,
    /// Human-readable description.
    pub content: String,
    /// Owner's username.
    pub username: String,
    /// `tokens.name`.
    pub token_name: String,
    /// Requested model.
    pub model_name: String,
    /// Quota charged.
    pub quota: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Duration in seconds.
    pub use_time: i64,
    /// Streamed answer.
    pub is_stream: bool,
    /// Upstream channel.
    pub channel_id: i64,
    /// `tokens.id`.
    pub token_id: i64,
    /// Billing group.
    pub group: String,
    /// Client IP or ''.
    pub ip: String,
    /// new-api's request id (at most 64 characters).
    pub request_id: String,
    /// JSON object with pricing details.
    pub other: String,
}

/// What authentication reads of a `users` row (columns every new-api version has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// 1 enabled, 2 disabled.
    pub status: i32,
    /// Billing group.
    pub group: String,
    /// Quota left (relay requests need it > 0).
    pub quota: i32,
}

type UserRow = (
    i64,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<i32>,
);

type UserColumns = (
    users::id,
    users::username,
    users::status,
    users::group,
    users::quota,
);

type UserSqlType = (
    diesel::sql_types::BigInt,
    diesel::sql_types::Nullable<diesel::sql_types::Text>,
    diesel::sql_types::Nullable<diesel::sql_types::Integer>,
    diesel::sql_types::Nullable<diesel::sql_types::Text>,
    diesel::sql_types::Nullable<diesel::sql_types::Integer>,
);

impl<DB: Backend> Queryable<UserSqlType, DB> for User
where
    UserRow: FromStaticSqlRow<UserSqlType, DB>,
{
    type Row = UserRow;

    fn build(row: UserRow) -> deserialize::Result<Self> {
        Ok(User {
            id: row.0,
            username: row.1.unwrap_or_default(),
            status: row.2.unwrap_or_default(),
            group: row.3.unwrap_or_default(),
            quota: row.4.unwrap_or_default(),
        })
    }
}

impl<DB: Backend> Selectable<DB> for User {
    type SelectExpression = UserColumns;

    fn construct_selection() -> Self::SelectExpression {
        (
            users::id,
            users::username,
            users::status,
            users::group,
            users::quota,
        )
    }
}

/// A `users` row as the simulator's import API creates it; the database assigns `id`.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    /// Unique login name.
    pub username: String,
    /// Not a bcrypt hash: no password login.
    pub password: String,
    /// Shown name.
    pub display_name: String,
    /// 1 common user.
    pub role: i32,
    /// 1 enabled, 2 disabled.
    pub status: i32,
    /// Quota left.
    pub quota: i32,
    /// Billing group.
    pub group: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The external user id given to the import API.
    pub external_user_id: Option<String>,
}

impl NewUser {
    /// An enabled common user with `quota`, created `now` (unix seconds).
    pub fn enabled(username: &str, quota: i32, now: i64) -> Self {
        NewUser {
            username: username.to_owned(),
            password: String::new(),
            display_name: username.chars().take(20).collect(),
            role: 1,
            status: 1,
            quota,
            group: "default".to_owned(),
            created_at: now,
            external_user_id: None,
        }
    }
}
