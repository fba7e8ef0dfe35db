//! The DDL new-api's GORM AutoMigrate produces for these tables, per backend (read from
//! `model/token.go`, `model/log.go` and `model/user.go` of new-api @ 823e263, 2026-08),
//! plus the import API's `external_user_id` columns of a patched new-api.
//!
//! Column types follow GORM's rules: Go `int`/`int64` → `bigint`, `bool` → `boolean`,
//! `gorm.DeletedAt` → `timestamptz` (Postgres) / `datetime(3)` (MySQL). A Go `string` is
//! `text` on Postgres; on MySQL it is `varchar(191)` when indexed or defaulted and
//! `longtext` otherwise. No column but `id` is `NOT NULL`. Index names are GORM's
//! (`idx_<table>_<column>` unless the tag names one). On MySQL the indexes are part of
//! `CREATE TABLE` (as GORM emits them, and because MySQL 8 lacks `CREATE INDEX IF NOT EXISTS`);
//! on Postgres they are separate `CREATE INDEX IF NOT EXISTS` statements. Every statement is
//! idempotent.

use crate::error::NewapiDbError;

/// The SQL dialect of a new-api database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Backend {
    /// The backend a connection URL points at: `postgres://` or `postgresql://` → Postgres,
    /// `mysql://` → MySQL. Anything else is [`NewapiDbError::UnsupportedUrl`] (the error
    /// names only the scheme, never credentials).
    pub fn from_url(url: &str) -> Result<Backend, NewapiDbError> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            Some("mysql") => Ok(Backend::Mysql),
            Some(other) => Err(NewapiDbError::UnsupportedUrl(format!(
                "scheme {other}:// is not supported (use postgres:// or mysql://)"
            ))),
            None => Err(NewapiDbError::UnsupportedUrl(
                "not a URL (expected postgres://… or mysql://…)".into(),
            )),
        }
    }

    /// Quote an identifier for this backend (`"x"` or `` `x` ``), for raw SQL that touches
    /// reserved column names such as `group`.
    pub fn quote(self, ident: &str) -> String {
        match self {
            Backend::Postgres => format!("\"{}\"", ident.replace('"', "\"\"")),
            Backend::Mysql => format!("`{}`", ident.replace('`', "``")),
        }
    }
}

/// The statements that create `tokens`, `logs` and `users` with their indexes if missing.
pub fn ddl(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Postgres => POSTGRES,
        Backend::Mysql => MYSQL,
    }
}

const POSTGRES: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS "tokens" (
    "id" bigserial,
    "user_id" bigint,
    "key" varchar(128),
    "status" bigint DEFAULT 1,
    "name" text,
    "created_time" bigint,
    "accessed_time" bigint,
    "expired_time" bigint DEFAULT -1,
    "remain_quota" bigint DEFAULT 0,
    "unlimited_quota" boolean,
    "model_limits_enabled" boolean,
    "model_limits" text,
    "allow_ips" text DEFAULT '',
    "used_quota" bigint DEFAULT 0,
    "group" text DEFAULT '',
    "cross_group_retry" boolean,
    "auto_groups" text,
    "billing_type" bigint DEFAULT 0,
    "deleted_at" timestamptz,
    "external_user_id" varchar(64),
    PRIMARY KEY ("id")
)"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_tokens_user_id" ON "tokens" ("user_id")"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS "idx_tokens_key" ON "tokens" ("key")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_tokens_name" ON "tokens" ("name")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_tokens_deleted_at" ON "tokens" ("deleted_at")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_tokens_external_user_id" ON "tokens" ("external_user_id")"#,
    r#"CREATE TABLE IF NOT EXISTS "logs" (
    "id" bigserial,
    "user_id" bigint,
    "created_at" bigint,
    "type" bigint,
    "content" text,
    "username" text DEFAULT '',
    "token_name" text DEFAULT '',
    "model_name" text DEFAULT '',
    "quota" bigint DEFAULT 0,
    "prompt_tokens" bigint DEFAULT 0,
    "completion_tokens" bigint DEFAULT 0,
    "use_time" bigint DEFAULT 0,
    "is_stream" boolean,
    "channel_id" bigint,
    "token_id" bigint DEFAULT 0,
    "group" text,
    "ip" text DEFAULT '',
    "request_id" varchar(64) DEFAULT '',
    "other" text,
    PRIMARY KEY ("id")
)"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_created_at_id" ON "logs" ("id", "created_at")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_logs_user_id" ON "logs" ("user_id")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_created_at_type" ON "logs" ("created_at", "type")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_logs_username" ON "logs" ("username")"#,
    r#"CREATE INDEX IF NOT EXISTS "index_username_model_name" ON "logs" ("model_name", "username")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_logs_token_name" ON "logs" ("token_name")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_logs_model_name" ON "logs" ("model_name")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_logs_channel_id" ON "logs" ("channel_id")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_logs_token_id" ON "logs" ("token_id")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_logs_group" ON "logs" ("group")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_logs_ip" ON "logs" ("ip")"#,
    r#"CREATE TABLE IF NOT EXISTS "users" (
    "id" bigserial,
    "username" text,
    "password" text NOT NULL,
    "display_name" text,
    "role" integer DEFAULT 1,
    "status" integer DEFAULT 1,
    "email" text,
    "github_id" text,
    "discord_id" text,
    "oidc_id" text,
    "wechat_id" text,
    "telegram_id" text,
    "access_token" char(32),
    "quota" integer DEFAULT 0,
    "used_quota" integer DEFAULT 0,
    "request_count" integer DEFAULT 0,
    "group" varchar(64) DEFAULT 'default',
    "aff_code" varchar(32),
    "aff_count" integer DEFAULT 0,
    "aff_quota" integer DEFAULT 0,
    "aff_history" integer DEFAULT 0,
    "inviter_id" integer,
    "deleted_at" timestamptz,
    "linux_do_id" text,
    "setting" text,
    "remark" varchar(255),
    "stripe_customer" varchar(64),
    "created_at" bigint,
    "last_login_at" bigint DEFAULT 0,
    "auth_version" bigint NOT NULL DEFAULT 1,
    "external_user_id" varchar(64),
    PRIMARY KEY ("id")
)"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS "idx_users_username" ON "users" ("username")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_users_display_name" ON "users" ("display_name")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_users_email" ON "users" ("email")"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS "idx_users_access_token" ON "users" ("access_token")"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS "idx_users_aff_code" ON "users" ("aff_code")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_users_inviter_id" ON "users" ("inviter_id")"#,
    r#"CREATE INDEX IF NOT EXISTS "idx_users_deleted_at" ON "users" ("deleted_at")"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS "idx_users_external_user_id" ON "users" ("external_user_id")"#,
];

const MYSQL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS `tokens` (
    `id` bigint AUTO_INCREMENT,
    `user_id` bigint,
    `key` varchar(128),
    `status` bigint DEFAULT 1,
    `name` varchar(191),
    `created_time` bigint,
    `accessed_time` bigint,
    `expired_time` bigint DEFAULT -1,
    `remain_quota` bigint DEFAULT 0,
    `unlimited_quota` boolean,
    `model_limits_enabled` boolean,
    `model_limits` text,
    `allow_ips` varchar(191) DEFAULT '',
    `used_quota` bigint DEFAULT 0,
    `group` varchar(191) DEFAULT '',
    `cross_group_retry` boolean,
    `auto_groups` text,
    `billing_type` bigint DEFAULT 0,
    `deleted_at` datetime(3) NULL,
    `external_user_id` varchar(64),
    PRIMARY KEY (`id`),
    INDEX `idx_tokens_user_id` (`user_id`),
    UNIQUE INDEX `idx_tokens_key` (`key`),
    INDEX `idx_tokens_name` (`name`),
    INDEX `idx_tokens_deleted_at` (`deleted_at`),
    INDEX `idx_tokens_external_user_id` (`external_user_id`)
)",
    "CREATE TABLE IF NOT EXISTS `logs` (
    `id` bigint AUTO_INCREMENT,
    `user_id` bigint,
    `created_at` bigint,
    `type` bigint,
    `content` longtext,
    `username` varchar(191) DEFAULT '',
    `token_name` varchar(191) DEFAULT '',
    `model_name` varchar(191) DEFAULT '',
    `quota` bigint DEFAULT 0,
    `prompt_tokens` bigint DEFAULT 0,
    `completion_tokens` bigint DEFAULT 0,
    `use_time` bigint DEFAULT 0,
    `is_stream` boolean,
    `channel_id` bigint,
    `token_id` bigint DEFAULT 0,
    `group` varchar(191),
    `ip` varchar(191) DEFAULT '',
    `request_id` varchar(64) DEFAULT '',
    `other` longtext,
    PRIMARY KEY (`id`),
    INDEX `idx_created_at_id` (`id`, `created_at`),
    INDEX `idx_logs_user_id` (`user_id`),
    INDEX `idx_created_at_type` (`created_at`, `type`),
    INDEX `idx_logs_username` (`username`),
    INDEX `index_username_model_name` (`model_name`, `username`),
    INDEX `idx_logs_token_name` (`token_name`),
    INDEX `idx_logs_model_name` (`model_name`),
    INDEX `idx_logs_channel_id` (`channel_id`),
    INDEX `idx_logs_token_id` (`token_id`),
    INDEX `idx_logs_group` (`group`),
    INDEX `idx_logs_ip` (`ip`)
)",
    "CREATE TABLE IF NOT EXISTS `users` (
    `id` bigint AUTO_INCREMENT,
    `username` varchar(191),
    `password` longtext NOT NULL,
    `display_name` varchar(191),
    `role` int DEFAULT 1,
    `status` int DEFAULT 1,
    `email` varchar(191),
    `github_id` varchar(191),
    `discord_id` varchar(191),
    `oidc_id` varchar(191),
    `wechat_id` varchar(191),
    `telegram_id` varchar(191),
    `access_token` char(32),
    `quota` int DEFAULT 0,
    `used_quota` int DEFAULT 0,
    `request_count` int DEFAULT 0,
    `group` varchar(64) DEFAULT 'default',
    `aff_code` varchar(32),
    `aff_count` int DEFAULT 0,
    `aff_quota` int DEFAULT 0,
    `aff_history` int DEFAULT 0,
    `inviter_id` int,
    `deleted_at` datetime(3) NULL,
    `linux_do_id` varchar(191),
    `setting` text,
    `remark` varchar(255),
    `stripe_customer` varchar(64),
    `created_at` bigint,
    `last_login_at` bigint DEFAULT 0,
    `auth_version` bigint NOT NULL DEFAULT 1,
    `external_user_id` varchar(64),
    PRIMARY KEY (`id`),
    UNIQUE INDEX `idx_users_username` (`username`),
    INDEX `idx_users_display_name` (`display_name`),
    INDEX `idx_users_email` (`email`),
    UNIQUE INDEX `idx_users_access_token` (`access_token`),
    UNIQUE INDEX `idx_users_aff_code` (`aff_code`),
    INDEX `idx_users_inviter_id` (`inviter_id`),
    INDEX `idx_users_deleted_at` (`deleted_at`),
    UNIQUE INDEX `idx_users_external_user_id` (`external_user_id`)
)",
];

/// The index names new-api creates on `logs` (for checks and documentation).
pub const LOG_INDEXES: &[&str] = &[
    "idx_created_at_id",
    "idx_logs_user_id",
    "idx_created_at_type",
    "idx_logs_username",
    "index_username_model_name",
    "idx_logs_token_name",
    "idx_logs_model_name",
    "idx_logs_channel_id",
    "idx_logs_token_id",
    "idx_logs_group",
    "idx_logs_ip",
];

/// The index names on `tokens`.
pub const TOKEN_INDEXES: &[&str] = &[
    "idx_tokens_user_id",
    "idx_tokens_key",
    "idx_tokens_name",
    "idx_tokens_deleted_at",
    "idx_tokens_external_user_id",
];

/// The index names on `users`.
pub const USER_INDEXES: &[&str] = &[
    "idx_users_username",
    "idx_users_aff_code",
    "idx_users_access_token",
    "idx_users_external_user_id",
];

/// `tokens` and `users` as a stock new-api from before 2025-12 created them: `key` is
/// `char(48)`; no `cross_group_retry`, `auto_groups`, `users.created_at`, `last_login_at`,
/// `auth_version`, nor the import API's `external_user_id`. For tests of code that must
/// work with old versions; run instead of [`ddl`] for those two tables.
pub fn ddl_before_2025_12(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Postgres => POSTGRES_BEFORE_2025_12,
        Backend::Mysql => MYSQL_BEFORE_2025_12,
    }
}

const POSTGRES_BEFORE_2025_12: &[&str] = &[
    r#"CREATE TABLE "tokens" (
    "id" bigserial,
    "user_id" bigint,
    "key" char(48),
    "status" bigint DEFAULT 1,
    "name" text,
    "created_time" bigint,
    "accessed_time" bigint,
    "expired_time" bigint DEFAULT -1,
    "remain_quota" bigint DEFAULT 0,
    "unlimited_quota" boolean,
    "model_limits_enabled" boolean,
    "model_limits" text,
    "allow_ips" text DEFAULT '',
    "used_quota" bigint DEFAULT 0,
    "group" text DEFAULT '',
    "deleted_at" timestamptz,
    PRIMARY KEY ("id")
)"#,
    r#"CREATE UNIQUE INDEX "idx_tokens_key" ON "tokens" ("key")"#,
    r#"CREATE INDEX "idx_tokens_user_id" ON "tokens" ("user_id")"#,
    r#"CREATE TABLE "users" (
    "id" bigserial,
    "username" text,
    "password" text NOT NULL,
    "display_name" text,
    "role" integer DEFAULT 1,
    "status" integer DEFAULT 1,
    "email" text,
    "access_token" char(32),
    "quota" integer DEFAULT 0,
    "used_quota" integer DEFAULT 0,
    "request_count" integer DEFAULT 0,
    "group" varchar(64) DEFAULT 'default',
    "aff_code" varchar(32),
    "inviter_id" integer,
    "deleted_at" timestamptz,
    "setting" text,
    PRIMARY KEY ("id")
)"#,
    r#"CREATE UNIQUE INDEX "idx_users_username" ON "users" ("username")"#,
    r#"CREATE UNIQUE INDEX "idx_users_aff_code" ON "users" ("aff_code")"#,
    r#"CREATE UNIQUE INDEX "idx_users_access_token" ON "users" ("access_token")"#,
];

const MYSQL_BEFORE_2025_12: &[&str] = &[
    "CREATE TABLE `tokens` (
    `id` bigint AUTO_INCREMENT,
    `user_id` bigint,
    `key` char(48),
    `status` bigint DEFAULT 1,
    `name` varchar(191),
    `created_time` bigint,
    `accessed_time` bigint,
    `expired_time` bigint DEFAULT -1,
    `remain_quota` bigint DEFAULT 0,
    `unlimited_quota` boolean,
    `model_limits_enabled` boolean,
    `model_limits` text,
    `allow_ips` varchar(191) DEFAULT '',
    `used_quota` bigint DEFAULT 0,
    `group` varchar(191) DEFAULT '',
    `deleted_at` datetime(3) NULL,
    PRIMARY KEY (`id`),
    UNIQUE INDEX `idx_tokens_key` (`key`),
    INDEX `idx_tokens_user_id` (`user_id`)
)",
    "CREATE TABLE `users` (
    `id` bigint AUTO_INCREMENT,
    `username` varchar(191),
    `password` longtext NOT NULL,
    `display_name` varchar(191),
    `role` int DEFAULT 1,
    `status` int DEFAULT 1,
    `email` varchar(191),
    `access_token` char(32),
    `quota` int DEFAULT 0,
    `used_quota` int DEFAULT 0,
    `request_count` int DEFAULT 0,
    `group` varchar(64) DEFAULT 'default',
    `aff_code` varchar(32),
    `inviter_id` int,
    `deleted_at` datetime(3) NULL,
    `setting` text,
    PRIMARY KEY (`id`),
    UNIQUE INDEX `idx_users_username` (`username`),
    UNIQUE INDEX `idx_users_aff_code` (`aff_code`),
    UNIQUE INDEX `idx_users_access_token` (`access_token`)
)",
];

/// `logs` as new-api creates it in ClickHouse (`LOG_SQL_DSN=clickhouse://…`; model/main.go
/// and model/log.go, docs/contracts.md#new-api-logs-in-clickhouse), without the optional TTL
/// clause (`LOG_SQL_CLICKHOUSE_TTL_DAYS`). `id` is always 0 there; rows are told apart by
/// `request_id`, which new-api fills when empty.
pub const CLICKHOUSE_LOGS: &str = "CREATE TABLE IF NOT EXISTS logs (\
id Int64 DEFAULT 0, user_id Int32 DEFAULT 0, created_at Int64 DEFAULT 0, \
type Int32 DEFAULT 0, content String DEFAULT '', username String DEFAULT '', \
token_name String DEFAULT '', model_name String DEFAULT '', quota Int32 DEFAULT 0, \
prompt_tokens Int32 DEFAULT 0, completion_tokens Int32 DEFAULT 0, use_time Int32 DEFAULT 0, \
is_stream UInt8 DEFAULT 0, channel_id Int32 DEFAULT 0, token_id Int32 DEFAULT 0, \
`group` String DEFAULT '', ip String DEFAULT '', request_id String DEFAULT '', \
upstream_request_id String DEFAULT '', other String DEFAULT ''\
) ENGINE = MergeTree() PARTITION BY toYYYYMM(toDateTime(created_at)) \
ORDER BY (created_at, request_id)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("mysql://root@h:3306/db").ok(),
            Some(Backend::Mysql)
        );
        assert!(Backend::from_url("sqlite://x.db").is_err());
        assert!(Backend::from_url("just text").is_err());
        let message = Backend::from_url("redis://user:secret@h")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn every_statement_is_idempotent_and_no_token_created_at_index() {
        for backend in [Backend::Postgres, Backend::Mysql] {
            let all = ddl(backend).join("\n");
            for stmt in ddl(backend) {
                assert!(stmt.contains("IF NOT EXISTS"), "{stmt}");
            }
            for name in LOG_INDEXES.iter().chain(TOKEN_INDEXES).chain(USER_INDEXES) {
                assert!(all.contains(name), "{backend:?} lacks {name}");
            }
            assert!(!all.contains("(`token_id`, `created_at`)"));
            assert!(!all.contains(r#"("token_id", "created_at")"#));
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(Backend::Postgres.quote("group"), "\"group\"");
        assert_eq!(Backend::Mysql.quote("group"), "`group`");
    }
}
