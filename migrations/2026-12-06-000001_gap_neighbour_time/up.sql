-- A gap (an id below the highest seen that was missing when read) now records the
-- created_at of the log just above it. new-api stamps created_at before it inserts, so once
-- new-api's newest log is more than the grace newer than that neighbour, the missing id can
-- no longer commit (no new-api write stays open that long): the gap is given up by new-api's
-- own clock, not ours. NULL for gaps recorded before this column existed.
ALTER TABLE usage_ingest_gaps ADD COLUMN neighbour_at bigint;
