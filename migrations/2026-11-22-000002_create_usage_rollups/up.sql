-- usage-stats' rollups of new-api's consume logs (type 2). Owned and written by usage-stats.
-- Three levels so any range is summed from few rows: 15-minute buckets (900 s divides every
-- real UTC offset), hours and UTC days; each keyed by token, bucket start (unix seconds) and
-- model.
CREATE TABLE usage_quarter (
    token_id          bigint NOT NULL,
    bucket            bigint NOT NULL,
    model_name        text   NOT NULL,
    requests          bigint NOT NULL,
    quota             bigint NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    use_time          bigint NOT NULL,
    PRIMARY KEY (token_id, bucket, model_name)
);
CREATE TABLE usage_hour (LIKE usage_quarter INCLUDING ALL);
CREATE TABLE usage_day (LIKE usage_quarter INCLUDING ALL);

-- One narrow row per consume log, for paging a key's logs newest first; full rows are then
-- fetched from new-api by primary key.
CREATE TABLE usage_log_index (
    token_id   bigint NOT NULL,
    log_id     bigint NOT NULL,
    created_at bigint NOT NULL,
    model_name text   NOT NULL,
    PRIMARY KEY (token_id, log_id)
);
CREATE INDEX usage_log_index_newest ON usage_log_index (token_id, created_at DESC, log_id DESC);

-- Ingest progress: every log id <= max_seen_id is ingested, except the ids in
-- usage_ingest_gaps (not committed yet when read, or rolled back). One row per source.
CREATE TABLE usage_ingest_state (
    source      text PRIMARY KEY,
    max_seen_id bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE usage_ingest_gaps (
    source     text   NOT NULL REFERENCES usage_ingest_state (source) ON DELETE CASCADE,
    log_id     bigint NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, log_id)
);
