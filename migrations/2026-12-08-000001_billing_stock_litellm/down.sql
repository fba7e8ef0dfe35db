DROP TABLE billing_alerts;
DROP TABLE billing_poller_runs;
ALTER TABLE webhook_events
    DROP CONSTRAINT webhook_events_source_check,
    ADD CONSTRAINT webhook_events_source_check CHECK (source IN ('litellm', 'stripe'));
DELETE FROM credit_ledger WHERE entry = 'refund';
ALTER TABLE credit_ledger
    DROP CONSTRAINT credit_ledger_amount_sign,
    DROP CONSTRAINT credit_ledger_recharge_entry,
    DROP COLUMN entry,
    ADD CONSTRAINT credit_ledger_recharge_id_key UNIQUE (recharge_id),
    ADD CONSTRAINT credit_ledger_amount_cents_check CHECK (amount_cents > 0);
DROP INDEX recharge_records_awaiting_action;
DROP INDEX recharge_records_org_month;
UPDATE recharge_records SET triggered_by = 'webhook' WHERE triggered_by IN ('litellm_alert', 'poller');
ALTER TABLE recharge_records
    DROP COLUMN disputed_at,
    DROP COLUMN refunded_cents,
    DROP COLUMN action_expires_at,
    DROP COLUMN next_action,
    DROP CONSTRAINT recharge_records_triggered_by_check,
    ADD CONSTRAINT recharge_records_triggered_by_check CHECK (triggered_by IN ('webhook', 'manual'));
ALTER TABLE organization_balance_config
    DROP COLUMN auto_recharge_paused_reason,
    DROP COLUMN max_monthly_recharge_cents;
