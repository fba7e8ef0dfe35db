-- The log index keeps each consume log's figures, so a range's raw edges are summed from
-- Tollgate (in the same query and snapshot as the rollups) and a CSV export never reads
-- new-api. Its primary key is the order everything reads it in (a token's logs by time), so
-- one index serves edges, pages and exports; that also halves the index writes of ingest.
--
-- Rows written before have no figures, so the log index and the rollups are rebuilt: ingest
-- starts again from log id 0 (at tens of thousands of logs per second). Versions only grow:
-- every token's is bumped here and again when its logs are re-ingested, so no answer cached
-- before is served after.
DROP TABLE usage_log_index;
CREATE TABLE usage_log_index (
    token_id          bigint NOT NULL,
    created_at        bigint NOT NULL,
    log_id            bigint NOT NULL,
    model_name        text   NOT NULL,
    quota             bigint NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    use_time          bigint NOT NULL,
    PRIMARY KEY (token_id, created_at, log_id)
);
TRUNCATE usage_quarter, usage_hour, usage_day;
DELETE FROM usage_ingest_gaps;
UPDATE usage_ingest_state SET max_seen_id = 0, updated_at = now();
UPDATE usage_token_version SET version = version + 1;
