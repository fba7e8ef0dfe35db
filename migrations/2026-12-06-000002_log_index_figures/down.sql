-- Back to the narrow log index; rebuilt from log id 0 as on the way up.
DROP TABLE usage_log_index;
CREATE TABLE usage_log_index (
    token_id   bigint NOT NULL,
    log_id     bigint NOT NULL,
    created_at bigint NOT NULL,
    model_name text   NOT NULL,
    PRIMARY KEY (token_id, log_id)
);
CREATE INDEX usage_log_index_newest ON usage_log_index (token_id, created_at DESC, log_id DESC);
TRUNCATE usage_quarter, usage_hour, usage_day;
DELETE FROM usage_ingest_gaps;
UPDATE usage_ingest_state SET max_seen_id = 0, updated_at = now();
UPDATE usage_token_version SET version = version + 1;
