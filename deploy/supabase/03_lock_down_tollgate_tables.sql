-- Tollgate's own tables, hidden from Supabase's API roles.
--
-- Supabase's default privileges grant ALL on every new table in `public` to `anon` and
-- `authenticated`, and PostgREST serves whatever they can read. Only `api_keys` is meant
-- for the portal (01_api_keys_rls.sql); every other Tollgate table is for the services
-- alone, which connect as the tables' owner. So: row level security on with no policy
-- (nothing visible even if a privilege comes back), and every privilege of the API roles
-- revoked. `service_role` is left alone: it is a server-side key and bypasses RLS anyway.
--
-- Idempotent; apply after every deploy that ran migrations. A table added by a migration
-- must be listed here or in 01 (a test fails until it is).

BEGIN;

DO $$
DECLARE
    t text;
    tables text[] := ARRAY[
        '__diesel_schema_migrations',
        -- key-sync (api_keys has its own policy in 01_api_keys_rls.sql)
        'gateway_users',
        -- usage-stats
        'usage_quarter', 'usage_hour', 'usage_day', 'usage_log_index', 'usage_token_version',
        'usage_ingest_state', 'usage_ingest_gaps',
        -- billing
        'organization_balance_config', 'recharge_records', 'credit_ledger', 'webhook_events',
        'billing_poller_runs', 'billing_alerts', 'organization_members',
        'organization_usage_readings', 'organization_audit'
    ];
BEGIN
    FOREACH t IN ARRAY tables LOOP
        IF to_regclass(format('public.%I', t)) IS NULL THEN
            CONTINUE;
        END IF;
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('REVOKE ALL ON TABLE public.%I FROM PUBLIC', t);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
            EXECUTE format('REVOKE ALL ON TABLE public.%I FROM anon', t);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
            EXECUTE format('REVOKE ALL ON TABLE public.%I FROM authenticated', t);
        END IF;
    END LOOP;
    -- Sequences of those tables (BIGSERIAL ids) too.
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'S'
          AND c.relname IN ('organization_balance_config_id_seq', 'credit_ledger_id_seq',
                            'webhook_events_id_seq', 'usage_log_index_id_seq',
                            'billing_poller_runs_id_seq', 'billing_alerts_id_seq',
                            'organization_usage_readings_id_seq', 'organization_audit_id_seq')
    LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
            EXECUTE format('REVOKE ALL ON SEQUENCE public.%I FROM anon', t);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
            EXECUTE format('REVOKE ALL ON SEQUENCE public.%I FROM authenticated', t);
        END IF;
    END LOOP;
END
$$;

COMMIT;
