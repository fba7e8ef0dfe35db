-- Tollgate / key-sync: tell key-sync about every new and every deleted Supabase user.
--
-- AFTER INSERT OR DELETE ON auth.users, queue a Database-Webhook-shaped POST to key-sync
-- with pg_net:
--
--   POST <vault: tollgate_key_sync_webhook_url>     (https://key-sync…/webhooks/supabase/users)
--   Content-Type: application/json
--   Authorization: Bearer <vault: tollgate_supabase_webhook_secret>   (= SUPABASE_WEBHOOK_SECRET)
--   {"type":"INSERT","table":"users","schema":"auth",
--    "record":{"id":…,"email":…,"created_at":…},"old_record":null}
--   or, for a deletion (key-sync revokes the user's keys and disables their new-api user):
--   {"type":"DELETE","table":"users","schema":"auth",
--    "record":null,"old_record":{"id":…,"email":…}}
--
-- The record is built from chosen columns, never from the whole row: auth.users holds the
-- password hash and confirmation/recovery tokens, which must not leave the database.
--
-- pg_net queues the request in the signup's (or deletion's) transaction and sends it after
-- COMMIT (never for one that rolls back), so key-sync only hears of what happened. pg_net
-- does not retry: if key-sync is unreachable the request is lost, and key-sync's
-- `POST /admin/reconcile` is the safety net (users without a key get one; users gone from
-- auth.users have their keys revoked and their new-api user disabled).
--
-- A signup or deletion must never fail because of this trigger: a missing secret, a missing
-- pg_net or Vault, or any error in here becomes a WARNING in the Postgres log and the
-- signup or deletion goes on.
--
-- Apply after 01_api_keys_rls.sql, as `postgres` (the function runs with its owner's
-- rights: it reads Vault and calls pg_net, which Supabase Auth's own role may not).
-- Safe to run again.

BEGIN;

DO $$
BEGIN
    IF pg_catalog.to_regclass('auth.users') IS NULL THEN
        RAISE EXCEPTION 'auth.users does not exist: this is not a Supabase database '
            '(for tests and the local stack apply deploy/supabase/test/supabase_stub.sql first)';
    END IF;
    -- The trigger would only warn on every signup without these: fail the install instead.
    IF pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') IS NULL THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pg_net') THEN
            CREATE EXTENSION IF NOT EXISTS pg_net;
        ELSE
            RAISE EXCEPTION 'net.http_post(url, body, params, headers, timeout_milliseconds) '
                'is missing: enable the pg_net extension (Database → Extensions)';
        END IF;
    END IF;
    IF pg_catalog.to_regclass('vault.decrypted_secrets') IS NULL THEN
        RAISE EXCEPTION 'vault.decrypted_secrets is missing: enable Supabase Vault '
            '(extension supabase_vault)';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION public.tollgate_notify_key_sync_of_signup()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_url    text;
    v_secret text;
    v_body   jsonb;
BEGIN
    BEGIN
        SELECT NULLIF(pg_catalog.btrim(s.decrypted_secret), '')
          INTO v_url
          FROM vault.decrypted_secrets AS s
         WHERE s.name = 'tollgate_key_sync_webhook_url'
         LIMIT 1;

        SELECT NULLIF(pg_catalog.btrim(s.decrypted_secret), '')
          INTO v_secret
          FROM vault.decrypted_secrets AS s
         WHERE s.name = 'tollgate_supabase_webhook_secret'
         LIMIT 1;

        IF v_url IS NULL OR v_secret IS NULL THEN
            RAISE WARNING 'tollgate: Vault secret(s) % not set; key-sync was not told about % of user % (run key-sync POST /admin/reconcile once set)',
                pg_catalog.concat_ws(', ',
                    CASE WHEN v_url IS NULL THEN 'tollgate_key_sync_webhook_url' END,
                    CASE WHEN v_secret IS NULL THEN 'tollgate_supabase_webhook_secret' END),
                pg_catalog.lower(TG_OP),
                CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
            RETURN NULL;
        END IF;

        IF TG_OP = 'DELETE' THEN
            v_body := pg_catalog.jsonb_build_object(
                'type', 'DELETE',
                'table', 'users',
                'schema', 'auth',
                'record', NULL,
                'old_record', pg_catalog.jsonb_build_object(
                    'id', OLD.id,
                    'email', OLD.email
                )
            );
        ELSE
            v_body := pg_catalog.jsonb_build_object(
                'type', 'INSERT',
                'table', 'users',
                'schema', 'auth',
                'record', pg_catalog.jsonb_build_object(
                    'id', NEW.id,
                    'email', NEW.email,
                    'created_at', NEW.created_at
                ),
                'old_record', NULL
            );
        END IF;

        PERFORM net.http_post(
            url := v_url,
            body := v_body,
            params := '{}'::jsonb,
            headers := pg_catalog.jsonb_build_object(
                'Content-Type', 'application/json',
                'Authorization', 'Bearer ' || v_secret
            ),
            timeout_milliseconds := 5000
        );
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'tollgate: could not queue the % webhook for user %: % (SQLSTATE %)',
            pg_catalog.lower(TG_OP), CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END,
            SQLERRM, SQLSTATE;
    END;
    RETURN NULL; -- AFTER trigger: the return value is ignored
END
$$;

COMMENT ON FUNCTION public.tollgate_notify_key_sync_of_signup() IS
    'Tollgate: AFTER INSERT OR DELETE ON auth.users, POST a Database Webhook to key-sync via pg_net '
    '(URL and bearer secret from Vault). Never blocks a signup. See deploy/supabase/.';

-- A trigger function cannot be called directly, but keep it off every client's list
-- (it lives in `public`, which PostgREST exposes). Triggers fire regardless of EXECUTE.
REVOKE ALL ON FUNCTION public.tollgate_notify_key_sync_of_signup() FROM PUBLIC;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format(
                'REVOKE ALL ON FUNCTION public.tollgate_notify_key_sync_of_signup() FROM %I', r);
        END IF;
    END LOOP;
END
$$;

-- CREATE OR REPLACE rather than DROP + CREATE: `postgres` does not own auth.users
-- (supabase_auth_admin does). Creating or replacing a trigger needs only the TRIGGER
-- privilege Supabase grants; DROP TRIGGER needs ownership, which Supabase only waives
-- where its supautils extension is configured for it.
CREATE OR REPLACE TRIGGER tollgate_notify_key_sync_of_signup
    AFTER INSERT OR DELETE ON auth.users
    FOR EACH ROW
    EXECUTE FUNCTION public.tollgate_notify_key_sync_of_signup();

-- Not fatal: the secrets may be created after this file. Say so once, at install time.
DO $$
DECLARE
    missing text;
BEGIN
    SELECT pg_catalog.string_agg(n, ', ')
      INTO missing
      FROM pg_catalog.unnest(ARRAY['tollgate_key_sync_webhook_url',
                                   'tollgate_supabase_webhook_secret']) AS n
     WHERE NOT EXISTS (SELECT 1 FROM vault.decrypted_secrets s
                        WHERE s.name = n
                          AND pg_catalog.btrim(s.decrypted_secret) <> '');
    IF missing IS NOT NULL THEN
        RAISE WARNING 'tollgate: Vault secret(s) % not set yet: signups are not forwarded to key-sync until they are (see deploy/supabase/README.md)',
            missing;
    END IF;
END
$$;

COMMIT;
