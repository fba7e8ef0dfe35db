-- Runs once, on the first start of the compose Postgres (empty data volume), as the
-- superuser `tollgate`, which the image has already given its own database `tollgate`.
-- LOCAL USE ONLY: the passwords below are demo values.
--
--   tollgate   superuser, owns database `tollgate` (Tollgate's migrations and tables) and
--              `tollgate_litellm` (the second billing, on the LiteLLM simulator)
--   newapi     owns database `newapi`; newapi-sim connects as it and creates new-api's tables
--   newapi_ro  read-only on `newapi`; usage-stats connects as it (Tollgate never writes
--              new-api's tables, and this makes the stack enforce it)

CREATE DATABASE tollgate_litellm OWNER tollgate;
CREATE ROLE newapi LOGIN PASSWORD 'newapi';
CREATE ROLE newapi_ro LOGIN PASSWORD 'newapi_ro';
CREATE DATABASE newapi OWNER newapi;

\connect newapi

-- Postgres 15+: schema public belongs to pg_database_owner (= newapi) and only the owner
-- may create in it. newapi_ro may read whatever newapi creates, now or later.
REVOKE ALL ON DATABASE newapi FROM PUBLIC;
GRANT CONNECT ON DATABASE newapi TO newapi_ro;
GRANT USAGE ON SCHEMA public TO newapi_ro;
ALTER DEFAULT PRIVILEGES FOR ROLE newapi IN SCHEMA public GRANT SELECT ON TABLES TO newapi_ro;
ALTER DEFAULT PRIVILEGES FOR ROLE newapi IN SCHEMA public GRANT SELECT ON SEQUENCES TO newapi_ro;
ALTER ROLE newapi_ro SET default_transaction_read_only = on;
