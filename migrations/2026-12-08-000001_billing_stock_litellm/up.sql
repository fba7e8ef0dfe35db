-- billing on a stock LiteLLM proxy (issue 12): more triggers of automatic recharges, a
-- monthly cap, a pause for disputes, 3DS the holder completes, refunds made in Stripe's
-- dashboard, the safety-net poller's runs and the operator alert outbox.

ALTER TABLE organization_balance_config
    -- Automatic recharges in one UTC month may credit at most this (null: no cap).
    ADD COLUMN max_monthly_recharge_cents BIGINT CHECK (max_monthly_recharge_cents >= 0),
    -- Set by a dispute: no automatic recharge until an admin switches auto-recharge on again.
    ADD COLUMN auto_recharge_paused_reason TEXT;

ALTER TABLE recharge_records
    DROP CONSTRAINT recharge_records_triggered_by_check,
    ADD CONSTRAINT recharge_records_triggered_by_check
        CHECK (triggered_by IN ('webhook', 'manual', 'litellm_alert', 'poller')),
    -- What the card holder must do for a requires_action recharge (Stripe's next_action).
    ADD COLUMN next_action JSONB,
    -- A requires_action recharge not completed by then is canceled.
    ADD COLUMN action_expires_at TIMESTAMPTZ,
    -- Refunded outside Tollgate (Stripe's dashboard), cumulative, of total_charge_cents.
    ADD COLUMN refunded_cents BIGINT NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0),
    ADD COLUMN disputed_at TIMESTAMPTZ;
CREATE INDEX recharge_records_org_month ON recharge_records (organization_id, created_at)
    WHERE triggered_by <> 'manual';
CREATE INDEX recharge_records_awaiting_action ON recharge_records (action_expires_at)
    WHERE status = 'requires_action';

-- The ledger also takes back credit refunded outside Tollgate: one negative `refund` row
-- per recharge, holding its cumulative refunded credit.
ALTER TABLE credit_ledger
    ADD COLUMN entry TEXT NOT NULL DEFAULT 'credit' CHECK (entry IN ('credit', 'refund')),
    DROP CONSTRAINT credit_ledger_recharge_id_key,
    DROP CONSTRAINT credit_ledger_amount_cents_check,
    ADD CONSTRAINT credit_ledger_recharge_entry UNIQUE (recharge_id, entry),
    ADD CONSTRAINT credit_ledger_amount_sign
        CHECK ((entry = 'credit' AND amount_cents > 0) OR (entry = 'refund' AND amount_cents < 0));

ALTER TABLE webhook_events
    DROP CONSTRAINT webhook_events_source_check,
    ADD CONSTRAINT webhook_events_source_check
        CHECK (source IN ('litellm', 'litellm_alert', 'stripe'));

-- One row per pass of the safety-net poller (the newest are kept).
CREATE TABLE billing_poller_runs (
    id BIGSERIAL PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    -- Organisations with auto-recharge on that were looked at.
    organizations INTEGER NOT NULL,
    -- Usage read from the quota backend.
    usage_read INTEGER NOT NULL,
    -- Automatic recharges started.
    recharges INTEGER NOT NULL,
    -- Skipped: the backend did not answer or gave no usage.
    unreachable INTEGER NOT NULL,
    -- Failed for another reason (database).
    failed INTEGER NOT NULL
);

-- Operator alerts (ALERT_WEBHOOK_URL), written in the transaction of what they report and
-- sent in the background: each dedupe_key once.
CREATE TABLE billing_alerts (
    id BIGSERIAL PRIMARY KEY,
    event TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    organization_id BIGINT REFERENCES organization_balance_config (id),
    payload JSONB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX billing_alerts_due ON billing_alerts (next_attempt_at) WHERE sent_at IS NULL;
