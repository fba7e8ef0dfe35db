-- A delivery that gave up after a timeout cannot know whether its last quota write reached
-- the KMS (or LiteLLM) or is still on its way; the recharge is refunded, so the backend may
-- hold quota nobody paid for. From this instant on, reconcile sets the quota to the
-- credited total again (docs/billing-design.md).
ALTER TABLE organization_balance_config ADD COLUMN kms_reassert_after TIMESTAMPTZ;
CREATE INDEX organization_balance_config_kms_reassert
    ON organization_balance_config (kms_reassert_after)
    WHERE kms_reassert_after IS NOT NULL;
