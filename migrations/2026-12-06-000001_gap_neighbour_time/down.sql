ALTER TABLE usage_ingest_gaps DROP COLUMN neighbour_at;
