-- billing (owner: billing). Money is integer cents; the API speaks dollars.

CREATE TABLE organization_balance_config (
    id BIGSERIAL PRIMARY KEY,
    c_organization_id TEXT NOT NULL UNIQUE
        CHECK (c_organization_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    stripe_customer_id TEXT UNIQUE,
    litellm_team_id TEXT UNIQUE,
    minimum_balance_cents BIGINT NOT NULL DEFAULT 10000 CHECK (minimum_balance_cents >= 0),
    target_balance_cents BIGINT NOT NULL DEFAULT 100000 CHECK (target_balance_cents >= 0),
    auto_recharge_enabled BOOLEAN NOT NULL DEFAULT true,
    -- Why auto-recharge was switched off by billing itself (three failed payments in a row).
    auto_recharge_disabled_reason TEXT,
    default_payment_method_id TEXT,
    payment_method_brand TEXT,
    payment_method_last4 TEXT,
    max_daily_recharges INTEGER NOT NULL DEFAULT 5 CHECK (max_daily_recharges >= 0),
    minimum_recharge_amount_cents BIGINT NOT NULL DEFAULT 10000
        CHECK (minimum_recharge_amount_cents >= 0),
    consecutive_payment_failures INTEGER NOT NULL DEFAULT 0,
    -- The quota last confirmed by the KMS (cents) and when.
    kms_quota_cents BIGINT,
    kms_synced_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (minimum_balance_cents <= target_balance_cents)
);

CREATE TABLE recharge_records (
    id UUID PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organization_balance_config (id),
    c_organization_id TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    fee_cents BIGINT NOT NULL CHECK (fee_cents >= 0),
    total_charge_cents BIGINT NOT NULL CHECK (total_charge_cents = amount_cents + fee_cents),
    currency TEXT NOT NULL DEFAULT 'usd',
    -- pending: recorded, charge not known to have happened; charged: money taken, quota not
    -- yet delivered; succeeded: delivered; refunded: charged, delivery failed, money returned.
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'charged', 'succeeded', 'payment_failed', 'requires_action', 'refunded',
        'canceled')),
    triggered_by TEXT NOT NULL CHECK (triggered_by IN ('webhook', 'manual')),
    triggered_by_webhook BOOLEAN NOT NULL DEFAULT false,
    webhook_event_id TEXT,
    -- The caller's Idempotency-Key for manual recharges (unique per organisation).
    request_key TEXT,
    -- Sent to Stripe with the charge; derived from the record id.
    idempotency_key TEXT NOT NULL UNIQUE,
    payment_method_id TEXT,
    payment_intent_id TEXT UNIQUE,
    failure_code TEXT,
    failure_message TEXT,
    refund_id TEXT,
    kms_attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,
    UNIQUE (organization_id, request_key)
);
CREATE INDEX recharge_records_org_created ON recharge_records (organization_id, created_at DESC);
CREATE INDEX recharge_records_unfinished ON recharge_records (status)
    WHERE status IN ('pending', 'charged');

-- One row per delivered recharge: the credited total is the sum, and the KMS quota is set
-- to it.
CREATE TABLE credit_ledger (
    id BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organization_balance_config (id),
    recharge_id UUID NOT NULL UNIQUE REFERENCES recharge_records (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_org ON credit_ledger (organization_id);

-- Every signed webhook that passed its signature check, and the first answer given to it.
CREATE TABLE webhook_events (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('litellm', 'stripe')),
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    team_id TEXT,
    organization_id BIGINT REFERENCES organization_balance_config (id),
    body_sha256 TEXT NOT NULL,
    payload JSONB NOT NULL,
    status TEXT NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'answered')),
    action TEXT,
    http_status INTEGER,
    response JSONB,
    recharge_id UUID REFERENCES recharge_records (id),
    -- A processing event whose claim expired (its process died) may be taken over.
    claimed_until TIMESTAMPTZ NOT NULL DEFAULT now() + interval '30 seconds',
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    answered_at TIMESTAMPTZ,
    UNIQUE (source, event_id)
);
CREATE INDEX webhook_events_org_received ON webhook_events (organization_id, received_at DESC);
