DROP TABLE organization_audit;
ALTER TABLE organization_balance_config DROP COLUMN last_usage_at, DROP COLUMN last_usage_cents;
DROP TABLE organization_usage_readings;
DROP TABLE organization_members;
