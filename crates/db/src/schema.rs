//! Diesel table definitions for Tollgate's own tables (one migration set in `migrations/`).
//! Each table has one owning service that writes it.

diesel::table! {
    /// key-sync's key pool (owner: key-sync).
    api_keys (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        is_default -> Bool,
        key_ciphertext -> Bytea,
        key_hash -> Bytea,
        key_hint -> Text,
        status -> Int2,
        newapi_synced -> Bool,
        newapi_token_id -> Nullable<Int8>,
        sync_error -> Nullable<Text>,
        sync_attempts -> Int4,
        next_sync_at -> Nullable<Timestamptz>,
        sync_claimed_until -> Nullable<Timestamptz>,
        last_sync_at -> Nullable<Timestamptz>,
        synced_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        sync_version -> Int4,
        revoked_at -> Nullable<Timestamptz>,
        replaced_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    /// Supabase users as the gateway knows them; outlives the user (owner: key-sync).
    gateway_users (user_id) {
        user_id -> Uuid,
        newapi_user_id -> Nullable<Int8>,
        newapi_username -> Nullable<Text>,
        email -> Nullable<Text>,
        deleted_at -> Nullable<Timestamptz>,
        disabled -> Bool,
        disable_error -> Nullable<Text>,
        disable_attempts -> Int4,
        next_disable_at -> Nullable<Timestamptz>,
        disable_claimed_until -> Nullable<Timestamptz>,
        disabled_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Prepaid organisations and their recharge settings, in cents (owner: billing).
    organization_balance_config (id) {
        id -> Int8,
        c_organization_id -> Text,
        stripe_customer_id -> Nullable<Text>,
        litellm_team_id -> Nullable<Text>,
        minimum_balance_cents -> Int8,
        target_balance_cents -> Int8,
        auto_recharge_enabled -> Bool,
        auto_recharge_disabled_reason -> Nullable<Text>,
        default_payment_method_id -> Nullable<Text>,
        payment_method_brand -> Nullable<Text>,
        payment_method_last4 -> Nullable<Text>,
        max_daily_recharges -> Int4,
        minimum_recharge_amount_cents -> Int8,
        consecutive_payment_failures -> Int4,
        kms_quota_cents -> Nullable<Int8>,
        kms_synced_at -> Nullable<Timestamptz>,
        kms_reassert_after -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        max_monthly_recharge_cents -> Nullable<Int8>,
        auto_recharge_paused_reason -> Nullable<Text>,
        last_usage_cents -> Nullable<Int8>,
        last_usage_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// One row per recharge attempt, created before any charge (owner: billing).
    recharge_records (id) {
        id -> Uuid,
        organization_id -> Int8,
        c_organization_id -> Text,
        amount_cents -> Int8,
        fee_cents -> Int8,
        total_charge_cents -> Int8,
        currency -> Text,
        status -> Text,
        triggered_by -> Text,
        triggered_by_webhook -> Bool,
        webhook_event_id -> Nullable<Text>,
        request_key -> Nullable<Text>,
        idempotency_key -> Text,
        payment_method_id -> Nullable<Text>,
        payment_intent_id -> Nullable<Text>,
        failure_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        refund_id -> Nullable<Text>,
        kms_attempts -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        next_action -> Nullable<Jsonb>,
        action_expires_at -> Nullable<Timestamptz>,
        refunded_cents -> Int8,
        disputed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Delivered credit, one row per succeeded recharge (owner: billing).
    credit_ledger (id) {
        id -> Int8,
        organization_id -> Int8,
        recharge_id -> Uuid,
        amount_cents -> Int8,
        created_at -> Timestamptz,
        entry -> Text,
    }
}

diesel::table! {
    /// Signed webhooks received and their first answers (owner: billing).
    webhook_events (id) {
        id -> Int8,
        source -> Text,
        event_id -> Text,
        event_type -> Text,
        team_id -> Nullable<Text>,
        organization_id -> Nullable<Int8>,
        body_sha256 -> Text,
        payload -> Jsonb,
        status -> Text,
        action -> Nullable<Text>,
        http_status -> Nullable<Int4>,
        response -> Nullable<Jsonb>,
        recharge_id -> Nullable<Uuid>,
        claimed_until -> Timestamptz,
        received_at -> Timestamptz,
        answered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// One row per pass of billing's safety-net poller (owner: billing).
    billing_poller_runs (id) {
        id -> Int8,
        started_at -> Timestamptz,
        finished_at -> Timestamptz,
        organizations -> Int4,
        usage_read -> Int4,
        recharges -> Int4,
        unreachable -> Int4,
        failed -> Int4,
    }
}

diesel::table! {
    /// Operator alerts waiting to be sent, and sent (owner: billing).
    billing_alerts (id) {
        id -> Int8,
        event -> Text,
        dedupe_key -> Text,
        organization_id -> Nullable<Int8>,
        payload -> Jsonb,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Who may see or steer an organisation (owner: billing).
    organization_members (organization_id, user_id) {
        organization_id -> Int8,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Cumulative usage readings from the quota backend (owner: billing).
    organization_usage_readings (id) {
        id -> Int8,
        organization_id -> Int8,
        usage_cents -> Int8,
        source -> Text,
        read_at -> Timestamptz,
    }
}

diesel::table! {
    /// Changes people made to organisations (owner: billing).
    organization_audit (id) {
        id -> Int8,
        organization_id -> Int8,
        actor -> Text,
        action -> Text,
        changes -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(organization_members -> organization_balance_config (organization_id));
diesel::joinable!(organization_usage_readings -> organization_balance_config (organization_id));
diesel::joinable!(organization_audit -> organization_balance_config (organization_id));
diesel::joinable!(billing_alerts -> organization_balance_config (organization_id));
diesel::joinable!(recharge_records -> organization_balance_config (organization_id));
diesel::joinable!(credit_ledger -> organization_balance_config (organization_id));
diesel::allow_tables_to_appear_in_same_query!(
    organization_balance_config,
    recharge_records,
    credit_ledger,
    webhook_events,
    billing_poller_runs,
    billing_alerts,
    organization_members,
    organization_usage_readings,
    organization_audit,
);
