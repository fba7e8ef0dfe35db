-- Per token, a number that ingest bumps in the same transaction whenever it adds that token's
-- consume logs to the rollups and the log index. usage-stats keys cached answers by it: an
-- answer computed after reading version v stays exact for as long as the version is v.
-- A token without a row is at version 0. Owned and written by usage-stats.
CREATE TABLE usage_token_version (
    token_id bigint PRIMARY KEY,
    version  bigint NOT NULL
);
