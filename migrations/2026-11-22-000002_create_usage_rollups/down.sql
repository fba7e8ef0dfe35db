DROP TABLE IF EXISTS usage_ingest_gaps;
DROP TABLE IF EXISTS usage_ingest_state;
DROP TABLE IF EXISTS usage_log_index;
DROP TABLE IF EXISTS usage_day;
DROP TABLE IF EXISTS usage_hour;
DROP TABLE IF EXISTS usage_quarter;
