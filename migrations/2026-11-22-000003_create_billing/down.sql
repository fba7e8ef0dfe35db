DROP TABLE webhook_events;
DROP TABLE credit_ledger;
DROP TABLE recharge_records;
DROP TABLE organization_balance_config;
