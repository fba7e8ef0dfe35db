//! `diesel::table!` definitions of new-api's tables.
//!
//! Every column except `id` is `Nullable`, because that is what GORM's AutoMigrate creates
//! (it adds `NOT NULL` only when a struct tag asks for it, and new-api's never do). Columns
//! added by later new-api versions are NULL on rows written before the upgrade. The
//! [`Token`](crate::Token), [`Log`](crate::Log) and [`User`](crate::User) structs read
//! NULL as Go's zero value, exactly like GORM does.
//!
//! Diesel quotes every identifier, so the reserved words `group`, `key` and `type` are safe
//! in queries built from these tables. In raw SQL, quote them yourself (`"group"` on
//! Postgres, `` `group` `` on MySQL).
//!
//! `deleted_at` is `timestamptz` on Postgres and `datetime(3)` on MySQL; it is declared as
//! [`Timestamp`](diesel::sql_types::Timestamp), which both backends read and write (UTC).

diesel::table! {
    /// new-api's API keys (`model/token.go`), plus the import API's `external_user_id`.
    tokens (id) {
        /// Auto-increment primary key.
        id -> BigInt,
        /// Owner (`users.id`). Indexed.
        user_id -> Nullable<BigInt>,
        /// The key without `sk-`, `varchar(128)`, unique.
        key -> Nullable<Text>,
        /// 1 enabled, 2 disabled, 3 expired, 4 exhausted. Default 1.
        status -> Nullable<BigInt>,
        /// Display name. Indexed.
        name -> Nullable<Text>,
        /// Unix seconds.
        created_time -> Nullable<BigInt>,
        /// Unix seconds of the last quota change.
        accessed_time -> Nullable<BigInt>,
        /// Unix seconds; -1 = never expires. Default -1.
        expired_time -> Nullable<BigInt>,
        /// Quota left (ignored when `unlimited_quota`). Default 0.
        remain_quota -> Nullable<BigInt>,
        /// No quota limit.
        unlimited_quota -> Nullable<Bool>,
        /// Restrict the key to `model_limits`.
        model_limits_enabled -> Nullable<Bool>,
        /// Comma-separated model names (`text`).
        model_limits -> Nullable<Text>,
        /// Allowed client IPs, newline-separated. Default ''.
        allow_ips -> Nullable<Text>,
        /// Quota consumed so far. Default 0.
        used_quota -> Nullable<BigInt>,
        /// Billing group (reserved word in SQL). Default ''.
        #[sql_name = "group"]
        group -> Nullable<Text>,
        /// Retry in other groups (auto group only).
        cross_group_retry -> Nullable<Bool>,
        /// Billing preference. Default 0.
        billing_type -> Nullable<BigInt>,
        /// Soft delete: set means deleted. Indexed.
        deleted_at -> Nullable<Timestamp>,
        /// The external (Tollgate/Supabase) user the import API created the key for. Indexed.
        external_user_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// new-api's request and billing log (`model/log.go`).
    logs (id) {
        /// Auto-increment primary key.
        id -> BigInt,
        /// `users.id`. Indexed.
        user_id -> Nullable<BigInt>,
        /// Unix **seconds**.
        created_at -> Nullable<BigInt>,
        /// 1 top-up, 2 consume, 3 manage, 4 system, 5 error, 6 refund (see [`crate::log_type`]).
        #[sql_name = "type"]
        type_ -> Nullable<BigInt>,
        /// Human-readable description.
        content -> Nullable<Text>,
        /// Indexed. Default ''.
        username -> Nullable<Text>,
        /// Indexed. Default ''.
        token_name -> Nullable<Text>,
        /// Indexed. Default ''.
        model_name -> Nullable<Text>,
        /// Quota charged. Default 0.
        quota -> Nullable<BigInt>,
        /// Default 0.
        prompt_tokens -> Nullable<BigInt>,
        /// Default 0.
        completion_tokens -> Nullable<BigInt>,
        /// Request duration in **seconds**. Default 0.
        use_time -> Nullable<BigInt>,
        /// Streamed answer.
        is_stream -> Nullable<Bool>,
        /// Upstream channel. Indexed.
        channel_id -> Nullable<BigInt>,
        /// `tokens.id`. Indexed (single column). Default 0.
        token_id -> Nullable<BigInt>,
        /// Billing group (reserved word in SQL). Indexed.
        #[sql_name = "group"]
        group -> Nullable<Text>,
        /// Client IP when IP logging is on. Indexed. Default ''.
        ip -> Nullable<Text>,
        /// new-api's request id, `varchar(64)`. Default ''.
        request_id -> Nullable<Text>,
        /// JSON object with pricing details.
        other -> Nullable<Text>,
    }
}

diesel::table! {
    /// new-api's accounts (`model/user.go`): the columns Tollgate and the simulator touch
    /// (real new-api has more: github_id, aff_count, setting, …, see [`crate::ddl`]), plus the
    /// import API's `external_user_id`. `created_at` exists since 2026-04; `external_user_id`
    /// only in a new-api patched with the import API.
    users (id) {
        /// Auto-increment primary key.
        id -> BigInt,
        /// Unique, at most 20 characters.
        username -> Nullable<Text>,
        /// bcrypt hash; `NOT NULL`. A value that is not a bcrypt hash allows no password login.
        password -> Nullable<Text>,
        /// At most 20 characters.
        display_name -> Nullable<Text>,
        /// 1 common, 10 admin, 100 root (`int`).
        role -> Nullable<Integer>,
        /// 1 enabled, 2 disabled. Default 1 (`int`).
        status -> Nullable<Integer>,
        /// No uniqueness in the database.
        email -> Nullable<Text>,
        /// Quota left, 32-bit `int`; relay requests are refused while it is ≤ 0.
        quota -> Nullable<Integer>,
        /// Billing group, `varchar(64)`, default 'default'.
        #[sql_name = "group"]
        group -> Nullable<Text>,
        /// `varchar(32)`, unique, no default: NULL unless new-api's API made the user.
        aff_code -> Nullable<Text>,
        /// Unix seconds (since 2026-04; GORM fills it, the database has no default).
        created_at -> Nullable<BigInt>,
        /// Soft delete: set means deleted.
        deleted_at -> Nullable<Timestamp>,
        /// The external user id given to the import API, `varchar(64)`, unique.
        external_user_id -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(tokens, logs, users);
diesel::joinable!(tokens -> users (user_id));
diesel::joinable!(logs -> tokens (token_id));
